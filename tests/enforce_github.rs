//! End to end on GitHub: signed webhooks (corpus payloads adapted to each scenario) through the
//! real router and store, the worker against a stateful fake GitHub, and the exact API calls.

mod common;

use common::github_setup::*;
use common::github_world::BOT;
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::ResponseTemplate;

fn status_post() -> String {
    format!("POST /repos/acme/platypus/statuses/{H1}")
}

const COMMENT_POST: &str = "POST /repos/acme/platypus/issues/7/comments";
const LABELS_POST: &str = "POST /repos/acme/platypus/issues/7/labels";

#[tokio::test]
async fn unclassified_change_fails_and_asks_to_classify() {
    let s = setup().await;
    assert_eq!(s.deliver("opened", None, "alice", "d1").await, 202);
    assert_eq!(s.gh.writes(), vec![status_post(), COMMENT_POST.to_string()]);
    assert_eq!(
        s.gh.status(H1),
        Some(("failure".into(), "Missing: Classify the change".into()))
    );
    let c = s.comment();
    for v in [
        "CMT::Minor",
        "CMT::Standard",
        "CMT::Comprehensive",
        "CMT::Emergency",
    ] {
        assert!(c.contains(v), "{c}");
    }
    assert!(c.contains("not ready to merge"));
    // The reads on first sight: the pull request, the bot's account, label history. Not the
    // reviews (an unclassified change requires no role that takes them), the head's status
    // (the bot writes it anyway, replacing whatever is there) nor the comments (the pull
    // request says it has none).
    let reads = |s: &common::github_setup::Setup| -> Vec<String> {
        s.gh.calls()
            .into_iter()
            .filter(|c| c.starts_with("GET "))
            .collect()
    };
    assert_eq!(
        reads(&s),
        vec![
            "GET /repos/acme/platypus/pulls/7",
            "GET /user",
            "GET /repos/acme/platypus/issues/7/events",
        ]
    );
    // Once the bot's status should stand, each evaluation asks the forge whether it still
    // does (someone else may have posted one); the sticky comment's id is remembered.
    s.gh.clear_calls();
    s.deliver("edited", None, "alice", "d2").await;
    assert_eq!(
        reads(&s),
        vec![
            "GET /repos/acme/platypus/pulls/7",
            "GET /repos/acme/platypus/issues/7/events",
            "GET /repos/acme/platypus/commits/1111111111111111111111111111111111111111/status",
        ]
    );
    assert!(s.gh.writes().is_empty(), "{:?}", s.gh.writes());
}

#[tokio::test]
async fn approval_matrix_end_to_end() {
    // (labels applied in order with who applied them, expected status, labels the bot adds)
    type Row<'a> = (Vec<(&'a str, &'a str)>, &'a str, Vec<&'a str>);
    let rows: Vec<Row> = vec![
        (vec![("CMT::Minor", "alice")], "failure", vec![]),
        (
            vec![
                ("CMT::Minor", "alice"),
                ("BT Integration Manager::Approved", "mona"),
            ],
            "success",
            vec![],
        ),
        (
            vec![
                ("CMT::Standard", "alice"),
                ("Peer Approval::Approved", "peter"),
            ],
            "failure",
            vec!["BT Integration Manager::Needs Approval"],
        ),
        (
            vec![
                ("CMT::Standard", "alice"),
                ("Peer Approval::Approved", "pam"),
                ("BT Integration Manager::Approved", "mona"),
            ],
            "success",
            vec![],
        ),
        (
            vec![("CMT::Comprehensive", "alice")],
            "failure",
            vec!["Business Owner Approval::Needs Approval"],
        ),
        (
            vec![
                ("CMT::Comprehensive", "alice"),
                ("Business Owner Approval::Approved", "olivia"),
                ("Peer Approval::Approved", "pam"),
                ("BT Integration Manager::Approved", "mona"),
            ],
            "success",
            vec![],
        ),
        (vec![("CMT::Emergency", "alice")], "success", vec![]),
    ];
    for (labels, expected, added) in rows {
        let s = setup().await;
        for (l, who) in &labels {
            s.gh.add_label(7, l, who);
        }
        let (last, who) = labels[labels.len() - 1];
        s.deliver("labeled", Some(last), who, "d").await;
        let state = s.gh.status(H1).expect("a status").0;
        assert_eq!(state, expected, "{labels:?}");
        for l in &added {
            assert!(
                s.gh.labels(7).iter().any(|x| x == l),
                "{labels:?}: {l} not added"
            );
        }
        let label_writes =
            s.gh.writes()
                .iter()
                .filter(|w| w.as_str() == LABELS_POST)
                .count();
        assert_eq!(label_writes, usize::from(!added.is_empty()), "{labels:?}");
        if labels[0].0 == "CMT::Emergency" {
            assert!(s.comment().contains("24 hours"));
        }
    }
}

