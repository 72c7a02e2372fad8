//! Verdicts that must move without a webhook (issue 22, items 7 and 8), end to end on the fake
//! GitHub: rules that change under a passing change, and blocked periods that start over
//! changes the bot forgot (retention) or never saw.

mod common;

use changegate::clock::Clock;
use changegate::model::Forge;
use changegate::rules::watch::RulesWatch;
use common::github_setup::{H1, H2, Setup, at, move_to, t};
use common::github_world::GithubWorld;
use common::{TestApp, pg};
use std::sync::Arc;

fn shipped() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
}

/// The shipped rules, where a standard change also needs its business owner.
fn stricter() -> String {
    let text = shipped();
    assert!(text.contains("    require: [peer, manager]\n"));
    text.replace(
        "    require: [peer, manager]\n",
        "    require: [business-owner, peer, manager]\n",
    )
}

/// The shipped rules with a one-off freeze over November 2026.
fn with_november_freeze() -> String {
    let text = shipped();
    assert!(text.contains("\nblocked_periods:\n"));
    text.replace(
        "\nblocked_periods:\n",
        "\nblocked_periods:\n  - name: november-freeze\n    from: 2026-11-01\n    to: 2026-12-01\n    exception: [head-of-it-exception, business-exception]\n",
    )
}

/// #7 classified standard and approved by a peer and a manager, at `now`.
async fn approved_standard(now: &str) -> Setup {
    let s = at(now).await;
    approve_standard(&s).await;
    s
}

async fn approve_standard(s: &Setup) {
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
}

/// Writes `text` as the rules file and reloads it as the running process does.
fn reload(app: &TestApp, dir: &tempfile::TempDir, text: &str) {
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, text).unwrap();
    let watch = RulesWatch {
        path,
        shared: app.worker.rules.clone(),
        ready: Arc::default(),
    };
    assert!(watch.reload(), "the rules are valid");
}

#[tokio::test]
async fn a_reload_adding_a_requirement_fails_a_passing_change_with_no_webhook() {
    let s = approved_standard("2026-11-02T10:00:00Z").await;
    assert_eq!(s.status_of(H1).0, "success");
    // The rules the process started with are recorded (the first record evaluates the open
    // changes once: nothing was recorded before).
    assert_eq!(s.app.worker.rules_in_force().await.unwrap(), 1);
    s.app.drain().await;
    assert_eq!(s.status_of(H1).0, "success");

    let dir = tempfile::tempdir().unwrap();
    reload(&s.app, &dir, &stricter());
    let calls_before = s.gh.calls().len();
    assert_eq!(s.app.worker.rules_in_force().await.unwrap(), 1);
    // Paced like reconcile work: it waits while GitHub's quota is under the reserve.
    let lease = std::time::Duration::from_secs(60);
    assert!(
        s.app
            .store
            .claim_except(lease, &[Forge::Github])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.app.drain().await, 1);
    assert!(s.gh.calls().len() > calls_before);
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains("Business owner approval"),
        "{description}"
    );

    // The same rules again (a comment added, the file touched): nothing is queued.
    reload(&s.app, &dir, &format!("# reviewed\n{}", stricter()));
    assert_eq!(s.app.worker.rules_in_force().await.unwrap(), 0);
    let waiting: Vec<_> = s
        .app
        .store
        .unfinished_jobs()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| {
            !j.delivery_id
                .as_deref()
                .unwrap_or("")
                .starts_with("period:")
        })
        .collect();
    assert!(waiting.is_empty(), "{waiting:#?}");
    assert_eq!(s.app.drain().await, 0);
}

