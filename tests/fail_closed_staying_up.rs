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

async fn readyz(s: &Setup) -> (u16, serde_json::Value) {
    let req = axum::http::Request::get("/readyz")
        .body(axum::body::Body::empty())
        .unwrap();
    let (code, body) = s.app.send(req).await;
    (code.as_u16(), body)
}

/// Waits (a few seconds at most) until nothing is left to run.
async fn until_idle(s: &Setup) {
    for _ in 0..200 {
        if s.app.store.pending().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the queue was not drained: the worker loop is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_panics_fails_alone_and_its_loop_goes_on_while_readiness_sees_dead_loops() {
    let s = setup().await;
    s.gh.open_pr(8, "alice", H2);
    s.app.expect_failed_jobs(1);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // One loop: if the panic killed it, nothing else would run.
    let loops = tokio::spawn(s.app.worker.clone().run(1, s.app.wake.clone(), stop_rx));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(readyz(&s).await.0, 200);

    changegate::worker::panic_on_delivery_for_tests("boom-7");
    let (code, _) = s
        .app
        .github(
            "pull_request",
            "boom-7",
            &pr_payload(&s, "opened", None, "alice"),
        )
        .await;
    assert_eq!(code.as_u16(), 202);
    until_idle(&s).await;
    let (state, description) = s.gh.status(H1).expect("a status on the panicking change");
    assert_eq!(state, "error");
    assert!(
        description.contains("could not verify") && description.contains("panicked"),
        "{description}"
    );
    let jobs = s.app.store.unfinished_jobs().await.unwrap();
    let boom: Vec<_> = jobs
        .iter()
        .filter(|j| j.delivery_id.as_deref() == Some("boom-7"))
        .collect();
    assert_eq!(boom.len(), 1, "{jobs:?}");
    assert_eq!(boom[0].state, "failed", "no retry of a panic: {jobs:?}");

    // The same loop processes the next change.
    let body = serde_json::to_vec(&pr_event(&s, 8, "opened", None, "alice")).unwrap();
    let (code, _) = s.app.github("pull_request", "after-8", &body).await;
    assert_eq!(code.as_u16(), 202);
    until_idle(&s).await;
    assert_eq!(
        s.gh.status(H2).map(|(state, _)| state),
        Some("failure".to_string()),
        "the change after the panic was evaluated"
    );
    assert_eq!(readyz(&s).await.0, 200, "the loop is alive");

    // Loops gone (here: stopped; a panic outside a job or an abort likewise): not ready.
    stop_tx.send(true).unwrap();
    loops.await.unwrap();
    let (code, body) = readyz(&s).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["workers_lost"], 1, "{body}");
}
