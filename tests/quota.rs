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
    store.complete(first.id, 0, 0).await.unwrap();
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

#[tokio::test]
async fn each_job_records_the_quota_units_it_spent() {
    let s = common::github_setup::setup().await;
    s.apply_label("alice", "CMT::Minor").await;
    let stats = s.app.store.unit_stats(3_600_000).await.unwrap();
    let (forge, events, units) = stats[0].clone();
    assert_eq!((forge.as_str(), events), ("github", 1));
    assert!(
        units >= 2,
        "a first evaluation reads the change and its history: {units}"
    );
    // The same state again, twice (the first re-reads the status the bot itself wrote):
    // every read but the pull request itself answers 304.
    s.deliver("labeled", Some("CMT::Minor"), "alice", "once-more")
        .await;
    let (_, _, units) = s.app.store.unit_stats(3_600_000).await.unwrap()[0].clone();
    s.gh.clear_calls();
    let before = s.gh.state.lock().unwrap().not_modified;
    s.deliver("labeled", Some("CMT::Minor"), "alice", "again")
        .await;
    let (_, events2, units2) = s.app.store.unit_stats(3_600_000).await.unwrap()[0].clone();
    assert_eq!(events2, 3);
    let not_modified = s.gh.state.lock().unwrap().not_modified - before;
    assert!(
        units2 - units <= 1,
        "a no-op event spent {} units: {:#?}, {not_modified} answered 304",
        units2 - units,
        s.gh.calls()
    );
}
