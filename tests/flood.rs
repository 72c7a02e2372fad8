//! Unauthenticated memory exhaustion (issue "Fail closed", item 11): bodies must be whole
//! before a signature can be checked, so the bytes held at once are bounded, requests that
//! cannot be signed are refused before their body is read, slow bodies time out, and signed
//! deliveries keep flowing during a flood of large bodies.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use changegate::server::intake::BodyBudget;
use common::*;
use http_body::Frame;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tower::ServiceExt;

/// A body that arrives as its sender sends it, and stalls while the sender waits.
struct Trickle(mpsc::Receiver<Bytes>);

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

const MIB: usize = 1024 * 1024;

/// A request to the GitHub endpoint with a well-formed but wrong signature, declaring
/// `declared` bytes, whose body the returned sender feeds.
fn unsigned(declared: usize) -> (Request<Body>, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(256);
    let req = Request::post("/webhooks/github")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "flood")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .header("content-length", declared.to_string())
        .body(Body::new(Trickle(rx)))
        .unwrap();
    (req, tx)
}

async fn send_chunks(tx: &mpsc::Sender<Bytes>, bytes: usize) {
    for _ in 0..bytes / (64 * 1024) {
        tx.send(Bytes::from(vec![b'x'; 64 * 1024])).await.unwrap();
    }
}

#[tokio::test]
async fn a_flood_of_large_bodies_is_bounded_and_signed_deliveries_still_pass() {
    // 8 MiB in all: 6 MiB for large bodies, 2 MiB kept for bodies of webhook size.
    let app = TestApp::with(|s| {
        s.max_body_bytes = 4 * MIB;
        // The bodies stall on purpose to hold their room: no minimum rate here (that stalled
        // bodies are cut is tests/fail_closed_intake.rs).
        s.intake = Arc::new(BodyBudget::new(8 * MIB, Duration::from_secs(30)).with_min_rate(0));
    })
    .await;
    let mut flood = vec![];
    let mut senders = vec![];
    for _ in 0..4 {
        let (req, tx) = unsigned(4 * MIB);
        flood.push(tokio::spawn(app.router.clone().oneshot(req)));
        senders.push(tx);
    }
    // Three bodies send 2 MiB each and stall: the large share is full.
    for tx in &senders[..3] {
        send_chunks(tx, 2 * MIB).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fourth finds no room: told to come back, not buffered.
    send_chunks(&senders[3], 256 * 1024).await;
    let fourth = tokio::time::timeout(Duration::from_secs(10), flood.pop().unwrap())
        .await
        .expect("answered while the others stall")
        .unwrap()
        .unwrap();
    assert_eq!(fourth.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fourth.headers()["retry-after"], "5");
    // A real, signed delivery during the flood is stored and acknowledged.
    let body = std::fs::read(corpus_dir().join("github/pull_request.labeled.1.json")).unwrap();
    let mut req = github_request("pull_request", "real-1", &body, GITHUB_SECRET);
    req.headers_mut()
        .insert("content-length", body.len().to_string().parse().unwrap());
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), app.send(req))
        .await
        .expect("a signed delivery is not held up by the flood");
    assert_eq!(status, StatusCode::ACCEPTED);
    // The stalled bodies end; their signatures fail; the room they held is free again.
    drop(senders);
    for f in flood {
        let resp = tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let (req, tx) = unsigned(4 * MIB);
    let again = tokio::spawn(app.router.clone().oneshot(req));
    send_chunks(&tx, 4 * MIB).await;
    drop(tx);
    assert_eq!(
        again.await.unwrap().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn what_cannot_be_signed_is_refused_before_its_body_is_read() {
    let app = TestApp::new().await;
    let cases = [
        // No signature header.
        ("/webhooks/github", vec![("x-github-event", "pull_request")]),
        // A signature that cannot be one (not 64 hex digits).
        (
            "/webhooks/github",
            vec![
                ("x-github-event", "pull_request"),
                ("x-hub-signature-256", "sha256=zz"),
            ],
        ),
        // GitLab: a wrong X-Gitlab-Token.
        (
            "/webhooks/gitlab",
            vec![
                ("x-gitlab-event", "Merge Request Hook"),
                ("x-gitlab-token", "guess"),
            ],
        ),
    ];
    for (path, headers) in cases {
        // The body never starts: the answer must not wait for it.
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        let mut req = Request::post(path);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Body::new(Trickle(rx))).unwrap();
        let (status, _) = tokio::time::timeout(Duration::from_secs(2), app.send(req))
            .await
            .unwrap_or_else(|_| panic!("{path} {headers:?}: answered without the body"));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {headers:?}");
        drop(tx);
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused() {
    let app = TestApp::with(|s| {
        s.intake = Arc::new(BodyBudget::new(64 * MIB, Duration::from_millis(300)));
    })
    .await;
    let (req, tx) = unsigned(1000);
    tx.send(Bytes::from_static(b"{\"action\":")).await.unwrap();
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), app.send(req))
        .await
        .expect("the timeout answers");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("server.read_timeout_secs")
    );
    drop(tx);
}