#[tokio::test]
async fn full_approval_shows_who_approved_and_when() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "pam");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "d",
    )
    .await;
    let c = s.comment();
    assert!(c.contains("ready to merge"), "{c}");
    assert!(
        c.contains("- [x] **Peer review** — approved by @pam on 2026-01-01"),
        "{c}"
    );
    assert!(
        c.contains("- [x] **BT Integration Manager approval** — approved by @mona on 2026-01-01"),
        "{c}"
    );
    assert!(!c.contains("- [ ]"));
    assert_eq!(
        s.gh.status(H1).unwrap(),
        (
            "success".into(),
            "All change-management requirements are met".into()
        )
    );
}

#[tokio::test]
async fn the_authors_own_approval_is_removed_and_explained() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "alice");
    s.deliver("labeled", Some("Peer Approval::Approved"), "alice", "d1")
        .await;
    assert_eq!(
        s.gh.writes(),
        vec![
            status_post(),
            "DELETE /repos/acme/platypus/issues/7/labels/Peer Approval::Approved".to_string(),
            LABELS_POST.to_string(),
            COMMENT_POST.to_string(),
        ]
    );
    assert_eq!(
        s.gh.labels(7),
        vec!["CMT::Standard", "Peer Approval::Needs Approval"]
    );
    let c = s.comment();
    assert!(
        c.contains("@alice applied `Peer Approval::Approved` but is the author of this change"),
        "{c}"
    );
    // The forge reports the bot's own label changes back; the bot has converged: no writes.
    s.gh.clear_calls();
    s.deliver("unlabeled", Some("Peer Approval::Approved"), BOT, "d2")
        .await;
    s.deliver("labeled", Some("Peer Approval::Needs Approval"), BOT, "d3")
        .await;
    assert_eq!(s.gh.writes(), Vec::<String>::new());
    // A later event by a person re-evaluates from the forge's history: still nothing to
    // write, and the explanation stays in the comment.
    s.deliver("edited", None, "alice", "d4").await;
    assert_eq!(s.gh.writes(), Vec::<String>::new());
    assert!(
        s.comment().contains("is the author of this change"),
        "the explanation stays"
    );
}

#[tokio::test]
async fn an_approval_by_someone_outside_the_group_is_removed() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "eve");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "eve",
        "d",
    )
    .await;
    assert!(
        s.gh.calls()
            .contains(&"GET /orgs/acme/teams/bt-integration-managers/memberships/eve".to_string())
    );
    assert_eq!(
        s.gh.labels(7),
        vec!["CMT::Minor", "BT Integration Manager::Needs Approval"]
    );
    assert!(s.comment().contains("@eve applied `BT Integration Manager::Approved` but is not in the approver group `bt-integration-managers`"));
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
}

