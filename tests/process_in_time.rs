//! The process in time, end to end on the fake GitHub with a clock the tests move: an
//! emergency merged, reminded, overdue, and approved late; blocked periods with and without
//! exceptions; periods starting and ending with no webhook; timers across restarts and
//! replicas.

mod common;

use changegate::clock::Clock;
use common::github_setup::{Setup, at, move_to, t};
use common::github_world::GithubWorld;
use common::{TestApp, pg};

/// The sticky comment (reminders are comments of their own).
fn sticky(gh: &GithubWorld) -> String {
    let all: Vec<String> = gh
        .comments(7)
        .into_iter()
        .filter(|c| c.starts_with("<!-- changegate:sticky-comment -->"))
        .collect();
    assert_eq!(all.len(), 1, "one sticky comment: {all:?}");
    all[0].clone()
}

fn reminders(gh: &GithubWorld) -> Vec<String> {
    gh.comments(7)
        .into_iter()
        .filter(|c| c.contains("changegate:reminder:"))
        .collect()
}

/// alice's emergency, merged at 12:00 on 2 November 2026.
async fn merged_emergency() -> Setup {
    let s = at("2026-11-02T11:00:00Z").await;
    s.apply_label("alice", "CMT::Emergency").await;
    assert_eq!(s.status_of(common::github_setup::H1).0, "success");
    assert!(
        sticky(&s.gh).contains("due within 24 h of merge"),
        "{}",
        sticky(&s.gh)
    );
    s.gh.merge(7, "2026-11-02T12:00:00Z");
    s.app.clock.set(t("2026-11-02T12:00:30Z"));
    s.deliver("closed", None, "alice", "merge-1").await;
    s
}

#[tokio::test]
async fn an_emergency_is_reminded_marked_overdue_and_cleared_by_late_approvals() {
    let s = merged_emergency().await;
    let comment = sticky(&s.gh);
    assert!(
        comment.contains(
            "Owed after the merge on 2026-11-02 12:00 UTC**, due by 2026-11-03 12:00 UTC"
        ),
        "{comment}"
    );
    let labels = s.gh.labels(7);
    for pending in [
        "Business Owner Approval::Needs Approval",
        "Peer Approval::Needs Approval",
        "BT Integration Manager::Needs Approval",
    ] {
        assert!(labels.contains(&pending.to_string()), "{labels:?}");
    }
    assert!(reminders(&s.gh).is_empty());

    // One hour after the merge, with no webhook: one reminder mentioning who owes what.
    move_to(&s, "2026-11-02T13:00:01Z").await;
    let sent = reminders(&s.gh);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("@acme/business-owners"), "{}", sent[0]);
    assert!(sent[0].contains("@acme/integrations-team"), "{}", sent[0]);
    assert!(
        sent[0].contains("Retrospective (`Retrospective::Done`): @alice"),
        "{}",
        sent[0]
    );
    move_to(&s, "2026-11-02T13:30:00Z").await;
    assert_eq!(reminders(&s.gh).len(), 1, "a reminder is sent once");

    // The bot missed the 12 h and 23 h points (down); at the deadline one notice stands for
    // all of them, and the overdue label goes on.
    move_to(&s, "2026-11-03T12:00:05Z").await;
    let sent = reminders(&s.gh);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].contains("are overdue"), "{}", sent[1]);
    assert!(s.gh.labels(7).contains(&"Emergency::Overdue".to_string()));
    assert!(
        sticky(&s.gh).contains("overdue since 2026-11-03 12:00 UTC"),
        "{}",
        sticky(&s.gh)
    );
    let owed = s.app.store.owed_emergencies(None, None).await.unwrap();
    assert_eq!(owed.len(), 1);
    assert!(owed[0].overdue);
    assert_eq!(owed[0].missing.len(), 4, "{:?}", owed[0].missing);

    // Late, but given: by the right people, and the overdue label comes off.
    s.app.clock.set(t("2026-11-03T15:00:00Z"));
    s.gh.set_time("2026-11-03T15:00:00Z");
    s.apply_label("olivia", "Business Owner Approval::Approved")
        .await;
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert!(s.gh.labels(7).contains(&"Emergency::Overdue".to_string()));
    s.apply_label("pam", "Retrospective::Done").await;
    let labels = s.gh.labels(7);
    assert!(
        !labels.contains(&"Emergency::Overdue".to_string()),
        "{labels:?}"
    );
    let comment = sticky(&s.gh);
    assert!(
        comment.contains("every approval it owed is given"),
        "{comment}"
    );
    assert!(
        comment.contains("given by @olivia on 2026-11-03 15:01 UTC (1 d 3 h 1 min after merge)"),
        "{comment}"
    );
    assert!(
        s.app
            .store
            .owed_emergencies(None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        reminders(&s.gh).len(),
        2,
        "no reminder after everything arrived"
    );
    // The 23 h timer and later ones found nothing to do.
    move_to(&s, "2026-11-05T00:00:00Z").await;
    assert_eq!(reminders(&s.gh).len(), 2);

    // The audit evidence: merge time, each owed approval with giver and time (late), done.
    let rows = s
        .app
        .store
        .audit_rows("github", "acme/platypus", Some(7), 0)
        .await
        .unwrap();
    let records = changegate::report::build(&rows, "CMT").unwrap();
    let e = records[0].emergency.as_ref().expect("emergency evidence");
    assert_eq!(e.merged_at.as_deref(), Some("2026-11-02T12:00:00Z"));
    assert_eq!(e.due.as_deref(), Some("2026-11-03T12:00:00Z"));
    assert!(e.complete && !e.overdue);
    let olivia = e.owed.iter().find(|o| o.role == "business-owner").unwrap();
    assert_eq!(olivia.given_by.as_deref(), Some("@olivia"));
    assert!(olivia.late);
    let retro = e.owed.iter().find(|o| o.role == "retrospective").unwrap();
    assert_eq!(retro.given_by.as_deref(), Some("@pam"));
    let csv = changegate::report::to_csv(&records);
    assert!(
        csv.contains("business-owner: @olivia at 2026-11-03T15:01:00Z (late)"),
        "{csv}"
    );
}

