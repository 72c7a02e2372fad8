//! Deployment gates end to end on the fake GitLab, beyond `deploy_gates_gitlab.rs`: blocked
//! deployments found by the reconcile listing (older GitLab sends no `blocked` hook) and
//! answered once, a direct push in the range rejected by name, a deployment outside its
//! window left blocked and approved by itself when the window opens, and hooks of other
//! states never answered.

mod common;

use changegate::forge::Forge as _;
use changegate::model::{Forge, Repo, RepoPath};
use common::gitlab_world::{BOT, GitlabWorld};
use common::*;
use std::sync::Arc;

const BASE: &str = "b000000000000000000000000000000000000000";
const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const PUSHED: &str = "e0d1e0d1e0d1e0d1e0d1e0d1e0d1e0d1e0d1e0d1";

const RULES: &str = r#"
version: 1
enforce: [{kind: merge_request}]
approver_groups:
  - {name: peers, users: {gitlab: [peter]}}
approvals:
  - {name: peer, label: "Peer::Approved", approvers: peers}
rules:
  - name: reviewed
    require: [peer]
deployments:
  - name: production
    environments: [production]
    windows:
      - {name: business hours, weekdays: [Mon, Tue, Wed, Thu, Fri], hours: "09:00-17:00", timezone: Europe/London}
    after: {environment: staging, succeeded_for: 30m}
    trusted_deployers: [ci-runner]
"#;

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn repo() -> Repo {
    Repo {
        path: RepoPath::new("acme/platypus"),
        id: Some(42),
    }
}

/// At `now`: !3 (SHA, by alice) reviewed by peter and merged into main; production's
/// baseline BASE; SHA staged by the trusted `ci-runner` job an hour before.
async fn merged(now: &str) -> (TestApp, GitlabWorld) {
    let gl = GitlabWorld::start().await;
    gl.set_time(now);
    gl.commit(BASE, &[], "alice");
    gl.commit(SHA, &[BASE], "alice");
    gl.open_mr(3, "alice", SHA);
    gl.mr_commits(3, &[SHA]);
    let app = TestApp::with_forges_at(
        None,
        Some(&gl.url()),
        changegate::clock::Clock::manual(t(now)),
    )
    .await;
    *app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", RULES).expect("valid rules"));
    gl.environment("production", Some(1), &[BOT]);
    gl.environment("staging", None, &[]);
    gl.add_label(3, "Peer::Approved", "peter");
    app.gitlab(
        "Merge Request Hook",
        "mr-1",
        &gl.hook_of(3, "update", "peter", None),
    )
    .await;
    app.drain().await;
    gl.merge_as(3, SHA, now);
    app.gitlab(
        "Merge Request Hook",
        "mr-2",
        &gl.hook_of(3, "merge", "alice", None),
    )
    .await;
    app.drain().await;
    app.store
        .record_success(
            Forge::Gitlab,
            "acme/platypus",
            "production",
            BASE,
            -1,
            "operator",
            Some("oscar"),
            t(now) - chrono::Duration::days(1),
            "recorded by `oscar`",
        )
        .await
        .unwrap();
    gl.create_deployment(SHA, "staging", "ci-runner", "success", Some(77));
    (app, gl)
}

/// Moves the bot's and the fake's clocks to `now` and lets due timers run.
async fn move_to(app: &TestApp, gl: &GitlabWorld, now: &str) {
    app.clock.set(t(now));
    gl.set_time(now);
    app.drain().await;
}

/// The last answer to deployment `id`: (status, comment).
fn answer(gl: &GitlabWorld, id: u64) -> Option<(String, String)> {
    gl.deployment_approvals()
        .into_iter()
        .rev()
        .find(|a| a.deployment_id == id)
        .map(|a| (a.status, a.comment.unwrap_or_default()))
}

/// A reconcile pass's listing of blocked deployments; how many it queued.
async fn reconcile(app: &TestApp) -> usize {
    let client = &app.worker.forges.get(Forge::Gitlab).expect("GitLab").client;
    let queued = app
        .worker
        .queue_blocked_deployments(client, Forge::Gitlab, &repo())
        .await
        .expect("listed");
    app.drain().await;
    queued
}

async fn hook(app: &TestApp, gl: &GitlabWorld, id: u64, delivery: &str) {
    let body = serde_json::to_vec(&gl.deployment_hook(id)).unwrap();
    let (status, _) = app.gitlab("Deployment Hook", delivery, &body).await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
}

