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
    quota::record(Forge::Github, "t", Some(400), Some(5000), None);
    assert_eq!(quota::paused(10), vec![Forge::Github]);
    quota::record(Forge::Github, "t", Some(4999), Some(5000), None);
    assert!(quota::paused(10).is_empty());
}

#[tokio::test]
async fn each_job_records_the_quota_units_it_spent() {
    let s = common::github_setup::setup().await;
    s.apply_label("alice", "CMT::Minor").await;
    let stats = s.app.store.quota_stats(3_600_000).await.unwrap();
    let (forge, events, units, _) = stats[0].clone();
    assert_eq!((forge.as_str(), events), ("github", 1));
    assert!(
        units >= 2,
        "a first evaluation reads the change and its history: {units}"
    );
    // The same state again, twice (the first re-reads the status the bot itself wrote):
    // every read but the pull request itself answers 304.
    s.deliver("labeled", Some("CMT::Minor"), "alice", "once-more")
        .await;
    let (_, _, units, _) = s.app.store.quota_stats(3_600_000).await.unwrap()[0].clone();
    s.gh.clear_calls();
    let before = s.gh.state.lock().unwrap().not_modified;
    s.deliver("labeled", Some("CMT::Minor"), "alice", "again")
        .await;
    let (_, events2, units2, _) = s.app.store.quota_stats(3_600_000).await.unwrap()[0].clone();
    assert_eq!(events2, 3);
    let not_modified = s.gh.state.lock().unwrap().not_modified - before;
    assert!(
        units2 - units <= 1,
        "a no-op event spent {} units: {:#?}, {not_modified} answered 304",
        units2 - units,
        s.gh.calls()
    );
}

/// A client on the fake GitHub keeping its answers in `store`, and those answers (flush them
/// before a restart: they are written behind).
fn client_on(
    gh: &common::github_world::GithubWorld,
    store: &Store,
) -> (
    changegate::forge::github::GithubClient,
    changegate::store::StoredReplies,
) {
    let replies = store.replies(1 << 20);
    let client =
        changegate::forge::github::GithubClient::new(&gh.url(), "gh-token", Default::default())
            .unwrap()
            .with_reply_store(std::sync::Arc::new(replies.clone()));
    (client, replies)
}

fn pull(n: u64) -> changegate::forge::ChangeRef {
    changegate::forge::ChangeRef {
        repo: changegate::model::Repo {
            path: changegate::model::RepoPath::new("acme/platypus"),
            id: None,
        },
        kind: changegate::model::ChangeKind::MergeRequest,
        number: n,
    }
}

/// Reads pull request #1 counting quota units: (the change, units, 304s the fake answered).
async fn read(
    gh: &common::github_world::GithubWorld,
    client: &changegate::forge::github::GithubClient,
) -> (changegate::model::Change, u64, u64) {
    use changegate::forge::Forge;
    let before = gh.state.lock().unwrap().not_modified;
    let (change, units) = changegate::forge::quota::counting(client.change(&pull(1))).await;
    let not_modified = gh.state.lock().unwrap().not_modified - before;
    (
        change.unwrap().expect("the pull request"),
        units,
        not_modified,
    )
}

#[tokio::test]
async fn an_unchanged_resource_answered_304_is_reused_and_counts_no_unit() {
    let gh = common::github_world::GithubWorld::start().await;
    gh.open_pr(1, "alice", &format!("{:040}", 1));
    gh.add_label(1, "CMT::Minor", "alice");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let (client, _) = client_on(&gh, &store);
    let (first, units, free) = read(&gh, &client).await;
    assert_eq!((units, free), (1, 0), "a first read counts");
    let (again, units, free) = read(&gh, &client).await;
    assert_eq!((units, free), (0, 1), "the same resource again: a free 304");
    assert_eq!(again, first, "the kept answer stands for the resource");
    gh.add_label(1, "Peer Approval::Approved", "pam");
    let (changed, units, _) = read(&gh, &client).await;
    assert_eq!(units, 1, "a changed resource is read whole");
    assert_eq!(changed.labels.len(), 2);
}

