//! Deployment gates end to end on the fake GitHub: protection-rule requests decided from
//! changegate's own records, answered through the run's callback, waiting durably, and
//! `GET /gate`. Issue 23's "Done when" list, one test each.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use changegate::model::Forge;
use common::deploy_world::{BASE, DeployWorld, Gate, PUSHED, RULES, approved, baselines, merged};
use common::github_setup::{H1, at, move_to, t};
use std::sync::Arc;
use tower::ServiceExt;

#[tokio::test]
async fn a_reviewed_change_staged_long_enough_deploys_in_its_window() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    g.staged("2026-03-10T09:01:00Z").await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert!(approved(&a), "{a:?}");
    assert!(a.1.contains("in window `business hours`"), "{}", a.1);
    // Its success then makes H1 the baseline: a redeploy of it is allowed.
    g.succeeded(
        "production",
        H1,
        1002,
        "github-actions[bot]",
        "2026-03-10T10:05:00Z",
    )
    .await;
    let b =
        g.s.app
            .store
            .baseline(Forge::Github, "acme/platypus", "production")
            .await
            .unwrap();
    assert_eq!(b.map(|b| b.sha), Some(H1.to_string()));
    // The decision is audited on the repository's chain.
    let rows =
        g.s.app
            .store
            .audit_rows("github", "acme/platypus", None, 0)
            .await
            .unwrap();
    assert!(rows.iter().any(|r| r.kind == "deployment_decision" && r.detail["decision"]["decision"] == "allow"));
}

#[tokio::test]
async fn an_unapproved_change_in_range_denies() {
    let s = at("2026-03-10T09:00:00Z").await;
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", RULES).unwrap());
    let d = DeployWorld::mount(&s.gh).await;
    d.commit(BASE);
    d.commit(H1);
    d.environment("production", true, false);
    d.environment("staging", false, false);
    // Merged without the peer review: its status failed when it merged.
    s.deliver("opened", None, "alice", "open-7").await;
    s.gh.merge_as(7, H1, "2026-03-10T09:00:00Z");
    s.deliver("closed", None, "alice", "merge-7").await;
    baselines(&s, "2026-03-10T09:00:00Z", &["production", "staging"]).await;
    let g = Gate { s, d };
    // Staging and production alike.
    for (env, run) in [("staging", 1), ("production", 2)] {
        let a = g.ask(env, H1, run).await;
        assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
        assert!(a.1.contains("#7 did not pass when it merged"), "{}", a.1);
    }
}

#[tokio::test]
async fn a_direct_push_denies_until_accepted() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    g.d.commit(PUSHED);
    // Staging, governed too, denies the pushed head for the same reason, and so does
    // production.
    for (env, run) in [("staging", 1), ("production", 2)] {
        let a = g.ask(env, PUSHED, run).await;
        assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
        assert!(
            a.1.contains("reached the deployed branch without a change"),
            "{}",
            a.1
        );
        assert!(a.1.contains("`d00000000000`"), "{}", a.1);
    }
    g.s.app
        .store
        .accept_commit(
            Forge::Github,
            "acme/platypus",
            PUSHED,
            "oscar",
            "hotfix reviewed",
        )
        .await
        .unwrap();
    let (state, _) = g.ask("staging", PUSHED, 4).await;
    assert_eq!(state.as_deref(), Some("approved"));
    g.succeeded(
        "staging",
        PUSHED,
        1004,
        "github-actions[bot]",
        "2026-03-10T09:01:00Z",
    )
    .await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let b = g.ask("production", PUSHED, 3).await;
    assert!(approved(&b), "{b:?}");
}

