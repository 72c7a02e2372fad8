//! Issue 22 items 4 and 12: what depends on the target is read again after a retarget (the
//! files a pull request touches are the difference between its head and its target), and a
//! pull request's commit authors are read past the 250 commits GitHub lists for it.

mod common;

use changegate::rules::Rules;
use common::github_setup::{H1, Setup, setup};
use std::sync::Arc;

const DESCRIBED: &str = "## Justification\nCustomers asked.\n## Risk assessment\nLow.\n\
                         ## Rollback plan\nRevert.\n## Testing\nUnit tests.\n\
                         ## Security considerations\nNone.\n";

/// #7 by alice under OPS-01 (security review for `**/auth/**`), described.
async fn ops01() -> Setup {
    let s = setup().await;
    for (team, who) in [
        ("engineers", "erin"),
        ("engineers", "alice"),
        ("security", "sam"),
    ] {
        s.gh.member(team, who);
    }
    s.gh.set_body(7, DESCRIBED);
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ops-01.yaml"))
            .unwrap();
    let rules: Rules = changegate::rules::parse("ops-01.yaml", &text).expect("valid");
    *s.app.worker.rules.write().unwrap() = Arc::new(rules);
    s
}

#[tokio::test]
async fn a_retarget_reads_the_files_again_and_the_security_review_follows() {
    let s = ops01().await;
    // Against `scratch`, which already has the authentication changes, only the README differs.
    {
        let mut st = s.gh.state.lock().unwrap();
        st.changes[0].base = "scratch".into();
    }
    s.gh.set_files(7, &["README.md"]);
    s.apply_label("alice", "Risk::Low").await;
    s.approve("erin").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    // Retargeted to `main`: the same head now brings `src/auth/` with it.
    s.gh.retarget(7, "main", "alice");
    s.gh.set_files(7, &["README.md", "src/auth/session.rs"]);
    s.deliver("edited", None, "alice", "retarget").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert!(description.contains("Security review"), "{description}");
    let calls = s.gh.calls();
    let reads = calls
        .iter()
        .filter(|c| c.starts_with("GET /repos/acme/platypus/pulls/7/files"))
        .count();
    assert_eq!(reads, 2, "once per head and target: {calls:#?}");
}

#[tokio::test]
async fn an_author_of_the_280th_commit_of_300_cannot_approve() {
    let s = setup().await;
    {
        let mut st = s.gh.state.lock().unwrap();
        let commits = &mut st.changes[0].commits;
        commits.clear();
        for i in 1..=300 {
            let who = if i == 280 { "pam" } else { "alice" };
            commits.push((who.to_string(), who.to_string()));
        }
    }
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s.apply_label("pam", "Peer Approval::Approved").await;
    assert_eq!(s.status_of(H1).0, "failure");
    let c = s.comment();
    assert!(
        c.contains("@pam applied `Peer Approval::Approved` but authored commits of this change"),
        "{c}"
    );
    let calls = s.gh.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("GET /repos/acme/platypus/compare/")),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn commits_that_cannot_all_be_read_block_as_too_long_to_verify() {
    let s = setup().await;
    {
        let mut st = s.gh.state.lock().unwrap();
        st.changes[0].commits = vec![("alice".to_string(), "alice".to_string()); 300];
    }
    // The comparison is not available (GitHub answers 404 for a base it cannot compare).
    for _ in 0..3 {
        s.gh.fail_next(
            "GET /repos/acme/platypus/compare/",
            wiremock::ResponseTemplate::new(404)
                .set_body_json(serde_json::json!({ "message": "Not Found" })),
        );
    }
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s.apply_label("pam", "Peer Approval::Approved").await;
    assert_eq!(s.status_of(H1).0, "failure");
    assert!(
        s.comment()
            .contains("changegate could not read all of the commit list"),
        "{}",
        s.comment()
    );
}
