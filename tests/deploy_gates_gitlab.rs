//! Deployment gates end to end on the fake GitLab: a blocked deployment to a protected
//! environment (the bot its approver) is decided and answered through the deployment
//! approval API; a deployment created through the API without a job is no evidence.

mod common;

use common::gitlab_world::GitlabWorld;
use common::*;
use std::sync::Arc;

const BASE: &str = "b000000000000000000000000000000000000000";
const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

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

/// !3 (head SHA, by alice) reviewed by peter and merged into main; production's baseline BASE.
async fn merged() -> (TestApp, GitlabWorld) {
    let gl = GitlabWorld::start().await;
    gl.set_time("2026-03-10T09:00:00Z");
    gl.commit(BASE, &[], "alice");
    gl.commit(SHA, &[BASE], "alice");
    gl.open_mr(3, "alice", SHA);
    gl.mr_commits(3, &[SHA]);
    let clock = changegate::clock::Clock::manual(t("2026-03-10T09:00:00Z"));
    let app = TestApp::with_forges_at(None, Some(&gl.url()), clock).await;
    *app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", RULES).expect("valid rules"));
    gl.environment("production", Some(1), &[common::gitlab_world::BOT]);
    gl.environment("staging", None, &[]);
    gl.add_label(3, "Peer::Approved", "peter");
    app.gitlab(
        "Merge Request Hook",
        "mr-1",
        &gl.hook_of(3, "update", "peter", None),
    )
    .await;
    app.drain().await;
    gl.merge_as(3, SHA, "2026-03-10T09:05:00Z");
    app.gitlab(
        "Merge Request Hook",
        "mr-2",
        &gl.hook_of(3, "merge", "alice", None),
    )
    .await;
    app.drain().await;
    app.store
        .record_success(
            changegate::model::Forge::Gitlab,
            "acme/platypus",
            "production",
            BASE,
            -1,
            "operator",
            Some("oscar"),
            t("2026-03-10T09:00:00Z"),
            "recorded by `oscar`",
        )
        .await
        .unwrap();
    (app, gl)
}

async fn blocked(app: &TestApp, gl: &GitlabWorld, delivery: &str) -> (String, String) {
    let id = gl.create_deployment(SHA, "production", "alice", "blocked", Some(78));
    let (status, _) = app
        .gitlab(
            "Deployment Hook",
            delivery,
            &serde_json::to_vec(&gl.deployment_hook(id)).unwrap(),
        )
        .await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
    let a = gl.deployment_approvals();
    let last = a
        .iter()
        .rev()
        .find(|x| x.deployment_id == id)
        .expect("an answer");
    (
        last.status.clone(),
        last.comment.clone().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_blocked_deployment_staged_by_a_trusted_job_is_approved() {
    let (app, gl) = merged().await;
    gl.create_deployment(SHA, "staging", "ci-runner", "success", Some(77));
    app.clock.set(t("2026-03-10T10:00:00Z"));
    gl.set_time("2026-03-10T10:00:00Z");
    let (status, comment) = blocked(&app, &gl, "dep-1").await;
    assert_eq!(status, "approved", "{comment}");
    assert!(
        comment.contains("trusted deployer `ci-runner`"),
        "{comment}"
    );
}

#[tokio::test]
async fn a_staging_deployment_created_through_the_api_without_a_job_does_not_count() {
    let (app, gl) = merged().await;
    gl.create_deployment(SHA, "staging", "ci-runner", "success", None);
    app.clock.set(t("2026-03-10T10:00:00Z"));
    gl.set_time("2026-03-10T10:00:00Z");
    let (status, comment) = blocked(&app, &gl, "dep-2").await;
    assert_eq!(status, "rejected", "{comment}");
    assert!(comment.contains("has no pipeline job"), "{comment}");
}