#[tokio::test]
async fn outside_the_window_it_waits_then_allows_by_itself() {
    // Saturday 14 March 2026.
    let g = merged("2026-03-14T09:00:00Z", RULES, None).await;
    g.staged("2026-03-14T09:01:00Z").await;
    move_to(&g.s, "2026-03-14T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0, None, "a report while waiting: {a:?}");
    assert!(
        a.1.contains("decides again at 2026-03-16 09:00 UTC"),
        "{}",
        a.1
    );
    // Monday 09:00 (GMT): the durable timer decides again, and allows.
    move_to(&g.s, "2026-03-16T09:00:00Z").await;
    let b = g.last(2);
    assert!(approved(&b), "{b:?}");
}

/// Saturday: rita requests an exception on #7, olga and mona approve, rita confirms.
async fn excepted(g: &Gate) {
    g.s.apply_label("rita", "Exception Deployment::Requested")
        .await;
    g.s.apply_label("olga", "Ops Impact::Approved").await;
    g.s.apply_label("mona", "Ops Manager::Approved").await;
    g.s.apply_label("rita", "Exception Deployment::Confirmed")
        .await;
}

#[tokio::test]
async fn an_exception_with_confirmation_allows_outside_the_window_once() {
    let g = merged("2026-03-14T09:00:00Z", RULES, None).await;
    g.staged("2026-03-14T09:01:00Z").await;
    move_to(&g.s, "2026-03-14T09:40:00Z").await;
    excepted(&g).await;
    move_to(&g.s, "2026-03-14T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert!(approved(&a), "{a:?}");
    assert!(a.1.contains("requested by `rita`"), "{}", a.1);
    // Used once: the next deployment of the same change needs a new one.
    let b = g.ask("production", H1, 3).await;
    assert_eq!(b.0, None, "{b:?}");
    assert!(b.1.contains("used its exception"), "{}", b.1);
}

#[tokio::test]
async fn an_exception_for_one_weekend_does_not_carry_to_the_next() {
    let g = merged("2026-03-14T09:00:00Z", RULES, None).await;
    move_to(&g.s, "2026-03-14T09:40:00Z").await;
    excepted(&g).await;
    // The next Saturday, staged again.
    move_to(&g.s, "2026-03-21T09:00:00Z").await;
    g.staged("2026-03-21T09:01:00Z").await;
    move_to(&g.s, "2026-03-21T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0, None, "{a:?}");
    assert!(a.1.contains("does not carry to this one"), "{}", a.1);
}

#[tokio::test]
async fn a_blocked_period_denies_without_its_exception() {
    // Tuesday 24 March 2026, in business hours, inside the quarter close.
    let g = merged("2026-03-24T09:00:00Z", RULES, None).await;
    // Staging, governed too, is inside the freeze as well.
    let a = g.ask("staging", H1, 1).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(a.1.contains("blocked period `quarter-close`"), "{}", a.1);
    move_to(&g.s, "2026-03-24T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(a.1.contains("blocked period `quarter-close`"), "{}", a.1);
}

#[tokio::test]
async fn staging_too_recent_waits() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    g.staged("2026-03-10T09:48:00Z").await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0, None, "{a:?}");
    assert!(a.1.contains("for 12 min of 30 min"), "{}", a.1);
    move_to(&g.s, "2026-03-10T10:18:00Z").await;
    assert!(approved(&g.last(2)), "{:?}", g.last(2));
}

#[tokio::test]
async fn a_staging_success_created_by_a_developer_does_not_count() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    // Created and marked successful by a developer: changegate never allowed it.
    g.d.deployment(555, H1, "staging", "dev", "success", "2026-03-10T08:00:00Z");
    g.succeeded("staging", H1, 555, "dev", "2026-03-10T08:00:00Z")
        .await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(a.1.contains("not a trusted deployer"), "{}", a.1);
}

#[tokio::test]
async fn emergency_outside_the_window_allows_and_says_what_is_owed() {
    let g = merged("2026-03-14T09:00:00Z", RULES, Some("EMERGENCY")).await;
    g.staged("2026-03-14T09:01:00Z").await;
    move_to(&g.s, "2026-03-14T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert!(approved(&a), "{a:?}");
    assert!(a.1.contains("#7 still owes `ops-manager`"), "{}", a.1);
}

#[tokio::test]
async fn a_first_deployment_without_baseline_denies_until_one_is_recorded() {
    let s = at("2026-03-10T09:00:00Z").await;
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", RULES).unwrap());
    let d = DeployWorld::mount(&s.gh).await;
    d.commit(BASE);
    d.commit(H1);
    d.environment("production", true, false);
    d.environment("staging", false, false);
    s.apply_label("peter", "Peer::Approved").await;
    s.gh.merge_as(7, H1, "2026-03-10T09:00:00Z");
    s.deliver("closed", None, "alice", "merge-7").await;
    baselines(&s, "2026-03-10T09:00:00Z", &["staging"]).await;
    let g = Gate { s, d };
    g.staged("2026-03-10T09:01:00Z").await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(a.1.contains("it has no baseline"), "{}", a.1);
    g.s.app
        .store
        .record_success(
            Forge::Github,
            "acme/platypus",
            "production",
            BASE,
            -2,
            "operator",
            Some("oscar"),
            t("2026-03-10T10:00:00Z"),
            "recorded by `oscar`",
        )
        .await
        .unwrap();
    let b = g.ask("production", H1, 3).await;
    assert!(approved(&b), "{b:?}");
}

#[tokio::test]
async fn a_rollback_to_a_sha_never_allowed_denies() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    // Production runs H1 (a trusted baseline), and someone rolls back to BASE.
    g.s.app
        .store
        .record_success(
            Forge::Github,
            "acme/platypus",
            "production",
            H1,
            -3,
            "operator",
            Some("oscar"),
            t("2026-03-10T09:30:00Z"),
            "recorded",
        )
        .await
        .unwrap();
    // BASE's staging evidence: staging's baseline, recorded by an operator at 09:00.
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", BASE, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(a.1.contains("which changegate never allowed"), "{}", a.1);
}

#[tokio::test]
async fn the_gate_route_needs_its_token_and_answers_200_only_for_allow() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    g.staged("2026-03-10T09:01:00Z").await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let mut tokens = std::collections::BTreeMap::new();
    tokens.insert(
        "github:acme/other".to_string(),
        secrecy::SecretString::from("other-token"),
    );
    let router = changegate::server::gate::router(changegate::server::gate::GateState {
        worker: g.s.app.worker.clone(),
        token: Some(Arc::new(secrecy::SecretString::from("gate-token"))),
        tokens: Arc::new(tokens),
    });
    let ask_on = |token: Option<&str>, sha: &str, git_ref: &str| {
        let mut r = Request::get(format!(
            "/gate?forge=github&repo=acme/platypus&sha={sha}&environment=production{git_ref}"
        ));
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    let ask = |token: Option<&str>, sha: &str| ask_on(token, sha, "&ref=main");
    let call = |req: Request<Body>| {
        let router = router.clone();
        async move {
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            )
        }
    };
    assert_eq!(call(ask(None, H1)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(ask(Some("wrong"), H1)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another repository's token does not open this one.
    assert_eq!(
        call(ask(Some("other-token"), H1)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Without the deployed branch, changes merged into any branch would count: denied.
    let (status, body) = call(ask_on(Some("gate-token"), H1, "")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.to_string().contains("deployed branch is not known"),
        "{body}"
    );
    // A `/gate` call carries no default branch: changegate reads it from the repository
    // (`GET /repos/{o}/{r}`), so an entry without `branches` deploys from `main`.
    let (status, body) = call(ask(Some("gate-token"), H1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "allow");
    assert!(
        g.s.gh
            .calls()
            .iter()
            .any(|c| c == "GET /repos/acme/platypus"),
        "the default branch is read from the API"
    );
    // When the repository cannot be read (5xx on each of the three tries), the gate fails
    // closed.
    for _ in 0..3 {
        g.s.gh.fail_next(
            "GET /repos/acme/platypus$",
            wiremock::ResponseTemplate::new(502),
        );
    }
    let (status, body) = call(ask(Some("gate-token"), H1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.to_string()
            .contains("cannot be verified: the repository's default branch cannot be read"),
        "{body}"
    );
    // A repository GitLab or GitHub answers 404 for (the token lost access) fails closed too.
    g.s.gh.fail_next(
        "GET /repos/acme/platypus$",
        wiremock::ResponseTemplate::new(404)
            .set_body_json(serde_json::json!({ "message": "Not Found" })),
    );
    let (status, body) = call(ask(Some("gate-token"), H1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("default branch"), "{body}");
    // The caller names the branch; one production does not deploy from is denied.
    let (status, body) = call(ask_on(Some("gate-token"), H1, "&ref=evil")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.to_string()
            .contains("production deploys only from `main`; this deployment is from `evil`"),
        "{body}"
    );
    let (status, body) = call(ask(Some("gate-token"), BASE)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["decision"], "deny");
    assert!(body["reasons"].as_array().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn an_unchecked_change_issue_task_denies() {
    let rules = format!(
        "{}change_issue:\n  approvals: [peer]\n",
        RULES.replace(
            "    after: {environment",
            "    checklist: complete\n    after: {environment"
        )
    );
    let s = at("2026-03-10T09:00:00Z").await;
    s.gh.open_issue(8, "alice");
    s.gh.set_body(
        8,
        "Plan\n- [x] Notify the service desk\n- [ ] Rollback plan\n",
    );
    s.gh.set_body(7, "Change: #8\n");
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", &rules).expect("valid rules"));
    let d = DeployWorld::mount(&s.gh).await;
    d.commit(BASE);
    d.commit(H1);
    d.environment("production", true, false);
    d.environment("staging", false, false);
    s.apply_label("peter", "Peer::Approved").await;
    s.gh.merge_as(7, H1, "2026-03-10T09:00:00Z");
    s.deliver("closed", None, "alice", "merge-7").await;
    baselines(&s, "2026-03-10T09:00:00Z", &["production", "staging"]).await;
    let g = Gate { s, d };
    g.staged("2026-03-10T09:01:00Z").await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(a.1.contains("`Rollback plan` is not checked"), "{}", a.1);
    g.s.gh.set_body(
        8,
        "Plan\n- [x] Notify the service desk\n- [x] Rollback plan\n",
    );
    let b = g.ask("production", H1, 3).await;
    assert!(approved(&b), "{b:?}");
}

#[tokio::test]
async fn a_deployment_seen_running_without_an_allow_is_recorded_and_explained() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    // Nobody asked changegate: the deployment just ran.
    g.succeeded("production", H1, 4242, "dev", "2026-03-10T09:05:00Z")
        .await;
    let seen =
        g.s.app
            .store
            .unapproved(Forge::Github, "acme/platypus", "production", H1)
            .await
            .unwrap();
    assert_eq!(
        seen,
        vec![(4242, "seen running without an allow".to_string())]
    );
    // It is no evidence: production's baseline stays BASE.
    let b =
        g.s.app
            .store
            .baseline(Forge::Github, "acme/platypus", "production")
            .await
            .unwrap();
    assert_eq!(b.map(|b| b.sha), Some(BASE.to_string()));
    let rows =
        g.s.app
            .store
            .audit_rows("github", "acme/platypus", None, 0)
            .await
            .unwrap();
    assert!(rows.iter().any(|r| r.kind == "deployment_unapproved"));
}
