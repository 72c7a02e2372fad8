//! One change churning must not spend the forge's quota (issue "Fail closed, round 2", item
//! 15): past `worker.max_units_per_change_hour` its jobs wait with a pending status, and run
//! once the hour has passed; other changes go on meanwhile.

mod common;

use changegate::clock::Clock;
use common::github_setup::*;

fn status_posts(s: &Setup, sha: &str) -> usize {
    let post = format!("POST /repos/acme/platypus/statuses/{sha}");
    s.gh.writes().iter().filter(|w| **w == post).count()
}

#[tokio::test]
async fn a_change_over_its_hourly_budget_waits_with_a_pending_status_while_others_go_on() {
    let clock = Clock::manual(t("2026-11-02T10:00:00Z"));
    let mut s = setup_with(clock.clone()).await;
    // Every evaluation reads the forge: one run is this change's whole hour.
    s.app.worker.max_units_per_change_hour = 1;
    s.apply_label("alice", "CMT::Minor").await;
    assert_eq!(s.status_of(H1).0, "failure");

    // The manager approves: the change has spent its share, so its job waits.
    s.app.expect_failed_jobs(1);
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "over-1",
    )
    .await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "pending");
    assert!(
        description.starts_with("waiting for API quota"),
        "{description}"
    );
    let waiting: Vec<_> = s
        .app
        .store
        .unfinished_jobs()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.delivery_id.as_deref() == Some("over-1"))
        .collect();
    assert_eq!(waiting.len(), 1, "the job is kept, not dropped");
    assert_eq!(waiting[0].state, "queued");
    assert_eq!(
        waiting[0].last_error.as_deref(),
        Some("waiting for API quota")
    );

    // More churn on the same change: it waits too, and the pending status is not written again.
    let posts = status_posts(&s, H1);
    s.app.expect_failed_jobs(2);
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "over-2",
    )
    .await;
    assert_eq!(status_posts(&s, H1), posts);
    assert_eq!(s.status_of(H1).0, "pending");

    // Another change is evaluated meanwhile.
    s.gh.open_pr(8, "alice", H2);
    let body = serde_json::to_vec(&pr_event(&s, 8, "opened", None, "alice")).unwrap();
    let (code, _) = s.app.github("pull_request", "other-change", &body).await;
    assert_eq!(code.as_u16(), 202);
    s.app.drain().await;
    assert_eq!(
        s.gh.status(H2),
        Some(("failure".into(), "Missing: Classify the change".into()))
    );

    // An hour later the change runs again, on what the forge shows now.
    clock.advance(chrono::Duration::minutes(61));
    s.app.drain().await;
    assert_eq!(s.status_of(H1).0, "success");
    let left: Vec<_> = s
        .app
        .store
        .unfinished_jobs()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.change_key.ends_with("#7") || j.change_key.ends_with(":7"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Waiting for quota must not leave a pass standing on a commit the change left: pushed to
/// another head while over budget, the old head's success is taken back; pushed back to it,
/// it is pending, not the old success.
#[tokio::test]
async fn a_change_waiting_for_quota_leaves_no_success_on_the_heads_it_left() {
    let clock = Clock::manual(t("2026-11-02T10:00:00Z"));
    let mut s = setup_with(clock.clone()).await;
    s.apply_label("alice", "CMT::Minor").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    s.app.worker.max_units_per_change_hour = 1;

    // alice pushes new commits while the change is over its share: the job waits.
    s.app.expect_failed_jobs(1);
    s.push("alice", H2).await;
    assert_eq!(s.status_of(H2).0, "pending");
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains("no longer has this head commit"),
        "{description}"
    );

    // ... and pushes the old head back, still over its share: pending there, not a pass.
    s.app.expect_failed_jobs(2);
    s.push("alice", H1).await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "pending", "{description}");
    assert!(
        description.starts_with("waiting for API quota"),
        "{description}"
    );
}
