//! Repository rules loosen nothing (issue 22, item 10): a `.changegate.yaml` may not add a
//! label the organization's rules read in a condition, end to end on the fake GitHub.

mod common;

use common::github_setup::*;
use std::sync::{Arc, RwLock};

/// OPS-01 as the organization's rules, allowing repositories a file of their own.
fn ops01_allowing_repositories() -> changegate::rules::SharedRules {
    let text = format!(
        "{}\nrepository_rules:\n  path: .changegate.yaml\n",
        include_str!("../examples/ops-01.yaml")
    );
    let rules = changegate::rules::parse("rules.yaml", &text).expect("valid rules");
    Arc::new(RwLock::new(Arc::new(rules)))
}

const DESCRIBED: &str = "## Justification\nNeeded.\n\n## Risk assessment\nMedium.\n\n## Rollback plan\nRevert.\n\n## Testing\nUnit tests.\n\n## Security considerations\nNone.\n";

#[tokio::test]
async fn a_repository_file_cannot_add_a_label_central_conditions_read() {
    let mut s = setup().await;
    s.app.worker.rules = ops01_allowing_repositories();
    s.gh.member("engineers", "peter");
    s.gh.set_body(7, DESCRIBED);
    // OPS-01 asks one reviewer of a medium-risk change unless it carries `EMERGENCY`
    // (`not_labels`): a repository rule adding it to every change would drop that approval.
    s.gh.state.lock().unwrap().files.push((
        ".changegate.yaml".into(),
        "version: 1\nrules:\n  - name: always-urgent\n    add_labels: [\"EMERGENCY\"]\n".into(),
    ));
    s.apply_label("alice", "Risk::Medium").await;
    assert!(
        !s.gh.labels(7).contains(&"EMERGENCY".to_string()),
        "{:?}",
        s.gh.labels(7)
    );
    assert_eq!(
        s.status_of(H1),
        ("failure".into(), "Missing: Reviewer approval".into())
    );
    let c = s.comment();
    assert!(
        c.contains(".changegate.yaml:4:18: repository rules cannot add `EMERGENCY`: the organization's rules read that label in a condition"),
        "{c}"
    );
    assert!(c.contains("only the organization's rules apply"), "{c}");
    // The central rules stay in force: a reviewer's approval passes the change.
    s.apply_label("peter", "Review::Approved").await;
    assert_eq!(s.status_of(H1).0, "success");
}