#[tokio::test]
async fn a_reload_adding_a_period_already_started_fails_a_passing_change() {
    let s = approved_standard("2026-11-02T10:00:00Z").await;
    s.gh.member("head-of-it", "hank");
    assert_eq!(s.app.worker.rules_in_force().await.unwrap(), 1);
    s.app.drain().await;
    assert_eq!(s.status_of(H1).0, "success");
    let dir = tempfile::tempdir().unwrap();
    reload(&s.app, &dir, &with_november_freeze());
    assert_eq!(s.app.worker.rules_in_force().await.unwrap(), 1);
    s.app.drain().await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("november-freeze"), "{description}");
    // Its end is scheduled with the reload: green again on 1 December with no webhook.
    move_to(&s, "2026-12-01T00:00:01Z").await;
    assert_eq!(s.status_of(H1).0, "success");
}

/// A passing #7 recorded under the shipped rules on the database at `url`; the bot stops and
/// starts again with stricter rules: #7 fails with no webhook, and a third start with the same
/// rules queues nothing.
async fn rules_changed_while_down(url: &str) {
    let gh = GithubWorld::start().await;
    for (team, who) in [
        ("integrations-team", "peter"),
        ("bt-integration-managers", "mona"),
    ] {
        gh.member(team, who);
    }
    gh.open_pr(7, "alice", H1);
    gh.set_time("2026-11-02T10:00:00Z");
    let clock = Clock::manual(t("2026-11-02T10:00:00Z"));
    let app = TestApp::on_database_at(url, &gh.url(), clock.clone()).await;
    let s = Setup { app, gh };
    approve_standard(&s).await;
    s.app.worker.rules_in_force().await.unwrap();
    s.app.drain().await;
    assert_eq!(s.status_of(H1).0, "success");
    let Setup { app, gh } = s;
    drop(app);

    let strict = Arc::new(changegate::rules::parse("rules.yaml", &stricter()).unwrap());
    for start in 0..2 {
        let app = TestApp::on_database_at(url, &gh.url(), clock.clone()).await;
        *app.worker.rules.write().unwrap() = strict.clone();
        let queued = app.worker.rules_in_force().await.unwrap();
        assert_eq!(queued, if start == 0 { 1 } else { 0 }, "start {start}");
        app.drain().await;
        assert_eq!(gh.status(H1).unwrap().0, "failure");
    }
}

#[tokio::test]
async fn a_start_with_changed_rules_evaluates_open_changes_again_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    rules_changed_while_down(&url).await;
}

#[tokio::test]
async fn a_start_with_changed_rules_evaluates_open_changes_again_on_postgres() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    rules_changed_while_down(&url).await;
}

#[tokio::test]
async fn retention_keeps_an_idle_open_change_within_reach_of_a_freeze() {
    let s = approved_standard("2026-12-01T10:00:00Z").await;
    assert_eq!(s.status_of(H1).0, "success");
    // Idle for three weeks; a 7-day retention purges what is older.
    s.app.clock.set(t("2026-12-23T23:00:00Z"));
    s.gh.set_time("2026-12-23T23:00:00Z");
    s.app.store.purge_older_than(7 * 86_400_000).await.unwrap();
    let remembered = s.app.store.open_change_events(Forge::Github).await.unwrap();
    assert_eq!(
        remembered
            .iter()
            .map(|c| c.change.number)
            .collect::<Vec<_>>(),
        vec![7],
        "the bot still remembers the open change"
    );
    s.app.worker.schedule_boundaries().await.unwrap();
    move_to(&s, "2026-12-24T00:00:01Z").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("quarter-close"), "{description}");
}

/// #8 by bob, classified and approved on the fake, with no webhook ever sent.
fn unseen_approved_pr(gh: &GithubWorld) {
    gh.open_pr(8, "bob", H2);
    gh.add_label(8, "CMT::Standard", "bob");
    gh.add_label(8, "Peer Approval::Approved", "peter");
    gh.add_label(8, "BT Integration Manager::Approved", "mona");
}

