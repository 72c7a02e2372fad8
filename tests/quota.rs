//! The rate-limit reserve: under it a forge's reconcile work waits in the queue while webhook
//! work goes on; above it, reconcile work runs again.

mod common;

use changegate::model::{EventPayload, Forge};
use changegate::store::{Priority, Store};
use common::corpus_dir;
use std::time::Duration;

fn event(number: u64, delivery: &str) -> changegate::model::Event {
    let body = std::fs::read(corpus_dir().join("github/pull_request.labeled.1.json")).unwrap();
    let mut e =
        changegate::server::github::parse("pull_request", Some(delivery.into()), &body).unwrap();
    if let EventPayload::Change(c) = &mut e.payload {
        c.change.number = number;
    }
    e
}

#[tokio::test]
async fn under_the_reserve_reconcile_work_waits_and_webhooks_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("q.db").display()))
        .await
        .unwrap();
    store
        .enqueue_with(&event(1, "reconcile-1"), Priority::Reconcile)
        .await
        .unwrap();
    store.enqueue(&event(2, "webhook-2")).await.unwrap();
    let lease = Duration::from_secs(60);
    let paused = [Forge::Github];
    let first = store.claim_except(lease, &paused).await.unwrap().unwrap();
    assert_eq!(
        first.event.change().unwrap().change.number,
        2,
        "the webhook's job"
    );
    store.complete(first.id, 0).await.unwrap();
    assert!(
        store.claim_except(lease, &paused).await.unwrap().is_none(),
        "the reconcile job waits while GitHub's quota is under the reserve"
    );
    // Another forge's pause does not hold GitHub's work.
    let next = store
        .claim_except(lease, &[Forge::Gitlab])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.event.change().unwrap().change.number, 1);
}

#[test]
fn the_reserve_follows_the_forges_rate_limit_headers() {
    use changegate::forge::quota;
    quota::record(Forge::Github, Some(400), Some(5000));
    assert_eq!(quota::paused(10), vec![Forge::Github]);
    quota::record(Forge::Github, Some(4999), Some(5000));
    assert!(quota::paused(10).is_empty());
}