#[tokio::test]
async fn the_etag_cache_survives_a_restart() {
    let gh = common::github_world::GithubWorld::start().await;
    gh.open_pr(1, "alice", &format!("{:040}", 1));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let before = {
        let store = Store::open(&url).await.unwrap();
        let (client, replies) = client_on(&gh, &store);
        let (change, units, _) = read(&gh, &client).await;
        replies.flush().await;
        assert_eq!(units, 1);
        change
    };
    // A new process: nothing in memory, the same database.
    let store = Store::open(&url).await.unwrap();
    let (after, units, free) = read(&gh, &client_on(&gh, &store).0).await;
    assert_eq!(
        (units, free),
        (0, 1),
        "the restarted bot sent the kept ETag"
    );
    assert_eq!(after, before);
}

#[tokio::test]
async fn replicas_share_the_etag_cache_on_postgresql() {
    let Some(base) = common::pg::base_url() else {
        return;
    };
    let url = common::pg::fresh_schema(&base).await;
    let gh = common::github_world::GithubWorld::start().await;
    gh.open_pr(1, "alice", &format!("{:040}", 1));
    let one = Store::open(&url).await.unwrap();
    let two = Store::open(&url).await.unwrap();
    let (client, replies) = client_on(&gh, &one);
    let (_, units, _) = read(&gh, &client).await;
    replies.flush().await;
    assert_eq!(units, 1);
    let (_, units, free) = read(&gh, &client_on(&gh, &two).0).await;
    assert_eq!(
        (units, free),
        (0, 1),
        "the second replica reused the first one's answer"
    );
}

#[tokio::test]
async fn the_kept_answers_stay_within_their_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let replies = store.replies(100_000);
    use changegate::forge::{ReplyStore, StoredReply};
    for n in 0..300 {
        let reply = StoredReply {
            etag: format!("\"{n}\""),
            link: None,
            body: "x".repeat(1_000),
            used_at: n,
        };
        replies
            .save(&format!("https://api.github.com/x/{n}"), &reply)
            .await;
    }
    replies.evict().await.unwrap();
    let (count, bytes) = replies.size().await.unwrap();
    assert!(bytes <= 100_000, "{count} answers, {bytes} bytes kept");
    assert!(count > 50, "only the excess went: {count} kept");
    // The least recently used went first.
    assert!(replies.load("https://api.github.com/x/0").await.is_none());
    assert!(replies.load("https://api.github.com/x/299").await.is_some());
}

/// One batch of deliveries is written with two statements; what each delivery became must not
/// change for it: new ones get their job, a delivery id stored before or repeated in the batch
/// is a duplicate.
async fn batch_dedup(url: &str) {
    let store = Store::open(url).await.unwrap();
    let before = event(9, "seen-before");
    assert!(matches!(
        store.enqueue(&before).await.unwrap(),
        changegate::store::Enqueued::New { .. }
    ));
    let (a, b, c) = (
        event(1, "batch-a"),
        event(2, "batch-b"),
        event(3, "batch-c"),
    );
    let again = event(1, "batch-a");
    let batch = [&a, &b, &again, &before, &c];
    let out = store
        .enqueue_batch(&batch, Priority::Webhook)
        .await
        .unwrap();
    use changegate::store::Enqueued::{Duplicate, New};
    assert!(matches!(out[0], New { .. }), "{out:?}");
    assert!(matches!(out[1], New { .. }), "{out:?}");
    assert_eq!(out[2], Duplicate, "repeated in the batch");
    assert_eq!(out[3], Duplicate, "stored before");
    assert!(matches!(out[4], New { .. }), "{out:?}");
    let ids: Vec<i64> = out
        .iter()
        .filter_map(|e| match e {
            New { job_id } => Some(*job_id),
            Duplicate => None,
        })
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "a job each: {ids:?}");
    // Each job carries its own delivery.
    let lease = Duration::from_secs(60);
    let mut numbers = vec![];
    while let Some(job) = store.claim(lease).await.unwrap() {
        numbers.push(job.event.change().unwrap().change.number);
        store.complete(job.id, 0, 0).await.unwrap();
    }
    numbers.sort();
    assert_eq!(numbers, vec![1, 2, 3, 9]);
}

#[tokio::test]
async fn a_batch_of_deliveries_is_deduplicated_like_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    batch_dedup(&format!("sqlite://{}", dir.path().join("b.db").display())).await;
    if let Some(base) = common::pg::base_url() {
        batch_dedup(&common::pg::fresh_schema(&base).await).await;
    }
}
