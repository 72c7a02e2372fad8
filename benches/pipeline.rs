//! Throughput of the whole pipeline on loopback, with SQLite and with PostgreSQL: signed
//! deliveries acknowledged per second (each stored durably before the answer), then jobs
//! processed per second by the worker against a fake GitHub (stateful, on wiremock).
//!
//!   cargo bench --bench pipeline            (PostgreSQL from CHANGEGATE_BENCH_DATABASE_URL,
//!                                            default postgres://postgres@127.0.0.1:5432/test)
//!
//! It prints figures; it asserts nothing. `-- changed_diff` prints only what
//! `reset_on_push: changed_diff` costs in forge calls; `-- units` only the REST units and
//! GraphQL points per event scenario and of a burst of 200 labeled pull requests.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

#[path = "pipeline/changed_diff.rs"]
mod changed_diff;

use common::github_world::GithubWorld;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    let worker = tokio::spawn(app.worker.clone().run(4, app.wake.clone(), stop_rx));
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

/// The forge API calls one event costs, per scenario, with the shipped rules, and the quota
/// units among them (every answer but a 304 to a conditional request; the fake honours
/// `If-None-Match` as GitHub does); with `graphql`, the fake answers the snapshot and members
/// queries, each of cost 1 (a GraphQL point, from a budget apart from the units).
async fn calls_per_scenario(graphql: bool) {
    let gh = GithubWorld::start().await;
    if graphql {
        gh.enable_graphql();
    }
    gh.member("bt-integration-managers", "mona");
    gh.open_pr(1, "alice", &format!("{:040}", 1));
    let app = TestApp::with_forges(Some(&gh.url()), None).await;
    let deliver = |delivery: &'static str,
                   action: &'static str,
                   label: Option<&'static str>,
                   sender: &'static str| {
        let mut v: Value = serde_json::from_slice(&payload(1)).unwrap();
        v["action"] = json!(action);
        v["sender"] = json!({ "login": sender, "id": 1 });
        match label {
            Some(l) => v["label"] = json!({ "name": l }),
            None => {
                v.as_object_mut().unwrap().remove("label");
            }
        }
        (delivery, serde_json::to_vec(&v).unwrap())
    };
    println!("| scenario | reads | read units | GraphQL points | writes | calls | quota units |");
    println!("|---|---|---|---|---|---|---|");
    let scenarios = [
        (
            "opened, cold caches (bot account read once)",
            None,
            deliver("c1", "opened", None, "alice"),
        ),
        (
            "edited, nothing changes (first after the bot's own writes)",
            None,
            deliver("c1b", "edited", None, "alice"),
        ),
        (
            "edited, nothing changes, warm caches",
            None,
            deliver("c1c", "edited", None, "alice"),
        ),
        (
            "labeled CMT::Minor (verdict and comment change)",
            Some("CMT::Minor"),
            deliver("c2", "labeled", Some("CMT::Minor"), "alice"),
        ),
        (
            "the same delivery again",
            None,
            deliver("c2", "labeled", Some("CMT::Minor"), "alice"),
        ),
        (
            "edited, nothing changes (first after the bot's own writes)",
            None,
            deliver("c3", "edited", None, "alice"),
        ),
        (
            "edited, nothing changes, warm caches",
            None,
            deliver("c3b", "edited", None, "alice"),
        ),
        (
            "labeled manager approval, new approver (membership asked)",
            Some("BT Integration Manager::Approved"),
            deliver(
                "c4",
                "labeled",
                Some("BT Integration Manager::Approved"),
                "mona",
            ),
        ),
        (
            "edited after it, warm caches, nothing changes",
            None,
            deliver("c5", "edited", None, "alice"),
        ),
        (
            "edited again, warm caches, nothing changes",
            None,
            deliver("c6", "edited", None, "alice"),
        ),
    ];
    for (name, label, (delivery, body)) in scenarios {
        if let Some(l) = label {
            let who = if l.starts_with("BT") { "mona" } else { "alice" };
            gh.add_label(1, l, who);
        }
        gh.clear_calls();
        let free_before = gh.state.lock().unwrap().not_modified;
        let points_before = gh.graphql_queries();
        app.github("pull_request", delivery, &body).await;
        app.worker.drain().await.unwrap();
        let free = gh.state.lock().unwrap().not_modified - free_before;
        let points = gh.graphql_queries() - points_before;
        let calls = gh.calls();
        let gets = calls.iter().filter(|c| c.starts_with("GET ")).count();
        // GraphQL queries (answered or not) are reads too, POSTs though they are.
        let queries = calls.iter().filter(|c| *c == "POST /graphql").count();
        let reads = gets + queries;
        let writes = calls.len() - reads;
        let read_units = gets as u64 - free + (queries as u64 - points);
        println!(
            "| {name} | {reads} | {read_units} | {points} | {writes} | {} | {} |",
            calls.len(),
            read_units + writes as u64
        );
    }
}

