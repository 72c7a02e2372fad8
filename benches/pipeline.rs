//! Throughput of the whole pipeline on loopback, with SQLite and with PostgreSQL: signed
//! deliveries acknowledged per second (each stored durably before the answer), then jobs
//! processed per second by the worker against a fake GitHub (stateful, on wiremock).
//!
//!   cargo bench --bench pipeline            (PostgreSQL from CHANGEGATE_BENCH_DATABASE_URL,
//!                                            default postgres://postgres@127.0.0.1:5432/test)
//!
//! It prints figures; it asserts nothing.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::github_world::GithubWorld;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

const DELIVERIES: usize = 2000;
const CHANGES: u64 = 50;
const CONCURRENCY: usize = 32;

fn payload(n: u64) -> Vec<u8> {
    let path = corpus_dir().join("github/pull_request.labeled.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["number"] = json!(n);
    v["repository"]["full_name"] = json!("acme/platypus");
    v["pull_request"]["number"] = json!(n);
    v["pull_request"]["head"]["sha"] = json!(format!("{n:040}"));
    serde_json::to_vec(&v).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn run(label: &str, db_url: &str) {
    let gh = GithubWorld::start().await;
    gh.member("bt-integration-managers", "mona");
    for n in 1..=CHANGES {
        gh.open_pr(n, "alice", &format!("{n:040}"));
        gh.add_label(n, "CMT::Minor", "alice");
    }
    let app = TestApp::on_database(db_url, Some(&gh.url())).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::new();
    let bodies: Vec<(Vec<u8>, String)> = (0..CHANGES)
        .map(|i| {
            let b = payload(i + 1);
            let s = changegate::server::github::sign(GITHUB_SECRET, &b);
            (b, s)
        })
        .collect();
    let bodies = Arc::new(bodies);

    // 1. Acknowledge: CONCURRENCY clients post DELIVERIES signed deliveries.
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CONCURRENCY {
        let (client, bodies) = (client.clone(), bodies.clone());
        tasks.spawn(async move {
            let mut lat = vec![];
            for i in (c..DELIVERIES).step_by(CONCURRENCY) {
                let (body, sig) = &bodies[i % CHANGES as usize];
                let t = Instant::now();
                let r = client
                    .post(format!("http://{addr}/webhooks/github"))
                    .header("x-github-event", "pull_request")
                    .header("x-github-delivery", format!("bench-{i}"))
                    .header("x-hub-signature-256", sig)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 202);
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut lat = vec![];
    while let Some(l) = tasks.join_next().await {
        lat.extend(l.unwrap());
    }
    let ack_secs = start.elapsed().as_secs_f64();
    lat.sort();

    // 2. Process: 4 worker loops drain the queue against the fake forge.
    let start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(app.worker.clone().run(4, Arc::new(Notify::new()), stop_rx));
    while app.store.pending().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let process_secs = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    worker.await.unwrap();
    let calls = gh.calls().len();
    println!(
        "| {label:<10} | {:>8.0} | {:>6.1} | {:>6.1} | {:>9.0} | {:>10.1} |",
        DELIVERIES as f64 / ack_secs,
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        DELIVERIES as f64 / process_secs,
        calls as f64 / DELIVERIES as f64,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("{DELIVERIES} signed pull_request.labeled deliveries for {CHANGES} changes, {CONCURRENCY} concurrent clients, loopback");
        println!("| store      | acked/s  | p50 ms | p99 ms | processed/s | API calls/delivery |");
        println!("|------------|----------|--------|--------|-------------|--------------------|");
        let dir = tempfile::tempdir().unwrap();
        run("SQLite", &format!("sqlite://{}", dir.path().join("bench.db").display())).await;
        let base = std::env::var("CHANGEGATE_BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match tokio::time::timeout(Duration::from_secs(5), sqlx::AnyPool::connect(&base)).await {
            Ok(Ok(_)) => run("PostgreSQL", &pg::fresh_schema(&base).await).await,
            _ => println!("| PostgreSQL | not reachable at {base} |"),
        }
    });
}
