//! An emergency's debt is fixed at merge, end to end on the fake forges: removing the
//! emergency label in the merge's second, unlinking the change issue that made the change an
//! emergency, burying a removal under thousands of events, or deleting the GitLab project
//! label does not erase what the change owes. It keeps owing, goes overdue with its label and
//! notice, and `changegate overdue` still lists it.

mod common;

use changegate::clock::Clock;
use common::github_setup::{H1, Setup, at, t};
use common::gitlab_world::GitlabWorld;
use common::*;
use std::sync::Arc;

/// Moves the bot's clock past the deadline and runs what came due.
async fn move_to(app: &TestApp, now: &str) {
    app.clock.set(t(now));
    app.drain().await;
}

/// The emergency is listed by `changegate overdue` as owing its four items.
async fn still_owes(app: &TestApp, number: i64) -> changegate::store::EmergencyRow {
    let owed = app.store.owed_emergencies(None, None).await.unwrap();
    let row = owed
        .into_iter()
        .find(|r| r.number == number)
        .expect("the merged emergency is still listed as owing");
    assert_eq!(row.missing.len(), 4, "{:?}", row.missing);
    row
}

async fn debt_records(app: &TestApp, forge: &str, number: u64) -> Vec<serde_json::Value> {
    app.store
        .audit_rows(forge, "acme/platypus", Some(number), 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "debt")
        .map(|r| r.detail)
        .collect()
}

/// An emergency by alice, classified at 11:01 on 2 November 2026 and passing.
async fn open_emergency() -> Setup {
    let s = at("2026-11-02T11:00:00Z").await;
    s.apply_label("alice", "CMT::Emergency").await;
    assert_eq!(s.status_of(H1).0, "success");
    s
}

/// After the debt stands: past the deadline the overdue label goes on and the notice is sent.
async fn goes_overdue_on_github(s: &Setup, now: &str) {
    s.gh.set_time(now);
    move_to(&s.app, now).await;
    let labels = s.gh.labels(7);
    assert!(
        labels.contains(&"Emergency::Overdue".to_string()),
        "{labels:?}"
    );
    for pending in [
        "Business Owner Approval::Needs Approval",
        "Peer Approval::Needs Approval",
        "BT Integration Manager::Needs Approval",
    ] {
        assert!(labels.contains(&pending.to_string()), "{labels:?}");
    }
    let notices: Vec<String> =
        s.gh.comments(7)
            .into_iter()
            .filter(|c| c.contains("changegate:reminder:") && c.contains("are overdue"))
            .collect();
    assert_eq!(notices.len(), 1, "{:?}", s.gh.comments(7));
    assert!(still_owes(&s.app, 7).await.overdue);
}

#[tokio::test]
async fn removing_the_emergency_label_in_the_merges_second_does_not_erase_the_debt() {
    let s = open_emergency().await;
    // The author removes the label in the very second the change merges.
    s.gh.set_time("2026-11-02T11:59:00Z");
    s.gh.remove_label(7, "CMT::Emergency", "alice");
    s.gh.merge(7, "2026-11-02T12:00:00Z");
    s.app.clock.set(t("2026-11-02T12:00:30Z"));
    s.deliver("unlabeled", Some("CMT::Emergency"), "alice", "rm-1")
        .await;
    s.deliver("closed", None, "alice", "merge-1").await;
    let row = still_owes(&s.app, 7).await;
    assert_eq!(
        row.due_at,
        Some(t("2026-11-03T12:00:00Z").timestamp_millis())
    );
    let comment = s.gh.comments(7).join("\n");
    assert!(
        comment
            .contains("merged under `emergency-change`: what it owes after merge was fixed then"),
        "{comment}"
    );
    // The debt is in the audit log, with how it was determined.
    let debts = debt_records(&s.app, "github", 7).await;
    assert_eq!(debts.len(), 1, "fixed once: {debts:?}");
    assert_eq!(
        debts[0]["require"],
        serde_json::json!(["business-owner", "peer", "manager"])
    );
    assert!(
        debts[0]["how"]
            .as_str()
            .unwrap()
            .contains("labels at merge"),
        "{}",
        debts[0]
    );
    goes_overdue_on_github(&s, "2026-11-03T12:00:05Z").await;
    assert_eq!(debt_records(&s.app, "github", 7).await.len(), 1);
}