/// 200 open pull requests labeled within a second (cold caches, first sight of each): how long
/// until every status is right, and what it cost: REST units (answers but 304s) and, with
/// `graphql`, GraphQL points (each query costs 1 on the fake, as a snapshot does on GitHub).
async fn burst(pulls: u64, graphql: bool) {
    let gh = GithubWorld::start().await;
    if graphql {
        gh.enable_graphql();
    }
    for n in 1..=pulls {
        gh.open_pr(n, "alice", &format!("{n:040}"));
        gh.add_label(n, "CMT::Minor", "alice");
    }
    let app = TestApp::with_forges(Some(&gh.url()), None).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(app.worker.clone().run(4, app.wake.clone(), stop_rx));
    let start = Instant::now();
    for n in 1..=pulls {
        let mut v: Value = serde_json::from_slice(&payload(n)).unwrap();
        v["label"] = json!({ "name": "CMT::Minor" });
        app.github(
            "pull_request",
            &format!("burst-{n}"),
            &serde_json::to_vec(&v).unwrap(),
        )
        .await;
    }
    let sent = start.elapsed();
    let right = |gh: &GithubWorld| {
        (1..=pulls)
            .filter(|n| {
                gh.status(&format!("{n:040}")).is_some_and(|(state, d)| {
                    state == "failure" && d.contains("BT Integration Manager")
                })
            })
            .count() as u64
    };
    while right(&gh) < pulls && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let done = start.elapsed();
    let _ = stop_tx.send(true);
    worker.await.unwrap();
    let calls = gh.calls().len() as u64;
    let free = gh.state.lock().unwrap().not_modified;
    let points = gh.graphql_queries();
    let queries = gh.calls().iter().filter(|c| *c == "POST /graphql").count() as u64;
    let units = calls - free - queries;
    println!(
        "| {pulls} pull requests labeled, {} | {:.2} s | {} of {pulls} right after {:.2} s | {calls} ({:.2} per pull request) | {units} ({:.2} each) | {points} ({:.2} each) |",
        if graphql { "GraphQL" } else { "REST only" },
        sent.as_secs_f64(),
        right(&gh),
        done.as_secs_f64(),
        calls as f64 / pulls as f64,
        units as f64 / pulls as f64,
        points as f64 / pulls as f64,
    );
}

fn burst_header() {
    println!("| burst | delivered in | statuses right | calls | REST units | GraphQL points |");
    println!("|---|---|---|---|---|---|");
}

/// Delivery → status and comment written on the fake forge, for new changes at a fixed rate.
async fn end_to_end_latency(rate: u64, seconds: u64) {
    let gh = GithubWorld::start().await;
    let n = rate * seconds;
    for i in 1..=n {
        gh.open_pr(i, "alice", &format!("{i:040}"));
    }
    let app = TestApp::with_forges(Some(&gh.url()), None).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(app.worker.clone().run(4, app.wake.clone(), stop_rx));
    let mut sent = vec![];
    let start = Instant::now();
    for i in 1..=n {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        sent.push(Instant::now());
        app.github("pull_request", &format!("e2e-{i}"), &payload(i))
            .await;
    }
    while app.store.pending().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(true);
    worker.await.unwrap();
    let calls = gh.timed_calls();
    let mut lat: Vec<Duration> = (1..=n)
        .filter_map(|i| {
            let comment = format!("POST /repos/acme/platypus/issues/{i}/comments");
            let done = calls
                .iter()
                .filter(|(c, _)| *c == comment)
                .map(|(_, t)| *t)
                .max()?;
            Some(done - sent[(i - 1) as usize])
        })
        .collect();
    lat.sort();
    println!(
        "| {rate}/s for {seconds} s | {} of {n} | {:.1} | {:.1} | {:.1} |",
        lat.len(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench --bench pipeline -- changed_diff` prints only that section.
    if std::env::args().any(|a| a == "changed_diff") {
        rt.block_on(changed_diff::print());
        return;
    }
    // `cargo bench --bench pipeline -- units` prints only the calls, units and points per event.
    if std::env::args().any(|a| a == "units") {
        rt.block_on(async {
            println!("Forge API calls per event (GitHub REST only, shipped rules):");
            calls_per_scenario(false).await;
            println!();
            println!("Forge API calls per event (GitHub with GraphQL, shipped rules):");
            calls_per_scenario(true).await;
            println!();
            println!("Burst (fake GitHub on loopback, SQLite, 4 worker loops, cold caches):");
            burst_header();
            burst(200, false).await;
            burst(200, true).await;
        });
        return;
    }
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
        println!();
        println!("Forge API calls per event (GitHub REST only, shipped rules):");
        calls_per_scenario(false).await;
        println!();
        println!("Forge API calls per event (GitHub with GraphQL, shipped rules):");
        calls_per_scenario(true).await;
        println!();
        println!("Extra calls of reset_on_push: changed_diff (fake GitHub over a real repository):");
        changed_diff::print().await;
        println!();
        println!("Burst (fake GitHub on loopback, SQLite, 4 worker loops, cold caches):");
        burst_header();
        burst(200, false).await;
        burst(200, true).await;
        println!();
        println!("Delivery -> status and comment written (fake GitHub on loopback, SQLite, 4 worker loops):");
        println!("| load | changes done | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|");
        end_to_end_latency(50, 6).await;
        end_to_end_latency(120, 5).await;
    });
}
