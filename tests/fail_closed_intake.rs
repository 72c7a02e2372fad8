//! Intake and metrics under abuse (issue "Fail closed, round 2", item 15), against
//! `changegate serve` on a random port over real TCP: bodies that stall are cut so that they
//! cannot hold the small-body reserve, and event names nobody signed do not become metric
//! labels.

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `changegate serve` with its default intake settings, the GitHub secret, no forge token.
async fn serve(dir: &std::path::Path) -> (Serve, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .arg("serve")
        .env("CHANGEGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", dir.join("s.db").display()),
        )
        .env("CHANGEGATE__RULES__PATH", undated_rules())
        .env(
            "CHANGEGATE__GITHUB__WEBHOOK_SECRET",
            std::str::from_utf8(GITHUB_SECRET).unwrap(),
        )
        .env("CHANGEGATE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let serve = Serve(child);
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200);
        if ready {
            return (serve, port);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "serve not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The head of a GitHub delivery with a well-formed signature nobody made.
fn forged_head(event: &str, delivery: &str, length: usize) -> String {
    format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-github-event: {event}\r\nx-github-delivery: {delivery}\r\nx-hub-signature-256: sha256={}\r\ncontent-length: {length}\r\n\r\n",
        "0".repeat(64)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_stalled_bodies_delay_a_signed_delivery_by_under_three_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, port) = serve(dir.path()).await;
    // 40 senders each declare a body of webhook size (1 MiB, the reserve's), send all of it
    // but its last byte and stall: sixteen of them fill the 16 MiB kept for such bodies.
    let mut stalled = vec![];
    for i in 0..40 {
        if i == 16 {
            // The reserve is full: the others queue behind.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        stalled.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let head = forged_head("pull_request", &format!("slow-{i}"), 1024 * 1024);
            s.write_all(head.as_bytes()).await.unwrap();
            // The server may stop reading (no room) or cut the body: either is fine.
            let _ = s.write_all(&vec![b' '; 1024 * 1024 - 1]).await;
            tokio::time::sleep(Duration::from_secs(120)).await;
            drop(s);
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = std::fs::read(corpus_dir().join("github/pull_request.opened.1.json")).unwrap();
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "signed-during-stall")
        .header(
            "x-hub-signature-256",
            changegate::server::github::sign(GITHUB_SECRET, &body),
        )
        .body(body)
        .send()
        .await
        .expect("answered");
    let took = started.elapsed();
    eprintln!("the signed delivery was answered in {took:?}");
    assert_eq!(answer.status().as_u16(), 202, "after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    for s in stalled {
        s.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_names_nobody_signed_do_not_grow_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, port) = serve(dir.path()).await;
    // 500 requests, each with an event name of its own, whose body breaks off: refused
    // before any signature could be checked.
    for i in 0..500 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let head = forged_head(&format!("invented-{i}"), &format!("x-{i}"), 100);
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(b"{\"partial\":").await.unwrap();
        s.shutdown().await.unwrap();
        let mut answer = vec![];
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut answer).await;
    }
    let page = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("changegate_webhooks_received_total{"))
        .collect();
    assert!(
        !series.is_empty() && series.len() <= 10,
        "{} series: {:?}",
        series.len(),
        &series[..series.len().min(5)]
    );
    assert!(!page.contains("invented-"), "an unsigned name is a label");
    assert!(
        series
            .iter()
            .any(|l| l.contains("event=\"other\"") && l.ends_with(" 500")),
        "{series:?}"
    );
}