#[tokio::test]
async fn a_pull_request_the_bot_never_saw_fails_when_a_freeze_starts() {
    let s = approved_standard("2026-12-23T22:00:00Z").await;
    unseen_approved_pr(&s.gh);
    assert_eq!(s.gh.status(H2), None);
    s.app.worker.schedule_boundaries().await.unwrap();
    move_to(&s, "2026-12-24T00:00:01Z").await;
    for sha in [H1, H2] {
        let (state, description) = s.status_of(sha);
        assert_eq!(state, "failure", "{sha}: {description}");
        assert!(description.contains("quarter-close"), "{description}");
    }
    assert!(
        s.gh.calls()
            .contains(&"GET /repos/acme/platypus/pulls".to_string()),
        "the boundary listed the repository's open pull requests"
    );
}

#[tokio::test]
async fn a_configured_repository_is_listed_when_a_freeze_starts() {
    // No change of acme/platypus was ever seen: the repository is known from the settings.
    let mut s = at("2026-12-23T22:00:00Z").await;
    // A configured repository the forge no longer has lists nothing and fails nothing.
    s.app.worker.repositories = vec!["github:acme/platypus".into(), "github:acme/gone".into()];
    unseen_approved_pr(&s.gh);
    s.app.worker.schedule_boundaries().await.unwrap();
    move_to(&s, "2026-12-24T00:00:01Z").await;
    let (state, description) = s.status_of(H2);
    assert_eq!(state, "failure", "{description}");
    assert!(description.contains("quarter-close"), "{description}");
    assert!(
        s.gh.calls()
            .contains(&"GET /repos/acme/gone/pulls".to_string())
    );
}

mod gitlab {
    use super::*;
    use common::gitlab_world::GitlabWorld;

    const SEEN: &str = "3333333333333333333333333333333333333333";
    const UNSEEN: &str = "4444444444444444444444444444444444444444";

    #[tokio::test]
    async fn a_merge_request_the_bot_never_saw_fails_when_a_freeze_starts() {
        let gl = GitlabWorld::start().await;
        gl.member("acme/bt-integration-managers", "mona");
        gl.set_time("2026-12-23T22:00:00Z");
        let clock = Clock::manual(t("2026-12-23T22:00:00Z"));
        let app = TestApp::with_forges_at(None, Some(&gl.url()), clock.clone()).await;
        gl.open_mr(3, "alice", SEEN);
        gl.add_label(3, "CMT::Minor", "alice");
        gl.add_label(3, "BT Integration Manager::Approved", "mona");
        let (status, _) = app
            .gitlab(
                "Merge Request Hook",
                "gl-1",
                &gl.mr_hook(SEEN, "update", "mona"),
            )
            .await;
        assert_eq!(status.as_u16(), 202);
        app.drain().await;
        assert_eq!(gl.status(SEEN).unwrap().0, "success");
        // !4: classified and approved, and no webhook ever arrived.
        gl.open_mr(4, "alice", UNSEEN);
        gl.add_label(4, "CMT::Minor", "alice");
        gl.add_label(4, "BT Integration Manager::Approved", "mona");
        assert!(gl.status(UNSEEN).is_none());

        app.worker.schedule_boundaries().await.unwrap();
        clock.set(t("2026-12-24T00:00:01Z"));
        gl.set_time("2026-12-24T00:00:01Z");
        app.drain().await;
        for sha in [SEEN, UNSEEN] {
            let (state, _, description) = gl.status(sha).unwrap();
            assert_eq!(state, "failed", "{sha}: {description}");
            assert!(description.contains("quarter-close"), "{description}");
        }
    }
}

#[tokio::test]
async fn a_webhook_cannot_take_a_reevaluations_delivery_id() {
    // A delivery named like the bot's own evaluation after a rules change would make that
    // evaluation a duplicate, never run: refused.
    let s = approved_standard("2026-11-02T10:00:00Z").await;
    let body = common::github_setup::pr_payload(&s, "labeled", None, "alice");
    let (status, _) = s
        .app
        .github(
            "pull_request",
            "rules:0123456789abcdef:0:github:acme/platypus:merge_request:7",
            &body,
        )
        .await;
    assert_eq!(status.as_u16(), 400);
}
