//! Several replicas on one PostgreSQL database: dedup under concurrent inserts, one change
//! never on two replicas at once, and a replica killed mid-job losing nothing.

mod common;

use common::github_world::GithubWorld;
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn head(n: u64) -> String {
    format!("{n:040}")
}

/// The corpus `pull_request.labeled` payload for acme/platypus#n.
fn payload(n: u64, labels: &[&str]) -> Vec<u8> {
    let path = corpus_dir().join("github/pull_request.labeled.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["number"] = json!(n);
    v["repository"]["full_name"] = json!("acme/platypus");
    v["pull_request"]["number"] = json!(n);
    v["pull_request"]["head"]["sha"] = json!(head(n));
    v["pull_request"]["labels"] = json!(
        labels
            .iter()
            .map(|l| json!({ "name": l }))
            .collect::<Vec<_>>()
    );
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redeliveries_are_stored_once() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    let app = TestApp::on_database(&url, None).await;
    let body = payload(1, &[]);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (router, body) = (app.router.clone(), body.clone());
        tasks.spawn(async move {
            use tower::ServiceExt;
            let req = github_request("pull_request", "same-guid", &body, GITHUB_SECRET);
            router.oneshot(req).await.unwrap().status().as_u16()
        });
    }
    let mut codes = vec![];
    while let Some(c) = tasks.join_next().await {
        codes.push(c.unwrap());
    }
    codes.sort();
    assert_eq!(codes.iter().filter(|c| **c == 202).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 15, "{codes:?}");
    assert_eq!(app.store.pending().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_never_runs_on_two_replicas_at_once() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    let a = TestApp::on_database(&url, None).await;
    let b = TestApp::on_database(&url, None).await;
    a.github("pull_request", "x0", &payload(1, &[])).await;
    a.github("pull_request", "y", &payload(2, &[])).await;
    let lease = Duration::from_secs(30);
    let first = a.store.claim(lease).await.unwrap().expect("the job of #1");
    assert_eq!(first.event.change().unwrap().change.number, 1);
    a.github("pull_request", "x1", &payload(1, &[])).await;
    let other = b.store.claim(lease).await.unwrap().expect("the job of #2");
    assert_eq!(
        other.event.change().unwrap().change.number,
        2,
        "#1's new event waits while #1 runs"
    );
    assert!(b.store.claim(lease).await.unwrap().is_none());
    a.store.complete(first.id, 0, 0).await.unwrap();
    let next = b
        .store
        .claim(lease)
        .await
        .unwrap()
        .expect("#1's later event");
    assert_eq!(next.event.change().unwrap().change.number, 1);
    assert!(next.id > first.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_and_a_kill_lose_nothing_and_do_nothing_twice() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    let gh = GithubWorld::start().await;
    gh.member("bt-integration-managers", "mona");
    gh.state.lock().unwrap().delay = Duration::from_millis(15);
    const CHANGES: u64 = 30;
    const PER_CHANGE: u64 = 10;
    for n in 1..=CHANGES {
        gh.open_pr(n, "alice", &head(n));
        if n % 2 == 0 {
            gh.add_label(n, "CMT::Minor", "alice");
            gh.add_label(n, "BT Integration Manager::Approved", "mona");
        } else {
            gh.add_label(n, "CMT::Standard", "alice");
        }
    }
    let mut replicas = vec![];
    for _ in 0..3 {
        let mut app = TestApp::on_database(&url, Some(&gh.url())).await;
        app.worker.lease = Duration::from_secs(3);
        replicas.push(app);
    }
    // A few hundred deliveries for a few dozen changes, spread over the replicas' receivers.
    for i in 0..CHANGES * PER_CHANGE {
        let n = 1 + i % CHANGES;
        let (status, _) = replicas[(i % 3) as usize]
            .github("pull_request", &format!("d{i}"), &payload(n, &[]))
            .await;
        assert_eq!(status.as_u16(), 202);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut handles = vec![];
    for app in &replicas {
        handles.push(tokio::spawn(app.worker.clone().run(
            2,
            std::sync::Arc::new(changegate::store::Wake::new()),
            stop_rx.clone(),
        )));
    }
    // Kill the first replica mid-way, as SIGKILL would: its in-flight jobs just stop.
    tokio::time::sleep(Duration::from_millis(800)).await;
    handles[0].abort();
    let store = &replicas[1].store;
    let start = Instant::now();
    while store.pending().await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    let all: Vec<i64> = (1..=(CHANGES * PER_CHANGE) as i64).collect();
    let jobs = store.jobs_by_id(&all).await.unwrap();
    assert_eq!(jobs.len() as u64, CHANGES * PER_CHANGE);
    assert!(
        jobs.iter().all(|j| j.state == "done"),
        "every delivery processed"
    );
    let covered = jobs.iter().filter(|j| j.covered_by.is_some()).count();
    let runs = jobs.len() - covered;
    eprintln!(
        "{runs} runs for {} deliveries ({covered} covered by a later run of their change)",
        jobs.len()
    );
    assert!(runs as u64 >= CHANGES, "every change ran at least once");
    for n in 1..=CHANGES {
        assert_eq!(
            gh.comments(n).len(),
            1,
            "#{n}: one sticky comment, never a second"
        );
        let expected = if n % 2 == 0 { "success" } else { "failure" };
        assert_eq!(
            gh.status(&head(n)).map(|s| s.0).as_deref(),
            Some(expected),
            "#{n}"
        );
    }
    for h in handles.into_iter().skip(1) {
        h.await.unwrap();
    }
}