#[tokio::test]
async fn the_author_cannot_approve_or_close_the_retrospective_of_their_own_emergency() {
    let s = merged_emergency().await;
    s.app.clock.set(t("2026-11-02T14:00:00Z"));
    s.apply_label("alice", "Retrospective::Done").await;
    s.apply_label("alice", "Peer Approval::Approved").await;
    let labels = s.gh.labels(7);
    assert!(
        !labels.contains(&"Retrospective::Done".to_string()),
        "{labels:?}"
    );
    assert!(
        !labels.contains(&"Peer Approval::Approved".to_string()),
        "{labels:?}"
    );
    let comment = sticky(&s.gh);
    assert!(
        comment.contains("@alice applied `Retrospective::Done` but is the author"),
        "{comment}"
    );
    assert!(
        comment.contains("nobody approves their own change"),
        "{comment}"
    );
}

/// #7 classified standard and approved by a peer and a manager, at `now`.
async fn approved_standard(now: &str) -> Setup {
    let s = at(now).await;
    s.gh.member("head-of-it", "hank");
    s.gh.member("business-exception-approvers", "bea");
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s
}

#[tokio::test]
async fn a_blocked_period_fails_until_both_exceptions_are_given() {
    let s = approved_standard("2026-12-28T10:00:00Z").await;
    let (state, description) = s.status_of(common::github_setup::H1);
    assert_eq!(state, "failure");
    assert!(
        description.starts_with("Missing: Blocked period quarter-close until 2027-01-07 00:00 UTC"),
        "{description}"
    );
    let labels = s.gh.labels(7);
    assert!(
        labels.contains(&"Head of IT Exception::Needs Approval".to_string()),
        "{labels:?}"
    );
    s.apply_label("hank", "Head of IT Exception::Approved")
        .await;
    assert_eq!(s.status_of(common::github_setup::H1).0, "failure");
    // The author cannot give the business exception even if a member of its group.
    s.gh.member("business-exception-approvers", "alice");
    s.apply_label("alice", "Business Exception::Approved").await;
    assert_eq!(s.status_of(common::github_setup::H1).0, "failure");
    assert!(
        !s.gh
            .labels(7)
            .contains(&"Business Exception::Approved".to_string())
    );
    s.apply_label("bea", "Business Exception::Approved").await;
    let (state, description) = s.status_of(common::github_setup::H1);
    assert_eq!(state, "success", "{description}");
    assert!(
        sticky(&s.gh)
            .contains("lifted for this change by Head of IT exception and Business exception"),
        "{}",
        sticky(&s.gh)
    );
}

