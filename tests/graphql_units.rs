//! What each event costs of GitHub's two budgets when the snapshot is one GraphQL query, on the
//! fake GitHub: REST units (every answer but a 304) and GraphQL points (each query's
//! `rateLimit.cost`), as the jobs record them (`changegate jobs --stats`) and as the fake saw
//! the calls. First sight ≤ 2 reads, a verdict change ≤ 2 reads plus its writes, a no-op event
//! (the description edited) ≤ 1, a redelivery 0.

mod common;

use common::github_setup::*;

/// (REST units, GraphQL points) the jobs recorded so far.
async fn spent(s: &Setup) -> (i64, i64) {
    let stats = s.app.store.quota_stats(3_600_000).await.unwrap();
    stats
        .iter()
        .find(|(f, ..)| f == "github")
        .map(|(_, _, units, points)| (*units, *points))
        .unwrap_or_default()
}

/// The reads the fake answered since the last clear that cost something: REST reads but its
/// 304s, and GraphQL queries.
fn paid_reads(s: &Setup, not_modified_before: u64) -> usize {
    let calls = s.gh.calls();
    let gets = calls.iter().filter(|c| c.starts_with("GET ")).count();
    let free = (s.gh.state.lock().unwrap().not_modified - not_modified_before) as usize;
    let queries = calls.iter().filter(|c| *c == "POST /graphql").count();
    gets - free + queries
}

fn not_modified(s: &Setup) -> u64 {
    s.gh.state.lock().unwrap().not_modified
}

/// Runs `event` and returns (units + points it spent, paid reads, writes).
async fn cost<F: std::future::Future<Output = ()>>(
    s: &Setup,
    event: impl FnOnce() -> F,
) -> (i64, usize, usize) {
    s.gh.clear_calls();
    let free = not_modified(s);
    let (u0, p0) = spent(s).await;
    event().await;
    let (u1, p1) = spent(s).await;
    (
        (u1 - u0) + (p1 - p0),
        paid_reads(s, free),
        s.gh.writes().len(),
    )
}

#[tokio::test]
async fn each_event_costs_what_the_issue_allows() {
    // The approval label exists when changegate first sees the repository, so its node id is
    // on record before it is applied (a label first recorded later is read through REST).
    let s = at("2026-11-02T10:00:00Z").await;
    s.gh.enable_graphql();
    s.gh.state
        .lock()
        .unwrap()
        .label_nodes
        .push(("LA_bt".into(), "BT Integration Manager::Approved".into()));
    // First sight of the change: the bot's account and the snapshot.
    s.gh.add_label(7, "CMT::Minor", "alice");
    let (spent, reads, writes) = cost(&s, || async {
        s.deliver("labeled", Some("CMT::Minor"), "alice", "d1")
            .await;
    })
    .await;
    assert!(
        reads <= 2,
        "first sight: {reads} reads, {:#?}",
        s.gh.calls()
    );
    assert_eq!(writes, 2, "the status and the comment");
    assert_eq!(spent, (reads + writes) as i64, "the jobs' record agrees");
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");

    // A verdict change: the snapshot and the approver's membership, then the writes.
    move_to(&s, "2026-11-02T10:05:00Z").await;
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    let (spent, reads, writes) = cost(&s, || async {
        s.deliver(
            "labeled",
            Some("BT Integration Manager::Approved"),
            "mona",
            "d2",
        )
        .await;
    })
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    assert!(
        reads <= 2,
        "a verdict change: {reads} reads, {:#?}",
        s.gh.calls()
    );
    assert!(writes >= 1);
    assert_eq!(spent, (reads + writes) as i64);

    // A no-op event: the description edited.
    s.gh.set_body(7, "Now with a description");
    let (spent, reads, writes) = cost(&s, || async {
        s.deliver("edited", None, "alice", "d3").await;
    })
    .await;
    assert!(
        spent <= 1,
        "a no-op event spent {spent}: {:#?}",
        s.gh.calls()
    );
    assert!(reads <= 1);
    assert_eq!(writes, 0, "{:#?}", s.gh.calls());

    // A redelivery of an event already handled: nothing.
    let (spent, reads, writes) = cost(&s, || async {
        assert_eq!(s.deliver("edited", None, "alice", "d3").await, 200);
    })
    .await;
    assert_eq!((spent, reads, writes), (0, 0, 0), "{:#?}", s.gh.calls());
}

#[tokio::test]
async fn jobs_stats_show_units_and_points_per_event() {
    let s = setup().await;
    s.gh.enable_graphql();
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.deliver("labeled", Some("CMT::Minor"), "alice", "d1")
        .await;
    let stats = s.app.store.quota_stats(3_600_000).await.unwrap();
    let (forge, events, units, points) = stats[0].clone();
    assert_eq!((forge.as_str(), events), ("github", 1));
    assert_eq!(points, 1, "one query of cost 1");
    // The bot's account (REST) and the two writes.
    assert_eq!(units, 3);
}
