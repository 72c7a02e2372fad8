//! The delivery writer (group commit before the 202): on SQLite a thread with its own
//! connection that takes the store's write connection while it writes, on PostgreSQL a task
//! through the pool. Both must deduplicate like one delivery at a time, wake the worker, and
//! never fail or wait out a lock timeout while the worker writes beside them.

mod common;

use changegate::model::{Event, EventPayload};
use changegate::store::Wake;
use changegate::store::{DeliveryWriter, Enqueued, Store};
use common::corpus_dir;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn event(number: u64, delivery: &str) -> Event {
    let body = std::fs::read(corpus_dir().join("github/pull_request.labeled.1.json")).unwrap();
    let mut e =
        changegate::server::github::parse("pull_request", Some(delivery.into()), &body).unwrap();
    if let EventPayload::Change(c) = &mut e.payload {
        c.change.number = number;
    }
    e
}

async fn concurrent_deliveries(url: &str) {
    let store = Store::open(url).await.unwrap();
    assert!(matches!(
        store.enqueue(&event(1, "before")).await.unwrap(),
        Enqueued::New { .. }
    ));
    let wake = Arc::new(Wake::new());
    let writer = DeliveryWriter::spawn(store.clone(), wake.clone()).unwrap();
    // 400 deliveries for 20 changes at once; every id sent twice, and "before" again.
    let mut sent = tokio::task::JoinSet::new();
    for i in 0..400u64 {
        for _ in 0..2 {
            let w = writer.clone();
            sent.spawn(async move { (i, w.enqueue(event(100 + i % 20, &format!("d-{i}"))).await) });
        }
    }
    let w = writer.clone();
    sent.spawn(async move { (u64::MAX, w.enqueue(event(1, "before")).await) });
    // The worker claims and completes beside them, through the same store.
    let worker_store = store.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let worker = tokio::spawn(async move {
        let mut done = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !(done > 0 && stopped.load(Ordering::SeqCst)) {
            match worker_store.claim(Duration::from_secs(60)).await.unwrap() {
                Some(job) => {
                    worker_store.complete(job.id, 0, 0).await.unwrap();
                    done += 1;
                }
                None => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        done
    });
    let mut new = BTreeSet::new();
    let mut jobs = BTreeSet::new();
    let mut duplicates = 0;
    while let Some(r) = sent.join_next().await {
        let (i, r) = r.unwrap();
        match r.unwrap_or_else(|e| panic!("delivery {i} was refused: {e:#}")) {
            Enqueued::New { job_id } => {
                assert!(new.insert(i), "delivery {i} stored twice");
                assert!(jobs.insert(job_id), "job {job_id} given twice");
            }
            Enqueued::Duplicate => duplicates += 1,
        }
    }
    assert_eq!(new.len(), 400, "each delivery stored once");
    assert_eq!(
        duplicates, 401,
        "each repeat (and the earlier one) a duplicate"
    );
    assert!(!new.contains(&u64::MAX));
    // The writer told the worker that work was queued.
    tokio::time::timeout(Duration::from_secs(1), wake.notified())
        .await
        .expect("the worker was woken");
    stop.store(true, Ordering::SeqCst);
    let completed = worker.await.unwrap();
    assert!(completed > 0, "the worker ran beside the writer");
    // What was acknowledged is in the store, each delivery with its own event.
    let mut numbers = BTreeSet::new();
    while let Some(job) = store.claim(Duration::from_secs(60)).await.unwrap() {
        numbers.insert(job.event.change().unwrap().change.number);
        for covered in &job.covered {
            numbers.insert(covered.change().unwrap().change.number);
        }
        store.complete(job.id, 0, 0).await.unwrap();
    }
    assert!(numbers.iter().all(|n| *n == 1 || (100..120).contains(n)));
}

#[tokio::test]
async fn the_sqlite_writer_deduplicates_and_wakes_while_the_worker_writes() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_deliveries(&format!("sqlite://{}", dir.path().join("w.db").display())).await;
}

#[tokio::test]
async fn the_postgres_writer_deduplicates_and_wakes_while_the_worker_writes() {
    let Some(base) = common::pg::base_url() else {
        return;
    };
    concurrent_deliveries(&common::pg::fresh_schema(&base).await).await;
}

/// What the SQLite writer acknowledged is on disk for the next process to open.
#[tokio::test]
async fn acknowledged_deliveries_are_there_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let file = dir.path().join("r.db");
    {
        let store = Store::open(&url).await.unwrap();
        let migrated = std::fs::metadata(&file).unwrap().len();
        let writer = DeliveryWriter::spawn(store, Arc::new(Wake::new())).unwrap();
        for i in 0..50 {
            let r = writer.enqueue(event(7, &format!("r-{i}"))).await.unwrap();
            assert!(matches!(r, Enqueued::New { .. }));
        }
        // The writer's own commits never checkpoint; its checkpointer copies the log into
        // the database beside it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&file).unwrap().len() <= migrated {
            assert!(Instant::now() < deadline, "the log was never checkpointed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let store = Store::open(&url).await.unwrap();
    let job = store.claim(Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(job.covered.len(), 49, "the newest covers the other 49");
    let writer = DeliveryWriter::spawn(store, Arc::new(Wake::new())).unwrap();
    assert_eq!(
        writer.enqueue(event(7, "r-3")).await.unwrap(),
        Enqueued::Duplicate
    );
}
