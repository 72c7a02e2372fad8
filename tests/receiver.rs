//! The receiver's answers: signatures, malformed bodies, size caps, dedup, and what the dry-run
//! worker records.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use changegate::server::gitlab::{self, GitlabVerifier};
use common::*;
use std::sync::Arc;

fn labeled_pr() -> Vec<u8> {
    std::fs::read(corpus_dir().join("github/pull_request.labeled.1.json")).expect("payload")
}

fn gitlab_mr() -> Vec<u8> {
    std::fs::read(corpus_dir().join("gitlab/merge_request.update.1.json")).expect("payload")
}

#[tokio::test]
async fn github_signatures() {
    let app = TestApp::new().await;
    let body = labeled_pr();
    // Either configured secret verifies (rotation).
    let old = github_request("pull_request", "a", &body, b"old-secret");
    assert_eq!(app.send(old).await.0, StatusCode::ACCEPTED);
    let missing = Request::post("/webhooks/github")
        .header("x-github-event", "pull_request")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(app.send(missing).await.0, StatusCode::UNAUTHORIZED);
    let sha1 = Request::post("/webhooks/github")
        .header("x-github-event", "pull_request")
        .header("x-hub-signature", "sha1=00")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(app.send(sha1).await.0, StatusCode::UNAUTHORIZED);
    // A signature over other bytes fails even with the right secret.
    let mut tampered = github_request("pull_request", "b", &body, GITHUB_SECRET);
    *tampered.body_mut() = Body::from([body.as_slice(), b" "].concat());
    assert_eq!(app.send(tampered).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.store.pending().await.unwrap(),
        1,
        "only the valid delivery is stored"
    );
}

#[tokio::test]
async fn no_secret_refuses_everything_unless_unsigned_is_allowed() {
    let closed = TestApp::with(|s| {
        s.github_secrets = Arc::new(vec![]);
        s.gitlab = Arc::new(GitlabVerifier::default());
    })
    .await;
    let body = labeled_pr();
    let (status, json) = closed.github("pull_request", "a", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no webhook secret")
    );
    assert_eq!(
        closed
            .gitlab("Merge Request Hook", "b", &gitlab_mr())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let open = TestApp::with(|s| {
        s.github_secrets = Arc::new(vec![]);
        s.gitlab = Arc::new(GitlabVerifier::default());
        s.allow_unsigned = true;
    })
    .await;
    let unsigned = Request::post("/webhooks/github")
        .header("x-github-event", "pull_request")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(open.send(unsigned).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn gitlab_token_and_signing_token() {
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    let app = TestApp::with(|s| {
        s.gitlab = Arc::new(GitlabVerifier {
            tokens: vec![],
            signing_keys: vec![key.clone()],
            tolerance_secs: 300,
        })
    })
    .await;
    let body = gitlab_mr();
    let now = chrono::Utc::now().timestamp();
    let signed = |ts: i64, sig: String| {
        Request::post("/webhooks/gitlab")
            .header("x-gitlab-event", "Merge Request Hook")
            .header("idempotency-key", "idem-1")
            .header("webhook-id", "idem-1")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let good = gitlab::sign(&key, "idem-1", now, &body);
    assert_eq!(
        app.send(signed(
            now - 3600,
            gitlab::sign(&key, "idem-1", now - 3600, &body)
        ))
        .await
        .0,
        StatusCode::UNAUTHORIZED,
        "replayed an hour later"
    );
    assert_eq!(
        app.send(signed(
            now,
            gitlab::sign(b"other-key-other-key-other-key-00", "idem-1", now, &body)
        ))
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(signed(now, good.clone())).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.send(signed(now, good.clone())).await.0,
        StatusCode::OK,
        "same Idempotency-Key: duplicate"
    );
    // The same signed delivery replayed under a new, unsigned Idempotency-Key and UUID: the
    // signed webhook-id decides, so it is still a duplicate.
    let replay = Request::post("/webhooks/gitlab")
        .header("x-gitlab-event", "Merge Request Hook")
        .header("idempotency-key", "fresh-key")
        .header("x-gitlab-event-uuid", "fresh-uuid")
        .header("webhook-id", "idem-1")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", good)
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(
        app.send(replay).await.0,
        StatusCode::OK,
        "replay is a duplicate"
    );
    let token_only = gitlab_request("Merge Request Hook", "x", &body, GITLAB_TOKEN);
    assert_eq!(
        app.send(token_only).await.0,
        StatusCode::UNAUTHORIZED,
        "the signature is required once configured"
    );
    // A signing token as GitLab shows it decodes to the key used above.
    let token = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    assert_eq!(gitlab::signing_key(&token).unwrap(), key);
}

#[tokio::test]
async fn bad_bodies_and_headers() {
    let app = TestApp::with(|s| s.max_body_bytes = 64 * 1024).await;
    let (status, json) = app.github("pull_request", "a", b"{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"].as_str().unwrap().contains("malformed"));
    let (status, _) = app
        .github("pull_request", "b", br#"{"action":"opened"}"#)
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "valid JSON, not a pull_request payload"
    );
    let (status, _) = app.github("check_run", "c", b"[1,").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "ignored events still need JSON"
    );
    let no_event = Request::post("/webhooks/github")
        .header(
            "x-hub-signature-256",
            changegate::server::github::sign(GITHUB_SECRET, b"{}"),
        )
        .body(Body::from("{}"))
        .unwrap();
    let (status, json) = app.send(no_event).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"].as_str().unwrap().contains("X-GitHub-Event")
            || json["error"].as_str().unwrap().contains("x-github-event")
    );
    let big = vec![b' '; 65 * 1024];
    let (status, _) = app.github("pull_request", "d", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, json) = app.github("watch", "e", b"{}").await;
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored"))
    );
    let (status, json) = app.gitlab("System Hook", "f", b"{}").await;
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored"))
    );
    assert_eq!(app.store.pending().await.unwrap(), 0);
    let health = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(app.send(health).await.0, StatusCode::OK);
}