#[tokio::test]
async fn a_peers_approving_review_stands_for_the_label() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.approve(7, "pam", H1);
    let body = pr_payload(&s, "opened", None, "pam");
    s.app.github("pull_request", "r1", &body).await;
    s.app.drain().await;
    assert_eq!(
        s.gh.labels(7),
        vec![
            "CMT::Standard",
            "Peer Approval::Approved",
            "BT Integration Manager::Needs Approval"
        ]
    );
    assert!(
        s.comment()
            .contains("approved by @pam on 2026-01-01 00:02 UTC (approved the merge request)"),
        "{}",
        s.comment()
    );
    // The label the bot applied stands while the review does: a re-evaluation writes nothing.
    s.gh.clear_calls();
    s.deliver("labeled", Some("Peer Approval::Approved"), BOT, "r2")
        .await;
    assert_eq!(s.gh.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn reviews_that_cannot_stand_for_the_label() {
    for (who, commit) in [("alice", H1), ("eve", H1), ("pam", H2)] {
        let s = setup().await;
        s.gh.add_label(7, "CMT::Standard", "alice");
        s.gh.approve(7, who, commit);
        s.deliver("opened", None, who, "d").await;
        assert_eq!(s.gh.labels(7), vec!["CMT::Standard"], "{who} on {commit}");
    }
}

#[tokio::test]
async fn one_person_cannot_fill_two_roles() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "peter");
    s.gh.add_label(7, "BT Integration Manager::Approved", "peter");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "peter",
        "d",
    )
    .await;
    assert_eq!(
        s.gh.labels(7),
        vec![
            "CMT::Standard",
            "Peer Approval::Approved",
            "BT Integration Manager::Needs Approval"
        ]
    );
    assert!(
        s.comment()
            .contains("@peter already approved this change as Peer review"),
        "{}",
        s.comment()
    );
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
}

#[tokio::test]
async fn new_commits_reset_the_peer_approval() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "pam");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "d1",
    )
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    s.gh.push(7, H2);
    s.gh.clear_calls();
    s.deliver("synchronize", None, "alice", "d2").await;
    assert_eq!(
        s.gh.writes(),
        vec![
            // The success the change left on its old head is taken back first.
            format!("POST /repos/acme/platypus/statuses/{H1}"),
            format!("POST /repos/acme/platypus/statuses/{H2}"),
            "DELETE /repos/acme/platypus/issues/7/labels/Peer Approval::Approved".to_string(),
            LABELS_POST.to_string(),
            "PATCH /repos/acme/platypus/issues/comments/1000".to_string(),
        ]
    );
    assert_eq!(s.gh.status(H2).unwrap().0, "failure");
    let c = s.comment();
    assert!(
        c.contains("new commits were pushed (2222222) after @pam approved"),
        "{c}"
    );
    assert!(
        s.gh.labels(7)
            .contains(&"BT Integration Manager::Approved".to_string()),
        "the manager's approval stays"
    );
}

#[tokio::test]
async fn two_values_of_a_scope_keep_the_one_applied_last() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "CMT::Emergency", "alice");
    s.deliver("labeled", Some("CMT::Emergency"), "alice", "d")
        .await;
    assert_eq!(s.gh.labels(7), vec!["CMT::Emergency"]);
    assert!(
        s.gh.writes()
            .contains(&"DELETE /repos/acme/platypus/issues/7/labels/CMT::Minor".to_string())
    );
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
}

#[tokio::test]
async fn a_replayed_delivery_is_processed_once() {
    let s = setup().await;
    assert_eq!(s.deliver("opened", None, "alice", "same").await, 202);
    assert_eq!(s.deliver("opened", None, "alice", "same").await, 200);
    assert_eq!(s.gh.writes().len(), 2);
    assert_eq!(
        s.gh.calls()
            .iter()
            .filter(|c| *c == "GET /repos/acme/platypus/pulls/7")
            .count(),
        1
    );
}