#[tokio::test]
async fn periods_starting_and_ending_evaluate_open_changes_with_no_webhook() {
    // Approved an hour before the quarter close starts: green, then red at midnight.
    let s = approved_standard("2026-12-23T23:00:00Z").await;
    assert_eq!(s.status_of(common::github_setup::H1).0, "success");
    s.app.worker.schedule_boundaries().await.unwrap();
    let calls_before = s.gh.calls().len();
    move_to(&s, "2026-12-24T00:00:01Z").await;
    assert!(
        s.gh.calls().len() > calls_before,
        "the boundary evaluated #7"
    );
    let (state, description) = s.status_of(common::github_setup::H1);
    assert_eq!(state, "failure");
    assert!(
        description.contains("quarter-close until 2027-01-07 00:00 UTC"),
        "{description}"
    );

    // Still frozen the next day; green again when the period ends, with no webhook.
    move_to(&s, "2027-01-06T23:59:00Z").await;
    assert_eq!(s.status_of(common::github_setup::H1).0, "failure");
    move_to(&s, "2027-01-07T00:00:01Z").await;
    let (state, description) = s.status_of(common::github_setup::H1);
    assert_eq!(state, "success", "{description}");
    let labels = s.gh.labels(7);
    assert!(
        !labels
            .iter()
            .any(|l| l.ends_with("Exception::Needs Approval")),
        "the exceptions are not asked for any more: {labels:?}"
    );
}

/// A merged emergency on a database at `url`, then the bot stops; its first reminder comes
/// due while it is down and runs once after it starts again.
async fn timer_survives_a_restart(url: &str) {
    let gh = GithubWorld::start().await;
    for (team, who) in [
        ("business-owners", "olivia"),
        ("integrations-team", "peter"),
        ("bt-integration-managers", "mona"),
    ] {
        gh.member(team, who);
    }
    gh.open_pr(7, "alice", common::github_setup::H1);
    gh.set_time("2026-11-02T11:00:00Z");
    gh.add_label(7, "CMT::Emergency", "alice");
    gh.merge(7, "2026-11-02T12:00:00Z");
    let clock = Clock::manual(t("2026-11-02T12:00:30Z"));
    {
        let app = TestApp::on_database_at(url, &gh.url(), clock.clone()).await;
        let s = Setup { app, gh };
        s.deliver("closed", None, "alice", "merge-restart").await;
        assert!(reminders(&s.gh).is_empty());
        let gh = s.gh;
        drop(s.app);
        // Down from here; the 1 h point passes.
        clock.set(t("2026-11-02T14:00:00Z"));
        for _ in 0..2 {
            let app = TestApp::on_database_at(url, &gh.url(), clock.clone()).await;
            app.drain().await;
            assert_eq!(reminders(&gh).len(), 1, "run once, never twice");
        }
    }
}

#[tokio::test]
async fn a_timer_due_during_downtime_runs_once_after_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    timer_survives_a_restart(&url).await;
}

#[tokio::test]
async fn a_timer_due_during_downtime_runs_once_after_restart_on_postgres() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    timer_survives_a_restart(&url).await;
}

#[tokio::test]
async fn three_replicas_fire_a_timer_once() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    let gh = GithubWorld::start().await;
    gh.member("business-owners", "olivia");
    gh.open_pr(7, "alice", common::github_setup::H1);
    gh.set_time("2026-11-02T11:00:00Z");
    gh.add_label(7, "CMT::Emergency", "alice");
    gh.merge(7, "2026-11-02T12:00:00Z");
    let clock = Clock::manual(t("2026-11-02T12:00:30Z"));
    let first = TestApp::on_database_at(&url, &gh.url(), clock.clone()).await;
    let s = Setup { app: first, gh };
    s.deliver("closed", None, "alice", "merge-replicas").await;
    let mut replicas = vec![s.app];
    for _ in 0..2 {
        replicas.push(TestApp::on_database_at(&url, &s.gh.url(), clock.clone()).await);
    }
    clock.set(t("2026-11-02T13:00:01Z"));
    let (a, b, c) = tokio::join!(
        replicas[0].worker.drain(),
        replicas[1].worker.drain(),
        replicas[2].worker.drain()
    );
    let total = a.unwrap() + b.unwrap() + c.unwrap();
    assert_eq!(total, 1, "one replica ran the timer");
    assert_eq!(reminders(&s.gh).len(), 1);
}

