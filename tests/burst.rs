//! A burst: 200 open pull requests of one repository labeled at once. Every status ends right,
//! with at most 5 calls per pull request on first sight (cold caches; 4 with the shipped rules:
//! a minor change requires no role that takes reviews, so they are not read), and the bot keeps to the
//! rate limit the forge tells it: once told nothing is left it waits for the reset instead of
//! sending requests that would be refused. (How fast: `cargo bench --bench pipeline`.)

mod common;

use common::github_setup::{Setup, pr_event};
use common::github_world::{GithubWorld, RateWindow};
use common::*;
use std::time::Duration;
use tokio::sync::watch;

const PULLS: u64 = 200;

fn head(n: u64) -> String {
    format!("{n:040}")
}

/// The rate limits the bot tracks are per credential, process-wide, and both tests' clients use
/// the same token: they run one at a time, so that one's exhausted window never holds the other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The pull requests, opened by alice and labeled `CMT::Minor` by her on the fake.
async fn world() -> Setup {
    let gh = GithubWorld::start().await;
    gh.member("bt-integration-managers", "mona");
    for n in 1..=PULLS {
        gh.open_pr(n, "alice", &head(n));
        gh.add_label(n, "CMT::Minor", "alice");
    }
    let app = TestApp::with_forges(Some(&gh.url()), None).await;
    Setup { app, gh }
}

/// Delivers every `labeled` webhook at once, then runs 4 worker loops until the queue is empty.
async fn burst(s: &Setup) {
    let bodies: Vec<Vec<u8>> = (1..=PULLS)
        .map(|n| {
            serde_json::to_vec(&pr_event(s, n, "labeled", Some("CMT::Minor"), "alice")).unwrap()
        })
        .collect();
    let sent = futures_join(s, &bodies).await;
    assert!(
        sent.iter().all(|c| *c == 202),
        "every delivery acknowledged"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(s.app.worker.clone().run(4, s.app.wake.clone(), stop_rx));
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while s.app.store.pending().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst never drained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    worker.await.unwrap();
    let failed: Vec<_> = s
        .app
        .store
        .unfinished_jobs()
        .await
        .unwrap()
        .into_iter()
        // The blocked periods' boundary timers wait for their time.
        .filter(|j| !j.change_key.ends_with(":period-boundaries"))
        .collect();
    assert!(
        failed.is_empty(),
        "no job left failed or waiting: {failed:?}"
    );
}

async fn futures_join(s: &Setup, bodies: &[Vec<u8>]) -> Vec<u16> {
    let mut out = vec![];
    // The receiver's router is driven in-process: one delivery after another, as fast as they
    // are stored (well within a second for 200).
    for (i, body) in bodies.iter().enumerate() {
        let (status, _) = s
            .app
            .github("pull_request", &format!("burst-{i}"), body)
            .await;
        out.push(status.as_u16());
    }
    out
}

fn assert_all_right(s: &Setup) {
    for n in 1..=PULLS {
        let (state, description) = s.gh.status(&head(n)).expect("a status on every head");
        assert_eq!(state, "failure", "#{n}: {description}");
        assert!(
            description.contains("BT Integration Manager approval"),
            "#{n} says what is missing: {description}"
        );
        assert_eq!(s.gh.comments(n).len(), 1, "one sticky comment on #{n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_labeled_pull_requests_costs_at_most_4_calls_each() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let s = world().await;
    burst(&s).await;
    assert_all_right(&s);
    let calls = s.gh.calls();
    let per_pull = |n: u64| {
        let pull = format!("/{n}");
        let sha = head(n);
        calls
            .iter()
            .filter(|c| c.ends_with(&pull) || c.contains(&format!("/{n}/")) || c.contains(&sha))
            .count()
    };
    let of_pull = |n: u64| -> Vec<&String> {
        calls
            .iter()
            .filter(|c| {
                c.ends_with(&format!("/{n}"))
                    || c.contains(&format!("/{n}/"))
                    || c.contains(&head(n))
            })
            .collect()
    };
    // Every pull request: its status and its comment written once, nothing else written.
    for n in 1..=PULLS {
        let writes = of_pull(n).iter().filter(|c| !c.starts_with("GET ")).count();
        assert_eq!(writes, 2, "#{n}: {:#?}", of_pull(n));
    }
    // First sight costs 4 calls: the pull request, its label events, the status and the
    // comment (no reviews: a minor change requires no role that takes them). A job run again (its first run failed after writing, on a
    // store busy under load) re-reads what it needs to see that nothing is left to do; on an
    // idle machine none is, and more than a couple would be a fault.
    let over: Vec<u64> = (1..=PULLS).filter(|n| per_pull(*n) > 4).collect();
    if let Some(n) = over.first() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "burst: {} pull requests over 4 calls, e.g. #{n}: {:#?}",
            over.len(),
            of_pull(*n)
        );
    }
    assert!(
        over.len() <= 2,
        "at most 4 calls per pull request: {} over, e.g. #{}: {:#?}",
        over.len(),
        over[0],
        of_pull(over[0])
    );
    // The rest: the bot's own account, once, and (this fake has no GraphQL) one probe of
    // the GraphQL endpoint per worker loop at most before its 404 is remembered.
    let probes = calls.iter().filter(|c| *c == "POST /graphql").count() as u64;
    assert!(probes <= 4, "{probes} GraphQL probes");
    assert!(
        calls.len() as u64 <= 4 * PULLS + 1 + probes + 4 * over.len() as u64,
        "{} calls for {PULLS} pull requests",
        calls.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_to_the_rate_limit_the_forge_tells() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let s = world().await;
    // 300 requests per 2-second window: the burst needs about three windows.
    s.gh.state.lock().unwrap().rate = Some(RateWindow::new(300, Duration::from_secs(2)));
    burst(&s).await;
    assert_all_right(&s);
    let (counted, limit, over_limit, reset) = {
        let st = s.gh.state.lock().unwrap();
        let rate = st.rate.as_ref().unwrap();
        (rate.counted, rate.limit, rate.over_limit, rate.reset)
    };
    assert!(counted > 600, "the burst spanned windows: {counted}");
    // Requests already in flight when the last unit went (one per worker loop) may be refused;
    // after that the bot waits for the reset instead of asking again.
    let windows = counted.div_ceil(limit);
    assert!(
        over_limit <= 4 * windows,
        "{over_limit} requests sent past the limit in {windows} windows"
    );
    // Leave no exhausted window behind for the other test.
    while chrono::Utc::now().timestamp() < reset {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The same burst where GitHub answers GraphQL: each pull request's snapshot is one query,
/// so first sight costs 3 calls (the query, the status, the comment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_labeled_pull_requests_through_graphql_costs_3_calls_each() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let s = world().await;
    s.gh.enable_graphql();
    burst(&s).await;
    assert_all_right(&s);
    let calls = s.gh.calls();
    for n in 1..=PULLS {
        let rest: Vec<&String> = calls
            .iter()
            .filter(|c| {
                c.ends_with(&format!("/{n}"))
                    || c.contains(&format!("/{n}/"))
                    || c.contains(&head(n))
            })
            .collect();
        // Only its two writes go through REST: every read was the query's.
        assert!(rest.len() <= 2, "#{n}: {rest:#?}");
    }
    let queries = s.gh.graphql_queries();
    // A job run again (a busy store) asks again: a couple at most.
    assert!(queries <= PULLS + 2, "{queries} snapshot queries");
    assert!(
        calls.len() as u64 <= 3 * PULLS + 1 + 4,
        "{} calls for {PULLS} pull requests",
        calls.len()
    );
}
