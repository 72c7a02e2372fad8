//! Connections past 100 items read through GraphQL with their cursors, on the fake GitHub
//! (which pages as GitHub does: `pageInfo` with `endCursor`/`hasNextPage`, the timeline with
//! `startCursor`/`hasPreviousPage`): a pull request with 150 reviews and 250 commits is read
//! whole without REST reads of those lists, and judged as REST judges it; a page answered with
//! errors or a null fails the whole snapshot.

mod common;

use common::github_setup::*;
use serde_json::{Value, json};

const MANAGER: &str = "BT Integration Manager::Approved";

/// How the long pull request ends: pam's last review, and whether mona committed.
#[derive(Clone, Copy, Debug)]
struct Case {
    pam_last: &'static str,
    mona_committed: bool,
}

/// #7, a standard change by alice with 250 commits and 150 reviews (pam's approval among 149
/// comments by others, then pam's last word), and mona's manager approval; read through
/// GraphQL if `graphql` is given (`null`: page queries answered as the fake does, else with it).
async fn long_pull_request(graphql: Option<Value>, case: Case) -> Setup {
    let s = at("2026-11-02T10:00:00Z").await;
    if graphql.is_some() {
        s.gh.enable_graphql();
    }
    // The approval labels exist when changegate first sees the repository.
    for (id, name) in [("LA_bt", MANAGER), ("LA_peer", "Peer Approval::Approved")] {
        s.gh.state
            .lock()
            .unwrap()
            .label_nodes
            .push((id.into(), name.into()));
    }
    s.gh.add_label(7, "team::docs", "alice");
    s.deliver("labeled", Some("team::docs"), "alice", "d0")
        .await;
    move_to(&s, "2026-11-02T10:05:00Z").await;
    {
        let mut st = s.gh.state.lock().unwrap();
        let c = st.changes.iter_mut().find(|c| c.number == 7).unwrap();
        c.commits = (0..250)
            .map(|i| {
                let who = if case.mona_committed && i == 230 {
                    "mona"
                } else {
                    "alice"
                };
                (who.to_string(), who.to_string())
            })
            .collect();
        for i in 0..149 {
            let review = if i == 120 { "APPROVED" } else { "COMMENTED" };
            let who = if i == 120 {
                "pam".to_string()
            } else {
                format!("reader{i}")
            };
            st.reviews.push((7, json!({ "id": 10 + i, "user": gh_user(&who), "state": review, "commit_id": H1, "submitted_at": "2026-11-02T10:01:00Z", "body": "" })));
        }
        st.reviews.push((7, json!({ "id": 500, "user": gh_user("pam"), "state": case.pam_last, "commit_id": H1, "submitted_at": "2026-11-02T10:02:00Z", "body": "" })));
    }
    if let Some(bad) = graphql.filter(|b| !b.is_null()) {
        s.gh.state.lock().unwrap().bad_pages = Some(bad);
    }
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, MANAGER, "mona");
    s.gh.clear_calls();
    s.deliver("labeled", Some(MANAGER), "mona", "d1").await;
    s
}

fn rest_list_reads(s: &Setup) -> Vec<String> {
    s.gh.calls()
        .into_iter()
        .filter(|c| c.starts_with("GET /repos/acme/platypus/pulls/7/"))
        .collect()
}

fn pages(s: &Setup) -> u64 {
    s.gh.state.lock().unwrap().graphql_pages
}

#[tokio::test]
async fn a_long_pull_request_is_read_whole_through_graphql_and_judged_as_rest_judges_it() {
    let cases = [
        // pam's approval stands (her last review approves): passes.
        Case {
            pam_last: "APPROVED",
            mona_committed: false,
        },
        // pam's last review asks for changes (review 150, on the second page): no peer.
        Case {
            pam_last: "CHANGES_REQUESTED",
            mona_committed: false,
        },
        // mona committed commit 231 (third page): she cannot approve.
        Case {
            pam_last: "APPROVED",
            mona_committed: true,
        },
    ];
    let mut verdicts = vec![];
    for case in cases {
        let rest = long_pull_request(None, case).await;
        let (rest_state, _) = rest.status_of(H1);
        let gql = long_pull_request(Some(Value::Null), case).await;
        let (gql_state, _) = gql.status_of(H1);
        assert_eq!(gql_state, rest_state, "{case:?}: {}", gql.comment());
        assert_eq!(gql.comment(), rest.comment(), "{case:?}");
        assert_eq!(
            rest_list_reads(&gql),
            Vec::<String>::new(),
            "{case:?}: no REST reads of the lists"
        );
        // One more page of reviews, two more of commits.
        assert_eq!(pages(&gql), 3, "{case:?}: {:#?}", gql.gh.calls());
        verdicts.push(gql_state);
    }
    assert_eq!(verdicts, ["success", "failure", "failure"]);
}

/// A page answered with errors next to data, or with its connection null: the whole snapshot
/// is refused (asked again, then read through REST), never read as its first page alone.
#[tokio::test]
async fn a_page_with_errors_or_nulls_fails_the_whole_snapshot() {
    let case = Case {
        pam_last: "CHANGES_REQUESTED",
        mona_committed: false,
    };
    for bad in [
        json!({ "data": { "repository": { "issueOrPullRequest": { "__typename": "PullRequest", "reviews": null } } },
                "errors": [{ "type": "FORBIDDEN", "path": ["repository", "issueOrPullRequest", "reviews"], "message": "Resource protected by organization SAML enforcement." }] }),
        json!({ "data": { "rateLimit": { "cost": 1, "limit": 5000, "remaining": 4990, "resetAt": "2026-01-01T01:00:00Z" },
                          "repository": { "issueOrPullRequest": { "__typename": "PullRequest", "reviews": null } } } }),
    ] {
        let s = long_pull_request(Some(bad.clone()), case).await;
        // pam's later "changes requested" is never missed: the first page alone would pass.
        assert_eq!(s.status_of(H1).0, "failure", "{bad}: {}", s.comment());
        let reads = rest_list_reads(&s);
        assert!(
            reads
                .iter()
                .any(|c| c.starts_with("GET /repos/acme/platypus/pulls/7/reviews")),
            "{bad}: the reviews were read through REST: {reads:#?}"
        );
        // The snapshot and its first page, twice.
        assert_eq!(pages(&s), 2, "{bad}");
    }
}

/// A label timeline of 160 events is read from its newest end back to its start (`before`),
/// without REST's event listing; the approval among the oldest events still counts.
#[tokio::test]
async fn a_long_label_timeline_is_paged_backwards() {
    let s = at("2026-11-02T10:00:00Z").await;
    s.gh.enable_graphql();
    s.gh.state
        .lock()
        .unwrap()
        .label_nodes
        .push(("LA_bt".into(), MANAGER.into()));
    s.gh.add_label(7, "team::docs", "alice");
    s.deliver("labeled", Some("team::docs"), "alice", "d0")
        .await;
    move_to(&s, "2026-11-02T10:05:00Z").await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, MANAGER, "mona");
    for _ in 0..80 {
        s.gh.add_label(7, "status::wip", "alice");
        s.gh.remove_label(7, "status::wip", "alice");
    }
    s.gh.clear_calls();
    s.deliver("labeled", Some("status::wip"), "alice", "d1")
        .await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    assert!(
        !s.gh.calls().iter().any(|c| c.contains("/issues/7/events")),
        "{:#?}",
        s.gh.calls()
    );
    assert_eq!(pages(&s), 1, "one page before the newest 100 events");
}