#[tokio::test]
async fn a_webhook_cannot_take_a_timers_delivery_id() {
    // Someone with the webhook secret sends a delivery named like a future timer, hoping the
    // timer would then be dropped as a duplicate: refused, and the timer still fires.
    let s = merged_emergency().await;
    let body = common::github_setup::pr_payload(&s, "labeled", None, "alice");
    let key = "github:acme/platypus:merge_request:7";
    let due = t("2026-11-02T13:00:00Z").timestamp_millis();
    let (status, _) = s
        .app
        .github("pull_request", &format!("timer:{key}:{due}"), &body)
        .await;
    assert_eq!(status.as_u16(), 400);
    let (status, _) = s
        .app
        .github("pull_request", "period:quarter-close:1", &body)
        .await;
    assert_eq!(status.as_u16(), 400);
    move_to(&s, "2026-11-02T13:00:01Z").await;
    assert_eq!(reminders(&s.gh).len(), 1);
}

mod gitlab {
    use super::*;
    use common::gitlab_world::GitlabWorld;

    const SHA: &str = "3333333333333333333333333333333333333333";

    async fn send(app: &TestApp, gl: &GitlabWorld, action: &str, actor: &str, id: &str) {
        let (status, _) = app
            .gitlab("Merge Request Hook", id, &gl.mr_hook(SHA, action, actor))
            .await;
        assert_eq!(status.as_u16(), 202);
        app.drain().await;
    }

    #[tokio::test]
    async fn a_merged_emergency_is_chased_on_gitlab_too() {
        let gl = GitlabWorld::start().await;
        gl.member("acme/business-owners", "olivia");
        gl.member("acme/integrations-team", "alice");
        gl.open_mr(3, "alice", SHA);
        gl.set_time("2026-11-02T11:00:00Z");
        let clock = Clock::manual(t("2026-11-02T11:00:00Z"));
        let app = TestApp::with_forges_at(None, Some(&gl.url()), clock.clone()).await;
        gl.add_label(3, "CMT::Emergency", "alice");
        send(&app, &gl, "update", "alice", "gl-1").await;
        assert_eq!(gl.status(SHA).unwrap().0, "success");
        gl.merge(3, "2026-11-02T12:00:00Z");
        clock.set(t("2026-11-02T12:00:30Z"));
        send(&app, &gl, "merge", "alice", "gl-2").await;

        // The author's own approval after merge is removed, with the reason.
        gl.set_time("2026-11-02T12:30:00Z");
        gl.add_label(3, "Peer Approval::Approved", "alice");
        send(&app, &gl, "update", "alice", "gl-3").await;
        assert!(
            !gl.labels(3)
                .contains(&"Peer Approval::Approved".to_string())
        );

        // An hour after the merge, with no webhook: a reminder note mentioning the groups.
        clock.set(t("2026-11-02T13:00:01Z"));
        app.drain().await;
        let notes = gl.notes(3);
        let reminders: Vec<&String> = notes
            .iter()
            .filter(|n| n.contains("changegate:reminder:"))
            .collect();
        assert_eq!(reminders.len(), 1, "{notes:#?}");
        assert!(
            reminders[0].contains("@acme/business-owners"),
            "{}",
            reminders[0]
        );
        let sticky = notes
            .iter()
            .find(|n| n.contains("changegate:sticky-comment"))
            .unwrap();
        assert!(
            sticky.contains("but is the author of this change"),
            "{sticky}"
        );

        // At the deadline: the overdue label.
        clock.set(t("2026-11-03T12:00:01Z"));
        app.drain().await;
        assert!(gl.labels(3).contains(&"Emergency::Overdue".to_string()));
        let owed = app
            .store
            .owed_emergencies(
                Some(changegate::model::Forge::Gitlab),
                Some("acme/platypus"),
            )
            .await
            .unwrap();
        assert_eq!(owed.len(), 1);
        assert!(owed[0].overdue);
    }
}
