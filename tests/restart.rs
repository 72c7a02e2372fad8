//! `changegate serve` killed with SIGKILL right after acknowledging a burst of deliveries
//! processes every one of them once restarted, with SQLite and with PostgreSQL.

mod common;

use changegate::store::Store;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(db: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_changegate"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CHANGEGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("CHANGEGATE__DATABASE__URL", db)
        .env(
            "CHANGEGATE__GITHUB__WEBHOOK_SECRET",
            std::str::from_utf8(GITHUB_SECRET).unwrap(),
        )
        .env("CHANGEGATE__WORKER__LEASE_SECS", "3")
        .env("CHANGEGATE__WORKER__CONCURRENCY", "1")
        .env("CHANGEGATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("changegate serve starts")
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    let start = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn burst_kill_restart(db: &str) {
    const N: usize = 120;
    let client = reqwest::Client::new();
    let port = free_port();
    let mut first = serve(db, port);
    wait_ready(&client, port).await;
    let body = std::fs::read(corpus_dir().join("github/pull_request.labeled.1.json")).unwrap();
    let signature = changegate::server::github::sign(GITHUB_SECRET, &body);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..N {
        let (client, body, signature) = (client.clone(), body.clone(), signature.clone());
        sends.spawn(async move {
            client
                .post(format!("http://127.0.0.1:{port}/webhooks/github"))
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", format!("burst-{i}"))
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await
                .expect("delivered")
                .status()
                .as_u16()
        });
    }
    while let Some(code) = sends.join_next().await {
        assert_eq!(code.unwrap(), 202, "acknowledged");
    }
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    let store = Store::open(db).await.unwrap();
    let left = store.pending().await.unwrap();
    eprintln!("{left} of {N} deliveries were still waiting when the process was killed");
    let port = free_port();
    let mut second = serve(db, port);
    let start = Instant::now();
    while store.pending().await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the restarted process did not drain the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    // The jobs of the burst (the bot also schedules timers of its own: blocked periods).
    let all: Vec<i64> = (1..=N as i64 + 100).collect();
    let jobs: Vec<_> = store
        .jobs_by_id(&all)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| {
            j.delivery_id
                .as_deref()
                .is_some_and(|d| d.starts_with("burst-"))
        })
        .collect();
    assert_eq!(jobs.len(), N, "every acknowledged delivery was stored");
    assert!(
        jobs.iter().all(|j| j.state == "done"),
        "every delivery processed"
    );
    // Each delivery was evaluated, or covered by the evaluation of a later one of its change.
    let decisions = store
        .audit_rows("github", "Codertocat/Hello-World", Some(2), 0)
        .await
        .unwrap();
    let decided: Vec<String> = decisions
        .iter()
        .filter(|r| r.kind == "decision")
        .filter_map(|r| r.delivery_id.clone())
        .collect();
    for j in &jobs {
        // A covering job may itself have been covered (it was interrupted by the kill).
        let mut run = j;
        while let Some(by) = run.covered_by {
            run = jobs.iter().find(|k| k.id == by).expect("the covering job");
        }
        assert!(
            decided.contains(run.delivery_id.as_ref().unwrap()),
            "job {} (run as job {}) was never evaluated",
            j.id,
            run.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("state.db").display());
    burst_kill_restart(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() {
    let Some(base) = pg::base_url() else { return };
    let db = pg::fresh_schema(&base).await;
    burst_kill_restart(&db).await;
}
