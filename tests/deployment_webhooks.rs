//! Deployment webhooks (issue 23) through the real router: each fixture normalizes to the
//! expected event, a malformed one is refused with 400 and nothing is stored, and the rest
//! of each event's actions are acknowledged and ignored.

mod common;

use axum::http::StatusCode;
use changegate::model::{
    DeploymentEvent, DeploymentEventKind, DeploymentState, Event, EventPayload, Repo, RepoPath,
    User,
};
use changegate::server;
use common::deploy_hooks::*;
use common::*;
use serde_json::{Value, json};

fn github(event: &str, body: &Value) -> Event {
    server::github::parse(event, Some("d".into()), body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{event}: {e}"))
}

fn gitlab(body: &Value) -> Event {
    server::gitlab::parse(
        "Deployment Hook",
        Some("d".into()),
        body.to_string().as_bytes(),
    )
    .unwrap_or_else(|e| panic!("Deployment Hook: {e}"))
}

fn deployment(e: &Event) -> &DeploymentEvent {
    match &e.payload {
        EventPayload::Deployment(d) => d,
        other => panic!("expected a deployment event, got {other:?}"),
    }
}

fn at(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    Some(text.parse().expect("time"))
}

fn user(id: u64, name: &str) -> User {
    User {
        id: Some(id),
        username: Some(name.into()),
    }
}

#[test]
fn a_protection_rule_request_names_its_run_environment_commit_and_pull_requests() {
    let e = github(
        "deployment_protection_rule",
        &fixture("github/deployment_protection_rule.requested.1.json"),
    );
    let d = deployment(&e);
    assert_eq!(
        *d,
        DeploymentEvent {
            repo: Repo {
                path: RepoPath::new("Codertocat/Hello-World"),
                id: Some(186853002),
            },
            kind: DeploymentEventKind::ProtectionRequested { run_id: 9876543210 },
            environment: "production".into(),
            sha: Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e".into()),
            git_ref: Some("master".into()),
            default_branch: Some("master".into()),
            deployment_id: Some(145988746),
            creator: Some(user(21031067, "Codertocat")),
            actor: user(21031067, "Codertocat"),
            at: at("2019-05-15T15:20:53Z"),
            pull_requests: vec![2],
        }
    );
}

#[test]
fn deployments_and_their_statuses_normalize_as_github_sends_them() {
    let created = github("deployment", &fixture("github/deployment.created.1.json"));
    let d = deployment(&created);
    assert_eq!(d.kind, DeploymentEventKind::Created);
    assert_eq!(d.deployment_id, Some(145988746));
    assert_eq!(d.at, at("2019-05-15T15:20:53Z"));
    // GHES sends no `action`: a creation all the same.
    let ghes = github("deployment", &fixture("github/deployment.none.1.json"));
    assert_eq!(deployment(&ghes).kind, DeploymentEventKind::Created);

    let status = github(
        "deployment_status",
        &fixture("github/deployment_status.created.4.json"),
    );
    let d = deployment(&status);
    assert_eq!(
        *d,
        DeploymentEvent {
            repo: d.repo.clone(),
            kind: DeploymentEventKind::Status {
                state: DeploymentState::Pending,
                deployable_id: None
            },
            environment: "production".into(),
            sha: Some("c308eeb1271af1f4d072cf79e2b4681f2eb88fbb".into()),
            git_ref: Some("feature".into()),
            default_branch: Some("feature".into()),
            deployment_id: Some(3792406560),
            creator: d.creator.clone(),
            actor: d.actor.clone(),
            at: at("2026-02-07T19:49:34Z"),
            pull_requests: vec![],
        }
    );
    assert_eq!(d.repo.path.as_str(), "Pritesh-30/test-repo");
    assert_eq!(d.actor.username.as_deref(), Some("Pritesh-30"));
}

#[test]
fn gitlab_deployment_hooks_carry_the_full_sha_the_job_and_the_time_in_both_forms() {
    let blocked = gitlab(&fixture("gitlab/deployment.blocked.1.json"));
    assert_eq!(
        *deployment(&blocked),
        DeploymentEvent {
            repo: Repo {
                path: RepoPath::new("pritesh-30-group/deployment-webhook-test"),
                id: Some(85038800),
            },
            kind: DeploymentEventKind::Status {
                state: DeploymentState::Blocked,
                deployable_id: Some(15663409982)
            },
            environment: "production".into(),
            sha: Some("2166d75e44d9b13be5d7fc739fd40e7ba8a8eece".into()),
            git_ref: Some("main".into()),
            default_branch: Some("main".into()),
            deployment_id: Some(1503204389),
            creator: Some(user(32548944, "Pritesh-30")),
            actor: user(32548944, "Pritesh-30"),
            at: at("2026-08-02T07:59:54Z"),
            pull_requests: vec![],
        }
    );
    // The docs example: `+0200`, no `ref`.
    let docs = gitlab(&fixture("gitlab/deployment.success.1.json"));
    let d = deployment(&docs);
    assert_eq!(d.at, at("2021-04-28T19:50:00Z"));
    assert_eq!(d.git_ref, None);
    assert_eq!(
        d.sha.as_deref(),
        Some("279484c09fbe69ededfced8c1bb6e6d24616b468")
    );
    let approved = gitlab(&fixture("gitlab/deployment.approved.1.json"));
    assert!(matches!(
        deployment(&approved).kind,
        DeploymentEventKind::Status {
            state: DeploymentState::Approved,
            ..
        }
    ));
    // An API-created deployment has no job; a hook without `commit_url` no full SHA.
    let api = without(
        with(
            fixture("gitlab/deployment.running.1.json"),
            "/deployable_id",
            Value::Null,
        ),
        "/commit_url",
    );
    let d = gitlab(&api);
    let d = deployment(&d);
    assert_eq!(
        d.kind,
        DeploymentEventKind::Status {
            state: DeploymentState::InProgress,
            deployable_id: None
        }
    );
    assert_eq!(d.sha, None);
    // Every status GitLab documents, `blocked` included, maps to a known state.
    for status in [
        "created", "running", "success", "failed", "canceled", "blocked",
    ] {
        let e = gitlab(&with(
            fixture("gitlab/deployment.blocked.1.json"),
            "/status",
            json!(status),
        ));
        let DeploymentEventKind::Status { state, .. } = &deployment(&e).kind else {
            panic!("a status");
        };
        assert!(!matches!(state, DeploymentState::Other(_)), "{status}");
    }
}

#[test]
fn helpers_build_the_bodies_tests_ask_for() {
    let gh = GhDeploy {
        environment: "prod-eu",
        sha: "0123456789abcdef0123456789abcdef01234567",
        ..GhDeploy::default()
    };
    let e = github(
        "deployment_protection_rule",
        &gh.protection_request(77, &[5, 6]),
    );
    let d = deployment(&e);
    assert_eq!(
        d.kind,
        DeploymentEventKind::ProtectionRequested { run_id: 77 }
    );
    assert_eq!(d.environment, "prod-eu");
    assert_eq!(d.sha.as_deref(), Some(gh.sha));
    assert_eq!(d.pull_requests, vec![5, 6]);
    assert_eq!(d.repo.path.as_str(), "acme/platypus");
    assert_eq!(
        d.creator.as_ref().and_then(|c| c.username.as_deref()),
        Some("github-actions[bot]")
    );
    let e = github(
        "deployment_status",
        &gh.status("success", "mallory", "2026-03-02T10:00:00Z"),
    );
    let d = deployment(&e);
    assert_eq!(d.at, at("2026-03-02T10:00:00Z"));
    assert_eq!(d.actor.username.as_deref(), Some("octocat"));
    let gl = GlDeploy {
        deployable_id: None,
        ..GlDeploy::default()
    };
    let e = gitlab(&gl.hook("success", "2026-03-02 10:00:00 +0000"));
    let d = deployment(&e);
    assert_eq!(d.sha.as_deref(), Some(gl.sha));
    assert_eq!(d.repo.id, Some(42));
    assert_eq!(
        d.kind,
        DeploymentEventKind::Status {
            state: DeploymentState::Success,
            deployable_id: None
        }
    );
}

/// Bodies that must be refused: (event, body, why).
fn malformed() -> Vec<(&'static str, Value, &'static str)> {
    let rule = || fixture("github/deployment_protection_rule.requested.1.json");
    let dep = || fixture("github/deployment.created.1.json");
    let st = || fixture("github/deployment_status.created.1.json");
    let gl = || fixture("gitlab/deployment.blocked.1.json");
    let runs = "https://api.github.com/repos/Codertocat/Hello-World/actions/runs";
    vec![
        (
            "deployment_protection_rule",
            without(rule(), "/environment"),
            "no environment",
        ),
        (
            "deployment_protection_rule",
            with(rule(), "/environment", json!("  ")),
            "blank environment",
        ),
        (
            "deployment_protection_rule",
            without(rule(), "/repository"),
            "no repository",
        ),
        (
            "deployment_protection_rule",
            without(rule(), "/deployment_callback_url"),
            "no callback",
        ),
        (
            "deployment_protection_rule",
            with(
                rule(),
                "/deployment_callback_url",
                json!(format!("{runs}/abc/deployment_protection_rule")),
            ),
            "run id not a number",
        ),
        (
            "deployment_protection_rule",
            with(
                rule(),
                "/deployment_callback_url",
                json!(format!("{runs}/12/approve")),
            ),
            "not a protection rule callback",
        ),
        (
            "deployment_protection_rule",
            with(rule(), "/deployment_callback_url", json!(12)),
            "callback not a string",
        ),
        (
            "deployment_protection_rule",
            with(
                rule(),
                "/sha",
                json!("0000000000000000000000000000000000000000"),
            ),
            "two different commits",
        ),
        ("deployment", without(dep(), "/deployment"), "no deployment"),
        (
            "deployment",
            without(dep(), "/deployment/id"),
            "no deployment id",
        ),
        (
            "deployment",
            without(dep(), "/deployment/environment"),
            "no environment",
        ),
        ("deployment", without(dep(), "/deployment/sha"), "no sha"),
        ("deployment", without(dep(), "/repository"), "no repository"),
        (
            "deployment_status",
            without(st(), "/deployment_status"),
            "no status",
        ),
        (
            "deployment_status",
            without(st(), "/deployment_status/state"),
            "no state",
        ),
        (
            "deployment_status",
            with(st(), "/deployment_status/environment", json!("staging")),
            "status for another environment",
        ),
        (
            "deployment_status",
            with(st(), "/deployment/id", json!("145988746")),
            "id not a number",
        ),
        (
            "Deployment Hook",
            without(gl(), "/deployment_id"),
            "no deployment id",
        ),
        ("Deployment Hook", without(gl(), "/project"), "no project"),
        (
            "Deployment Hook",
            without(gl(), "/environment"),
            "no environment",
        ),
        ("Deployment Hook", without(gl(), "/status"), "no status"),
        (
            "Deployment Hook",
            with(gl(), "/short_sha", json!("deadbeef")),
            "short sha and commit url disagree",
        ),
        (
            "Deployment Hook",
            with(gl(), "/deployable_id", json!(-1)),
            "job id not an id",
        ),
    ]
}

#[tokio::test]
async fn malformed_deployment_payloads_are_refused_and_nothing_is_stored() {
    let app = TestApp::new().await;
    for (i, (event, body, why)) in malformed().into_iter().enumerate() {
        let delivery = format!("bad-{i}");
        let (status, _) = if event == "Deployment Hook" {
            app.gitlab_deployment(&delivery, &body).await
        } else {
            app.github_json(event, &delivery, &body).await
        };
        assert_eq!(status, StatusCode::BAD_REQUEST, "{event}: {why}");
    }
    // Neither is a body that is not JSON.
    let (status, _) = app.github("deployment_status", "bad-json", b"{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.gitlab("Deployment Hook", "bad-json-2", b"[").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.store.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn other_actions_are_acknowledged_and_ignored() {
    let app = TestApp::new().await;
    let rule = with(
        fixture("github/deployment_protection_rule.requested.1.json"),
        "/action",
        json!("resolved"),
    );
    let status = with(
        fixture("github/deployment_status.created.1.json"),
        "/action",
        json!("deleted"),
    );
    for (i, (event, body)) in [
        ("deployment_protection_rule", rule),
        ("deployment_status", status),
    ]
    .into_iter()
    .enumerate()
    {
        let (code, said) = app.github_json(event, &format!("other-{i}"), &body).await;
        assert_eq!(
            (code, said["status"].as_str()),
            (StatusCode::ACCEPTED, Some("ignored")),
            "{event}"
        );
    }
    assert_eq!(app.store.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn deployment_webhooks_must_be_signed() {
    let app = TestApp::new().await;
    let body = GhDeploy::default().protection_request(1, &[]).to_string();
    let req = github_request(
        "deployment_protection_rule",
        "unsigned-1",
        body.as_bytes(),
        b"not-the-secret",
    );
    assert_eq!(app.send(req).await.0, StatusCode::UNAUTHORIZED);
    let body = GlDeploy::default()
        .hook("blocked", "2026-08-02T07:59:54.000+00:00")
        .to_string();
    let req = gitlab_request("Deployment Hook", "unsigned-2", body.as_bytes(), "wrong");
    assert_eq!(app.send(req).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.store.pending().await.unwrap(), 0);
}