#[tokio::test]
async fn an_event_that_changes_nothing_writes_nothing() {
    let s = setup().await;
    s.deliver("opened", None, "alice", "d1").await;
    s.gh.clear_calls();
    s.deliver("edited", None, "alice", "d2").await;
    assert_eq!(s.gh.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn deliveries_out_of_order_still_reach_the_current_verdict() {
    let s = setup().await;
    let opened = pr_payload(&s, "opened", None, "alice");
    s.gh.add_label(7, "CMT::Emergency", "alice");
    let labeled = pr_payload(&s, "labeled", Some("CMT::Emergency"), "alice");
    // The newer event arrives first, then the older one.
    s.app.github("pull_request", "new", &labeled).await;
    s.app.github("pull_request", "old", &opened).await;
    s.app.drain().await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    // A pass is written last, after the comment.
    assert_eq!(
        s.gh.writes(),
        vec![COMMENT_POST.to_string(), status_post()],
        "the older event found nothing to change"
    );
}

#[tokio::test]
async fn a_forge_that_fails_twice_then_succeeds() {
    let s = setup().await;
    s.gh.fail_next(
        "POST /repos/acme/platypus/statuses",
        ResponseTemplate::new(502),
    );
    s.gh.fail_next(
        "POST /repos/acme/platypus/statuses",
        ResponseTemplate::new(503),
    );
    s.deliver("opened", None, "alice", "d").await;
    let posts =
        s.gh.calls()
            .iter()
            .filter(|c| c.starts_with("POST /repos/acme/platypus/statuses"))
            .count();
    assert_eq!(posts, 3);
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    assert!(
        s.comment().contains("Classify the change"),
        "one sticky comment, written once"
    );
    assert!(s.app.store.unfinished_jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rate_limited_forge_is_waited_for() {
    let s = setup().await;
    s.gh.fail_next(
        "GET /repos/acme/platypus/pulls/7",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(json!({ "message": "API rate limit exceeded" })),
    );
    let start = Instant::now();
    s.deliver("opened", None, "alice", "d").await;
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(
        s.gh.calls()
            .iter()
            .filter(|c| *c == "GET /repos/acme/platypus/pulls/7")
            .count(),
        2
    );
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
}

#[tokio::test]
async fn a_secondary_rate_limit_longer_than_the_wait_requeues_the_job() {
    let s = setup().await;
    s.app.expect_failed_jobs(1);
    s.gh.fail_next(
        "GET /repos/acme/platypus/pulls/7",
        ResponseTemplate::new(403)
            .insert_header("retry-after", "120")
            .set_body_json(json!({ "message": "You have exceeded a secondary rate limit." })),
    );
    s.deliver("opened", None, "alice", "d").await;
    let jobs = s.app.store.unfinished_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "queued", "kept for later, not dropped");
    assert!(
        jobs[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("rate limited")
    );
    assert_eq!(s.gh.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_refused_write_leaves_the_job_failed_and_visible() {
    let s = setup().await;
    s.app.expect_failed_jobs(1);
    s.gh.fail_next(
        "POST /repos/acme/platypus/statuses",
        ResponseTemplate::new(403).set_body_json(
            json!({ "message": "Resource not accessible by personal access token" }),
        ),
    );
    s.deliver("opened", None, "alice", "d").await;
    let jobs = s.app.store.unfinished_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "failed");
    assert!(
        jobs[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("Resource not accessible"),
        "{:?}",
        jobs[0].last_error
    );
    assert!(s.app.store.retry(jobs[0].id).await.unwrap());
    s.app.drain().await;
    assert!(s.app.store.unfinished_jobs().await.unwrap().is_empty());
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
}

#[tokio::test]
async fn change_issues_get_labels_and_a_comment_but_no_status() {
    let s = setup().await;
    s.gh.open_issue(9, "alice");
    s.gh.add_label(9, "CMT::Comprehensive", "alice");
    let path = corpus_dir().join("github/issues.labeled.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["repository"]["full_name"] = json!("acme/platypus");
    v["issue"]["number"] = json!(9);
    v["issue"]["labels"] = json!([{ "name": "CMT::Comprehensive" }]);
    v["label"] = json!({ "name": "CMT::Comprehensive" });
    s.app
        .github("issues", "i1", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(
        s.gh.writes(),
        vec![
            "POST /repos/acme/platypus/issues/9/labels",
            "POST /repos/acme/platypus/issues/9/comments"
        ]
    );
    // An issue without a CMT:: label is not a change: nothing at all is written.
    s.gh.open_issue(10, "alice");
    v["issue"]["number"] = json!(10);
    v["issue"]["labels"] = json!([]);
    v["label"] = json!({ "name": "bug" });
    s.gh.clear_calls();
    s.app
        .github("issues", "i2", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(s.gh.calls(), vec!["GET /repos/acme/platypus/issues/10"]);
}

#[tokio::test]
async fn dry_run_reads_but_never_writes() {
    let mut s = setup().await;
    s.app.worker.dry_run = true;
    s.gh.add_label(7, "CMT::Comprehensive", "alice");
    s.deliver("labeled", Some("CMT::Comprehensive"), "alice", "d")
        .await;
    assert_eq!(s.gh.writes(), Vec::<String>::new());
    let log = s
        .app
        .store
        .audit_of("github", "acme/platypus", 7)
        .await
        .unwrap();
    let planned: Vec<&str> = log
        .iter()
        .filter(|(k, _)| k == "action")
        .map(|(_, d)| d["planned"]["action"].as_str().unwrap())
        .collect();
    // A failing verdict is written first.
    assert_eq!(planned, vec!["set_status", "add_labels", "upsert_comment"]);
}

#[tokio::test]
async fn a_token_that_cannot_read_its_own_account_still_enforces() {
    let s = setup().await;
    s.gh.fail_next(
        "GET /user",
        ResponseTemplate::new(403)
            .set_body_json(json!({ "message": "Resource not accessible by integration" })),
    );
    s.deliver("opened", None, "alice", "d").await;
    assert_eq!(s.gh.writes(), vec![status_post(), COMMENT_POST.to_string()]);
    assert!(s.app.store.unfinished_jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_sticky_comment_is_edited_without_listing_and_rewritten_when_deleted() {
    let s = setup().await;
    s.deliver("opened", None, "alice", "d1").await;
    // The text changes: one edit, no listing of comments.
    s.gh.add_label(7, "CMT::Emergency", "alice");
    s.gh.clear_calls();
    s.deliver("labeled", Some("CMT::Emergency"), "alice", "d2")
        .await;
    assert!(
        s.gh.calls()
            .contains(&"PATCH /repos/acme/platypus/issues/comments/1000".to_string())
    );
    assert!(
        !s.gh
            .calls()
            .contains(&"GET /repos/acme/platypus/issues/7/comments".to_string())
    );
    // Someone deletes it: GitHub says so with issue_comment `deleted`; the bot writes it again.
    s.gh.state.lock().unwrap().comments.clear();
    let path = corpus_dir().join("github/issue_comment.deleted.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["repository"]["full_name"] = json!("acme/platypus");
    v["issue"]["number"] = json!(7);
    v["issue"]["pull_request"] =
        json!({ "url": "https://api.github.com/repos/acme/platypus/pulls/7" });
    v["sender"] = gh_user("alice");
    s.app
        .github("issue_comment", "d3", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert!(s.comment().contains("24 hours"));
    // Deleted without a webhook, then the text changes: the edit finds it gone and recreates.
    s.gh.state.lock().unwrap().comments.clear();
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.deliver("labeled", Some("CMT::Minor"), "alice", "d4")
        .await;
    assert!(
        s.comment().contains("BT Integration Manager"),
        "{}",
        s.comment()
    );
}

#[tokio::test]
async fn a_missing_listing_counts_as_empty() {
    let s = setup().await;
    // A standard change: its peer review takes native approvals, so the reviews are read.
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.fail_next(
        "GET /repos/acme/platypus/pulls/7/reviews",
        ResponseTemplate::new(404),
    );
    s.gh.fail_next(
        "GET /repos/acme/platypus/issues/7/events",
        ResponseTemplate::new(404),
    );
    s.deliver("labeled", Some("CMT::Standard"), "alice", "d")
        .await;
    assert!(
        s.gh.calls()
            .contains(&"GET /repos/acme/platypus/pulls/7/reviews".to_string())
    );
    assert_eq!(s.gh.writes(), vec![status_post(), COMMENT_POST.to_string()]);
    assert!(s.app.store.unfinished_jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_call_carries_the_token() {
    let s = setup().await;
    s.deliver("opened", None, "alice", "d").await;
    let calls = s.gh.authorized_calls();
    assert!(!calls.is_empty());
    for (call, auth) in calls {
        assert_eq!(auth, "Bearer gh-token", "{call}");
    }
}

#[tokio::test]
async fn a_repository_can_tighten_its_rules_and_a_broken_file_is_named() {
    let mut s = setup().await;
    s.app.worker.rules = rules_allowing_repositories();
    s.gh.state.lock().unwrap().files.push((
        ".changegate.yaml".into(),
        "version: 1\nrules:\n  - name: minor-needs-a-peer-here\n    when: {labels: [\"CMT::Minor\"]}\n    require: [peer]\n".into(),
    ));
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "r1",
    )
    .await;
    assert!(
        s.gh.calls()
            .contains(&"GET /repos/acme/platypus/contents/.changegate.yaml".to_string())
    );
    assert_eq!(
        s.gh.status(H1).unwrap(),
        ("failure".into(), "Missing: Peer review".into()),
        "tightened by the repository"
    );

    // A file that tries to loosen is refused; the organization's rules apply and the comment says why.
    let mut s = setup().await;
    s.app.worker.rules = rules_allowing_repositories();
    s.gh.state.lock().unwrap().files.push((
        ".changegate.yaml".into(),
        "version: 1\ndistinct_approvers: false\n".into(),
    ));
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "r2",
    )
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    assert!(
        s.comment()
            .contains(".changegate.yaml:2:21: a repository cannot turn distinct_approvers off"),
        "{}",
        s.comment()
    );
}

#[tokio::test]
async fn an_event_that_changes_nothing_costs_no_rate_limit() {
    let s = setup().await;
    s.apply_label("alice", "CMT::Minor").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s.deliver("edited", None, "alice", "warm").await;
    s.gh.clear_calls();
    let before = s.gh.state.lock().unwrap().not_modified;
    s.deliver("edited", None, "alice", "again").await;
    let reads: Vec<String> = s.gh.calls();
    let not_modified = s.gh.state.lock().unwrap().not_modified - before;
    // Every read is conditional and unchanged: all answered 304, none counts; nothing written.
    assert!(reads.iter().all(|c| c.starts_with("GET ")), "{reads:?}");
    assert_eq!(not_modified as usize, reads.len(), "{reads:?}");
    // A change to the pull request is read in full again.
    s.gh.add_label(7, "bug", "alice");
    s.gh.clear_calls();
    let before = s.gh.state.lock().unwrap().not_modified;
    s.deliver("labeled", Some("bug"), "alice", "changed").await;
    let not_modified = s.gh.state.lock().unwrap().not_modified - before;
    let reads =
        s.gh.calls()
            .iter()
            .filter(|c| c.starts_with("GET "))
            .count();
    assert!(
        not_modified < reads as u64,
        "the changed pull request and history are read"
    );
}

#[tokio::test]
async fn an_exhausted_rate_limit_is_waited_out_not_failed() {
    let s = setup().await;
    // More 429s than the in-place retries and the job's attempts (3 × 3) together.
    for _ in 0..10 {
        s.gh.fail_next(
            "GET /repos/acme/platypus/pulls/7",
            ResponseTemplate::new(429)
                .insert_header("retry-after", "0")
                .set_body_json(json!({ "message": "API rate limit exceeded" })),
        );
    }
    s.app.expect_failed_jobs(1);
    let body = pr_payload(&s, "opened", None, "alice");
    s.app.github("pull_request", "rl", &body).await;
    for _ in 0..10 {
        s.app.drain().await;
    }
    let left = s.app.store.unfinished_jobs().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        s.gh.status(H1).unwrap().0,
        "failure",
        "evaluated once the limit reset"
    );
}
