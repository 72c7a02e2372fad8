//! Staying up (issue "Fail closed, round 2", item 14): a duration no evaluation can add to a
//! time is refused where the rules are read, a job that panics fails alone (its change gets an
//! error status, its worker loop goes on), and readiness fails when worker loops are gone.

mod common;

use common::github_setup::*;
use common::rules_allowing_repositories;
use std::process::Command;

/// An emergency rule owing a peer's approval within `within` of merge.
fn rules_with_within(within: &str) -> String {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"))
        .expect("shipped rules");
    shipped.replace("      within: 24h\n", &format!("      within: {within}\n"))
}

#[test]
fn check_refuses_a_duration_longer_than_ten_years_at_its_line_and_column() {
    let text = rules_with_within("14000000w");
    let line = text
        .lines()
        .position(|l| l == "      within: 14000000w")
        .expect("the shipped rules have an emergency deadline")
        + 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .expect("binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "{}:{line}:15: `14000000w` is longer than 3650d (ten years), the longest duration the rules accept",
            path.display()
        )),
        "{err}"
    );
    // Ten years is still a duration.
    std::fs::write(&path, rules_with_within("3650d")).unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .expect("binary runs");
    assert_eq!(ok.status.code(), Some(0));
}

#[tokio::test]
async fn a_repository_file_with_an_endless_deadline_is_refused_and_the_central_rules_apply() {
    let mut s = setup().await;
    s.app.worker.rules = rules_allowing_repositories();
    s.gh.state.lock().unwrap().files.push((
        ".changegate.yaml".into(),
        "version: 1\nrules:\n  - name: forever\n    when: {labels: [\"CMT::Emergency\"]}\n    after_merge:\n      require: [peer]\n      within: 14000000w\n".into(),
    ));
    // Merged as an emergency: the deadline is computed on every evaluation.
    s.gh.add_label(7, "CMT::Emergency", "alice");
    s.gh.merge(7, "2026-11-02T09:00:00Z");
    s.deliver("closed", None, "alice", "merged").await;
    let comment =
        s.gh.comments(7)
            .into_iter()
            .find(|c| c.contains("changegate:sticky-comment"))
            .expect("the sticky comment");
    assert!(
        comment.contains(".changegate.yaml:7:15: `14000000w` is longer than 3650d (ten years)"),
        "{comment}"
    );
    // The organization's emergency rule is in force: 24 h, owed approvals asked for.
    assert!(comment.contains("within 24 h of merge"), "{comment}");
    assert!(
        s.gh.labels(7)
            .contains(&"Peer Approval::Needs Approval".to_string()),
        "{:?}",
        s.gh.labels(7)
    );
}