#[tokio::test]
async fn redelivery_is_acknowledged_once_and_processed_once() {
    let app = TestApp::new().await;
    let body = labeled_pr();
    let (first, _) = app.github("pull_request", "same-guid", &body).await;
    let (second, json) = app.github("pull_request", "same-guid", &body).await;
    assert_eq!((first, second), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(json["status"], "duplicate");
    // The same GUID on the other forge is another delivery.
    let (other, _) = app
        .gitlab("Merge Request Hook", "same-guid", &gitlab_mr())
        .await;
    assert_eq!(other, StatusCode::ACCEPTED);
    assert_eq!(app.drain().await, 2);
}

#[tokio::test]
async fn dry_run_worker_records_decision_and_planned_actions() {
    let app = TestApp::new().await;
    app.github("pull_request", "g1", &labeled_pr()).await;
    assert_eq!(app.drain().await, 1);
    let log = app
        .store
        .audit_of("github", "Codertocat/Hello-World", 2)
        .await
        .unwrap();
    let kinds: Vec<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, vec!["decision", "action", "action"]);
    assert_eq!(log[0].1["verdict"], "fail");
    assert_eq!(log[0].1["summary"], "Missing: Classify the change");
    assert_eq!(log[1].1["planned"]["action"], "set_status");
    assert_eq!(log[1].1["planned"]["state"], "failure");
    assert_eq!(log[1].1["dry_run"], true);
    assert_eq!(log[2].1["planned"]["action"], "upsert_comment");
    assert!(
        log[2].1["planned"]["body"]
            .as_str()
            .unwrap()
            .contains("CMT::Comprehensive")
    );
}

#[tokio::test]
async fn a_burst_for_one_change_is_one_run_and_later_events_wait() {
    let app = TestApp::new().await;
    let body = labeled_pr();
    for i in 0..3 {
        app.github("pull_request", &format!("o{i}"), &body).await;
    }
    let lease = std::time::Duration::from_secs(60);
    let run = app.store.claim(lease).await.unwrap().expect("a job");
    assert_eq!(run.id, 3, "the newest event of the change is the one run");
    let jobs = app.store.jobs_by_id(&[1, 2, 3]).await.unwrap();
    assert_eq!(jobs[0].covered_by, Some(3));
    assert_eq!(jobs[1].covered_by, Some(3));
    assert_eq!(
        (jobs[0].state.as_str(), jobs[2].state.as_str()),
        ("done", "running")
    );
    // An event arriving while the change runs waits for it.
    app.github("pull_request", "o3", &body).await;
    assert!(
        app.store.claim(lease).await.unwrap().is_none(),
        "one run per change at a time"
    );
    app.store.complete(run.id, 0, 0).await.unwrap();
    let next = app
        .store
        .claim(lease)
        .await
        .unwrap()
        .expect("the later event");
    assert_eq!(next.id, 4);
    // Failed jobs are visible and can be run again.
    app.store.fail(next.id, "boom", None).await.unwrap();
    let jobs = app.store.unfinished_jobs().await.unwrap();
    assert_eq!(jobs.iter().filter(|j| j.state == "failed").count(), 1);
    assert!(app.store.retry(next.id).await.unwrap());
    assert!(
        !app.store.retry(next.id).await.unwrap(),
        "only failed jobs are retried"
    );
}