/// #7 linking the change issue #12, classified as an emergency, as changegate saw it open.
async fn linked_emergency() -> Setup {
    let s = at("2026-11-02T11:00:00Z").await;
    let text = format!(
        "{}\nchange_issue:\n  approvals: [business-owner, manager]\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
    );
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", &text).unwrap());
    s.gh.open_issue(12, "carol");
    // alice, who opens the pull request, is assigned the issue: it is hers to link.
    s.gh.assign(12, "alice");
    s.gh.add_label(12, "CMT::Emergency", "carol");
    s.gh.set_body(7, "Hotfix.\n\nChange: #12\n");
    s.deliver("edited", None, "alice", "edit-1").await;
    let comment = s.gh.comments(7).join("\n");
    assert!(comment.contains("due within 24 h of merge"), "{comment}");
    s
}

#[tokio::test]
async fn unlinking_the_change_issue_that_made_the_change_an_emergency_does_not_erase_the_debt() {
    let s = linked_emergency().await;
    s.gh.merge(7, "2026-11-02T12:00:00Z");
    s.app.clock.set(t("2026-11-02T12:00:30Z"));
    s.deliver("closed", None, "alice", "merge-1").await;
    still_owes(&s.app, 7).await;

    // The link goes, and with it the issue's classification: the debt stays.
    s.gh.set_body(7, "Hotfix.\n");
    s.app.clock.set(t("2026-11-02T12:05:00Z"));
    s.deliver("edited", None, "alice", "edit-2").await;
    still_owes(&s.app, 7).await;
    goes_overdue_on_github(&s, "2026-11-03T12:00:05Z").await;
}

#[tokio::test]
async fn a_removal_buried_under_thousands_of_events_fails_closed_to_owing() {
    let s = open_emergency().await;
    // Merged at 12:00; before the bot evaluates it again, the label goes and more than 3,000
    // label events follow, so the removal is out of the history's newest pages.
    s.gh.merge(7, "2026-11-02T12:00:00Z");
    s.gh.set_time("2026-11-02T12:01:00Z");
    s.gh.remove_label(7, "CMT::Emergency", "alice");
    for _ in 0..1_600 {
        s.gh.add_label(7, "noise", "alice");
        s.gh.remove_label(7, "noise", "alice");
    }
    s.app.clock.set(t("2026-11-05T00:00:00Z"));
    s.deliver("closed", None, "alice", "merge-1").await;
    let row = still_owes(&s.app, 7).await;
    assert!(row.overdue, "24 h after a merge at 12:00 on 2 November");
    let comment = s.gh.comments(7).join("\n");
    assert!(
        comment.contains("could not establish this change's labels at its merge"),
        "{comment}"
    );
    let debts = debt_records(&s.app, "github", 7).await;
    assert_eq!(debts.len(), 1, "{debts:?}");
    assert!(
        debts[0]["how"]
            .as_str()
            .unwrap()
            .contains("owes what an emergency owes"),
        "{}",
        debts[0]
    );
    assert!(
        s.gh.labels(7).contains(&"Emergency::Overdue".to_string()),
        "{:?}",
        s.gh.labels(7)
    );
}

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

async fn gitlab_at(now: &str) -> (TestApp, GitlabWorld) {
    let gl = GitlabWorld::start().await;
    for (group, who) in [
        ("acme/business-owners", "olivia"),
        ("acme/integrations-team", "peter"),
        ("acme/integrations-team", "pam"),
        ("acme/bt-integration-managers", "mona"),
    ] {
        gl.member(group, who);
    }
    gl.set_time(now);
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges_at(None, Some(&gl.url()), Clock::manual(t(now))).await;
    (app, gl)
}