#[tokio::test]
async fn a_blocked_deployment_no_hook_announced_is_found_on_reconcile_and_answered_once() {
    let (app, gl) = merged("2026-03-10T09:00:00Z").await;
    // A listed deployment carries no project default branch: it is read from the project
    // (`GET /projects/:id`), so the entry without `branches` deploys from `main`.
    move_to(&app, &gl, "2026-03-10T10:00:00Z").await;
    let id = gl.create_deployment(SHA, "production", "alice", "blocked", Some(78));
    assert_eq!(reconcile(&app).await, 1);
    let (status, comment) = answer(&gl, id).expect("an answer");
    assert_eq!(status, "approved", "{comment}");
    assert_eq!(gl.deployment_state(id), "running");
    // The next pass lists nothing blocked, and a blocked deployment is queued once only.
    assert_eq!(reconcile(&app).await, 0);
    assert_eq!(gl.deployment_approvals().len(), 1);
    // Every call the bot made is one GitLab documents.
    common::gitlab_contract::assert_gitlab_calls_in_contract(&gl.calls());
    let listed = app
        .worker
        .forges
        .get(Forge::Gitlab)
        .unwrap()
        .client
        .blocked_deployments(&repo())
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn a_listed_blocked_deployment_is_rejected_when_the_default_branch_cannot_be_read() {
    let (app, gl) = merged("2026-03-10T09:00:00Z").await;
    move_to(&app, &gl, "2026-03-10T10:00:00Z").await;
    let id = gl.create_deployment(SHA, "production", "alice", "blocked", Some(78));
    // The project read fails on each of the three tries.
    for _ in 0..3 {
        gl.fail_next(
            "GET /api/v4/projects/42$",
            wiremock::ResponseTemplate::new(503),
        );
    }
    assert_eq!(reconcile(&app).await, 1);
    let (status, comment) = answer(&gl, id).expect("an answer");
    assert_eq!(status, "rejected", "{comment}");
    assert!(
        comment.contains("cannot be verified: the repository's default branch cannot be read"),
        "{comment}"
    );
}

#[tokio::test]
async fn a_blocked_deployment_bringing_a_direct_push_is_rejected_naming_the_commit() {
    let (app, gl) = merged("2026-03-10T09:00:00Z").await;
    gl.commit(PUSHED, &[SHA], "mallory");
    gl.branch("main", PUSHED);
    gl.create_deployment(PUSHED, "staging", "ci-runner", "success", Some(79));
    move_to(&app, &gl, "2026-03-10T10:00:00Z").await;
    let id = gl.create_deployment(PUSHED, "production", "mallory", "blocked", Some(80));
    hook(&app, &gl, id, "dep-push").await;
    let (status, comment) = answer(&gl, id).expect("an answer");
    assert_eq!(status, "rejected", "{comment}");
    assert!(
        comment.contains(&PUSHED[..8]),
        "names the commit: {comment}"
    );
    assert_eq!(gl.deployment_state(id), "failed");
}

#[tokio::test]
async fn outside_its_window_a_blocked_deployment_stays_blocked_then_is_approved_by_itself() {
    // Saturday 14 March 2026.
    let (app, gl) = merged("2026-03-14T09:00:00Z").await;
    move_to(&app, &gl, "2026-03-14T10:00:00Z").await;
    let id = gl.create_deployment(SHA, "production", "alice", "blocked", Some(81));
    hook(&app, &gl, id, "dep-weekend").await;
    // GitLab has no answer without a decision: nothing is posted while it waits.
    assert_eq!(answer(&gl, id), None);
    assert_eq!(gl.deployment_state(id), "blocked");
    // Monday 09:00 (GMT): the durable timer decides again and approves.
    move_to(&app, &gl, "2026-03-16T09:00:00Z").await;
    let (status, comment) = answer(&gl, id).expect("an answer");
    assert_eq!(status, "approved", "{comment}");
}

#[tokio::test]
async fn hooks_of_other_states_are_never_answered() {
    let (app, gl) = merged("2026-03-10T09:00:00Z").await;
    move_to(&app, &gl, "2026-03-10T10:00:00Z").await;
    let id = gl.create_deployment(SHA, "production", "alice", "created", Some(82));
    hook(&app, &gl, id, "dep-created").await;
    gl.set_deployment_status(id, "running");
    hook(&app, &gl, id, "dep-running").await;
    assert!(
        gl.deployment_approvals().is_empty(),
        "only a blocked deployment is approved or rejected"
    );
}

#[tokio::test]
async fn a_squashed_merge_requests_own_commit_is_rejected_as_off_the_branch() {
    const F1: &str = "f100000000000000000000000000000000000000";
    const SQUASH: &str = "5900000000000000000000000000000000000000";
    let (app, gl) = merged("2026-03-10T09:00:00Z").await;
    // !4's own commit F1 (beside main), squashed into SQUASH on main.
    gl.commit(F1, &[SHA], "bob");
    gl.commit(SQUASH, &[SHA], "bob");
    gl.open_mr(4, "bob", F1);
    gl.mr_commits(4, &[F1]);
    gl.merge_as(4, SQUASH, "2026-03-10T09:10:00Z");
    gl.create_deployment(F1, "staging", "ci-runner", "success", Some(83));
    move_to(&app, &gl, "2026-03-10T10:00:00Z").await;
    let id = gl.create_deployment(F1, "production", "bob", "blocked", Some(84));
    hook(&app, &gl, id, "dep-squashed").await;
    let (status, comment) = answer(&gl, id).expect("an answer");
    assert_eq!(status, "rejected", "{comment}");
    assert!(
        comment.contains("is not on the deployed branch `main`"),
        "{comment}"
    );
    common::gitlab_contract::assert_gitlab_calls_in_contract(&gl.calls());
}

/// GitLab's compare gives no count: a list with a commit missing (capped or cut) is found
/// from the commits' parents and rejected as "not every commit listed". Here the missing
/// commit is a direct push, which would otherwise deploy unseen.
#[tokio::test]
async fn a_compare_with_a_commit_missing_is_rejected_as_unverifiable() {
    const C1: &str = "c100000000000000000000000000000000000000";
    const C2: &str = "c200000000000000000000000000000000000000";
    let (app, gl) = merged("2026-03-10T09:00:00Z").await;
    // Production runs SHA; mallory pushes PUSHED onto it, then !4 (C1, C2 by bob), reviewed
    // by peter, merges by fast-forward on top.
    app.store
        .record_success(
            Forge::Gitlab,
            "acme/platypus",
            "production",
            SHA,
            -2,
            "operator",
            Some("oscar"),
            t("2026-03-10T09:00:00Z"),
            "recorded by `oscar`",
        )
        .await
        .unwrap();
    gl.commit(PUSHED, &[SHA], "mallory");
    gl.commit(C1, &[PUSHED], "bob");
    gl.commit(C2, &[C1], "bob");
    gl.open_mr(4, "bob", C2);
    gl.mr_commits(4, &[C1, C2]);
    gl.add_label(4, "Peer::Approved", "peter");
    let hook4 = gl.hook_of(4, "update", "peter", None);
    app.gitlab("Merge Request Hook", "mr-4-1", &hook4).await;
    app.drain().await;
    gl.merge_as(4, C2, "2026-03-10T09:00:00Z");
    let merged4 = gl.hook_of(4, "merge", "bob", None);
    app.gitlab("Merge Request Hook", "mr-4-2", &merged4).await;
    app.drain().await;
    gl.create_deployment(C2, "staging", "ci-runner", "success", Some(90));
    move_to(&app, &gl, "2026-03-10T10:00:00Z").await;
    gl.compare_leaves_out(PUSHED);
    let id = gl.create_deployment(C2, "production", "bob", "blocked", Some(91));
    hook(&app, &gl, id, "dep-gap").await;
    let (status, comment) = answer(&gl, id).expect("an answer");
    assert_eq!(status, "rejected", "{comment}");
    assert!(
        comment.contains("the forge did not list every commit between the baseline"),
        "{comment}"
    );
    // Every commit listed, but without their parents: nothing shows the list is whole.
    gl.state.lock().unwrap().deploy.compare_leaves_out.clear();
    gl.state.lock().unwrap().deploy.compare_without_parents = true;
    let bare = gl.create_deployment(C2, "production", "bob", "blocked", Some(93));
    hook(&app, &gl, bare, "dep-bare").await;
    let (status, comment) = answer(&gl, bare).expect("an answer");
    assert_eq!(status, "rejected", "{comment}");
    assert!(comment.contains("did not list every commit"), "{comment}");
    // The whole list shows the direct push, named.
    gl.state.lock().unwrap().deploy.compare_without_parents = false;
    let again = gl.create_deployment(C2, "production", "bob", "blocked", Some(92));
    hook(&app, &gl, again, "dep-whole").await;
    let (status, comment) = answer(&gl, again).expect("an answer");
    assert_eq!(status, "rejected", "{comment}");
    assert!(comment.contains(&PUSHED[..12]), "{comment}");
    assert!(!comment.contains("did not list every commit"), "{comment}");
    common::gitlab_contract::assert_gitlab_calls_in_contract(&gl.calls());
}