async fn gitlab_hook(app: &TestApp, gl: &GitlabWorld, action: &str, delivery: &str) {
    let body = gl.mr_hook(SHA, action, "alice");
    let (status, _) = app.gitlab("Merge Request Hook", delivery, &body).await;
    assert_eq!(status.as_u16(), 202, "{delivery}");
    app.drain().await;
}

/// alice's emergency !3, classified at 11:01 on 2 November 2026.
async fn gitlab_emergency() -> (TestApp, GitlabWorld) {
    let (app, gl) = gitlab_at("2026-11-02T11:00:00Z").await;
    gl.add_label(3, "CMT::Emergency", "alice");
    gitlab_hook(&app, &gl, "update", "u1").await;
    assert_eq!(gl.status(SHA).unwrap().0, "success");
    (app, gl)
}

async fn goes_overdue_on_gitlab(app: &TestApp, gl: &GitlabWorld) {
    gl.set_time("2026-11-03T12:00:05Z");
    move_to(app, "2026-11-03T12:00:05Z").await;
    let labels = gl.labels(3);
    assert!(
        labels.contains(&"Emergency::Overdue".to_string()),
        "{labels:?}"
    );
    assert!(
        gl.notes(3).iter().any(|n| n.contains("are overdue")),
        "{:?}",
        gl.notes(3)
    );
    assert!(still_owes(app, 3).await.overdue);
}

#[tokio::test]
async fn on_gitlab_removing_the_emergency_label_in_the_merges_second_does_not_erase_the_debt() {
    let (app, gl) = gitlab_emergency().await;
    gl.set_time("2026-11-02T11:59:00Z");
    gl.remove_label(3, "CMT::Emergency", "alice");
    gl.merge(3, "2026-11-02T12:00:00Z");
    app.clock.set(t("2026-11-02T12:00:30Z"));
    gitlab_hook(&app, &gl, "merge", "m1").await;
    still_owes(&app, 3).await;
    assert_eq!(debt_records(&app, "gitlab", 3).await.len(), 1);
    goes_overdue_on_gitlab(&app, &gl).await;
}

#[tokio::test]
async fn on_gitlab_deleting_the_project_label_fails_closed_to_owing() {
    let (app, gl) = gitlab_emergency().await;
    gl.merge(3, "2026-11-02T12:00:00Z");
    // Before the bot evaluates the merge, a maintainer deletes the label: it leaves the merge
    // request with no event, and its events go blank.
    gl.delete_label("CMT::Emergency");
    app.clock.set(t("2026-11-02T12:10:00Z"));
    gitlab_hook(&app, &gl, "merge", "m1").await;
    still_owes(&app, 3).await;
    let notes = gl.notes(3).join("\n");
    assert!(notes.contains("label events of a deleted label"), "{notes}");
    goes_overdue_on_gitlab(&app, &gl).await;
}

#[tokio::test]
async fn unlinking_the_change_issue_before_the_bot_sees_the_merge_does_not_erase_the_debt() {
    let s = linked_emergency().await;
    // Merged, and unlinked before changegate evaluates the merge: what it owed when last seen
    // open stands.
    s.gh.merge(7, "2026-11-02T12:00:00Z");
    s.gh.set_body(7, "Hotfix.\n");
    s.app.clock.set(t("2026-11-02T12:05:00Z"));
    s.deliver("closed", None, "alice", "merge-1").await;
    still_owes(&s.app, 7).await;
    let debts = debt_records(&s.app, "github", 7).await;
    assert!(
        debts[0]["how"]
            .as_str()
            .unwrap()
            .contains("last saw it open"),
        "{debts:?}"
    );
    goes_overdue_on_github(&s, "2026-11-03T12:00:05Z").await;
}
