//! End to end on GitLab: signed webhooks (corpus payloads adapted to each scenario) through the
//! real router and store, the worker against a stateful fake GitLab, and the exact API calls.

mod common;

use common::gitlab_world::{BOT, GitlabWorld, PROJECT_ID, user_id};
use common::*;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

struct Setup {
    app: TestApp,
    gl: GitlabWorld,
}

async fn setup() -> Setup {
    let gl = GitlabWorld::start().await;
    for (group, who) in [
        ("acme/business-owners", "olivia"),
        ("acme/integrations-team", "peter"),
        ("acme/integrations-team", "pam"),
        ("acme/bt-integration-managers", "mona"),
    ] {
        gl.member(group, who);
    }
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    Setup { app, gl }
}

/// The corpus `merge_request.update.1` payload, moved to acme/platypus!3 in its current state.
fn mr_payload(s: &Setup, action: &str, actor: &str, oldrev: Option<&str>) -> Vec<u8> {
    let path = corpus_dir().join("gitlab/merge_request.update.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let labels: Vec<Value> =
        s.gl.labels(3)
            .iter()
            .map(|l| json!({ "id": 1, "title": l }))
            .collect();
    v["user"] = json!({ "id": user_id(actor), "username": actor, "name": actor });
    v["project"]["id"] = json!(PROJECT_ID);
    v["project"]["path_with_namespace"] = json!("acme/platypus");
    let oa = &mut v["object_attributes"];
    oa["iid"] = json!(3);
    oa["action"] = json!(action);
    oa["author_id"] = json!(user_id("alice"));
    oa["last_commit"]["id"] = json!(SHA);
    oa["labels"] = json!(labels);
    if let Some(old) = oldrev {
        oa["oldrev"] = json!(old);
    }
    v["labels"] = json!(labels);
    serde_json::to_vec(&v).unwrap()
}

impl Setup {
    async fn deliver(&self, action: &str, actor: &str, delivery: &str) -> u16 {
        let body = mr_payload(self, action, actor, None);
        let (status, _) = self.app.gitlab("Merge Request Hook", delivery, &body).await;
        self.app.drain().await;
        status.as_u16()
    }

    fn note(&self) -> String {
        let all = self.gl.notes(3);
        assert_eq!(all.len(), 1, "exactly one sticky note: {all:?}");
        all[0].clone()
    }
}

const MR: &str = "/api/v4/projects/42/merge_requests/3";

#[tokio::test]
async fn unclassified_merge_request_fails_with_a_named_status() {
    let s = setup().await;
    assert_eq!(s.deliver("open", "alice", "u1").await, 202);
    // `pending` the moment the merge request opens (before the long reads), then the verdict.
    assert_eq!(
        s.gl.writes(),
        vec![
            format!("POST /api/v4/projects/42/statuses/{SHA}"),
            format!("POST /api/v4/projects/42/statuses/{SHA}"),
            format!("POST {MR}/notes")
        ]
    );
    assert_eq!(
        s.gl.status(SHA),
        Some((
            "failed".into(),
            "changegate".into(),
            "Missing: Classify the change".into()
        ))
    );
    assert!(s.note().contains("CMT::Comprehensive"));
}

#[tokio::test]
async fn a_valid_approval_passes_and_the_note_says_who() {
    let s = setup().await;
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.deliver("update", "mona", "u1").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
    assert!(s.note().contains("approved by @mona"), "{}", s.note());
    assert!(s.gl.calls().contains(&format!(
        "GET /api/v4/groups/acme/bt-integration-managers/members/{}",
        user_id("mona")
    )));
    assert!(
        s.gl.calls()
            .contains(&format!("GET {MR}/resource_label_events"))
    );
    // A minor change requires no role that takes merge request approvals: not read.
    assert!(
        !s.gl.calls().contains(&format!("GET {MR}/approvals")),
        "{:#?}",
        s.gl.calls()
    );
}

#[tokio::test]
async fn the_authors_approval_is_removed_with_one_update() {
    let s = setup().await;
    s.gl.member("acme/integrations-team", "alice");
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.add_label(3, "Peer Approval::Approved", "alice");
    s.deliver("update", "alice", "u1").await;
    // The failing status first, then the labels.
    let writes = s.gl.writes();
    assert_eq!(
        writes[0],
        format!("POST /api/v4/projects/42/statuses/{SHA}"),
        "{writes:?}"
    );
    assert_eq!(writes[1], format!("PUT {MR}"), "{writes:?}");
    assert_eq!(writes[2], format!("PUT {MR}"), "{writes:?}");
    assert_eq!(
        s.gl.labels(3),
        vec!["CMT::Standard", "Peer Approval::Needs Approval"]
    );
    assert!(
        s.note()
            .contains("@alice applied `Peer Approval::Approved` but is the author of this change")
    );
    assert_eq!(s.gl.status(SHA).unwrap().0, "failed");
    // Converged: the label events the bot caused change nothing more.
    let before = s.gl.writes().len();
    s.deliver("update", BOT, "u2").await;
    assert_eq!(s.gl.writes().len(), before);
}

#[tokio::test]
async fn a_merge_request_approval_by_a_peer_applies_the_peer_label() {
    let s = setup().await;
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.approve(3, "pam");
    let path = corpus_dir().join("gitlab/merge_request.approved.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["user"] = json!({ "username": "pam" });
    v["project"]["id"] = json!(PROJECT_ID);
    v["project"]["path_with_namespace"] = json!("acme/platypus");
    v["object_attributes"]["iid"] = json!(3);
    s.app
        .gitlab("Merge Request Hook", "a1", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(
        s.gl.labels(3),
        vec![
            "CMT::Standard",
            "Peer Approval::Approved",
            "BT Integration Manager::Needs Approval"
        ]
    );
    // GitLab says when (`approved_at`), so the note does too.
    assert!(
        s.note()
            .contains("approved by @pam on 2026-01-01 00:03 UTC (approved the merge request)"),
        "{}",
        s.note()
    );
    // An approval by the author does not count.
    let s = setup().await;
    s.gl.member("acme/integrations-team", "alice");
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.approve(3, "alice");
    s.deliver("approved", "alice", "a2").await;
    assert_eq!(s.gl.labels(3), vec!["CMT::Standard"]);
}

#[tokio::test]
async fn one_person_one_role_and_a_push_resets_the_peer() {
    let s = setup().await;
    s.gl.member("acme/bt-integration-managers", "peter");
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.add_label(3, "Peer Approval::Approved", "peter");
    s.gl.add_label(3, "BT Integration Manager::Approved", "peter");
    s.deliver("update", "peter", "u1").await;
    assert_eq!(
        s.gl.labels(3),
        vec![
            "CMT::Standard",
            "Peer Approval::Approved",
            "BT Integration Manager::Needs Approval"
        ]
    );
    assert!(
        s.note()
            .contains("@peter already approved this change as Peer review")
    );
    // New commits: GitLab records a diff version and sends `update` with oldrev.
    const NEW: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    s.gl.push(3, NEW);
    let mut v: Value =
        serde_json::from_slice(&mr_payload(&s, "update", "alice", Some(SHA))).unwrap();
    v["object_attributes"]["last_commit"]["id"] = json!(NEW);
    s.app
        .gitlab("Merge Request Hook", "u2", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert!(
        s.gl.labels(3)
            .contains(&"Peer Approval::Needs Approval".to_string()),
        "{:?}",
        s.gl.labels(3)
    );
    assert!(s.note().contains("new commits were pushed"), "{}", s.note());
}

#[tokio::test]
async fn change_issues_get_labels_and_a_note() {
    let s = setup().await;
    s.gl.open_issue(5, "alice");
    s.gl.add_issue_label(5, "CMT::Comprehensive", "alice");
    let path = corpus_dir().join("gitlab/issue.update.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["project"]["id"] = json!(PROJECT_ID);
    v["project"]["path_with_namespace"] = json!("acme/platypus");
    v["object_attributes"]["iid"] = json!(5);
    v["labels"] = json!([{ "title": "CMT::Comprehensive" }]);
    s.app
        .gitlab("Issue Hook", "i1", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(
        s.gl.writes(),
        vec![
            "PUT /api/v4/projects/42/issues/5",
            "POST /api/v4/projects/42/issues/5/notes"
        ]
    );
    assert_eq!(
        s.gl.issue_labels(5),
        vec![
            "CMT::Comprehensive",
            "Business Owner Approval::Needs Approval"
        ]
    );
}

#[tokio::test]
async fn redelivery_and_failures() {
    let s = setup().await;
    s.gl.fail_next(&format!("GET {MR}"), ResponseTemplate::new(500));
    s.gl.fail_next(&format!("GET {MR}"), ResponseTemplate::new(502));
    assert_eq!(s.deliver("open", "alice", "same").await, 202);
    assert_eq!(
        s.deliver("open", "alice", "same").await,
        200,
        "same Idempotency-Key"
    );
    assert_eq!(
        s.gl.calls()
            .iter()
            .filter(|c| *c == &format!("GET {MR}"))
            .count(),
        // Two failures and the read that succeeds, then the reads of its head pipeline (the
        // pipeline GitLab gates the merge on): for `pending` on arrival, and for the verdict.
        5
    );
    // pending, the verdict, the note.
    assert_eq!(s.gl.writes().len(), 3);
    // Another event with nothing new: no write at all.
    s.deliver("update", "alice", "other").await;
    assert_eq!(s.gl.writes().len(), 3);
    // The note was edited in place when its text changed, never duplicated.
    s.gl.add_label(3, "CMT::Emergency", "alice");
    s.deliver("update", "alice", "third").await;
    assert!(
        s.gl.writes().contains(&format!("PUT {MR}/notes/5000")),
        "{:?}",
        s.gl.writes()
    );
    assert!(s.note().contains("24 hours"));
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
}

#[tokio::test]
async fn in_approval_mode_the_bot_approves_and_withdraws_as_the_verdict_changes() {
    let mut s = setup().await;
    s.app.worker.approval_projects = vec!["acme/*".into()];
    s.deliver("open", "alice", "p1").await;
    assert!(
        !s.gl
            .writes()
            .iter()
            .any(|w| w.ends_with("/approve") || w.ends_with("/unapprove")),
        "failing: nothing to approve"
    );
    s.gl.add_label(3, "CMT::Emergency", "alice");
    s.deliver("update", "alice", "p2").await;
    assert!(
        s.gl.writes().contains(&format!("POST {MR}/approve")),
        "{:?}",
        s.gl.writes()
    );
    // Redelivered or unchanged: no second approval.
    s.deliver("update", "alice", "p3").await;
    assert_eq!(
        s.gl.writes()
            .iter()
            .filter(|w| w.ends_with("/approve"))
            .count(),
        1
    );
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.deliver("update", "alice", "p4").await;
    assert!(
        s.gl.writes().contains(&format!("POST {MR}/unapprove")),
        "{:?}",
        s.gl.writes()
    );
    assert!(s.gl.state.lock().unwrap().approvals.is_empty());
}

#[tokio::test]
async fn a_project_can_tighten_its_rules() {
    let mut s = setup().await;
    s.app.worker.rules = rules_allowing_repositories();
    s.gl.state.lock().unwrap().files.push((
        ".changegate.yaml".into(),
        "version: 1\nrules:\n  - name: emergencies-still-need-a-manager\n    when: {labels: [\"CMT::Emergency\"]}\n    require: [manager]\n".into(),
    ));
    s.gl.add_label(3, "CMT::Emergency", "alice");
    s.deliver("update", "alice", "f1").await;
    assert!(
        s.gl.calls()
            .contains(&"GET /api/v4/projects/42/repository/files/.changegate.yaml".to_string()),
        "{:?}",
        s.gl.calls()
    );
    assert_eq!(
        s.gl.status(SHA).unwrap().2,
        "Missing: BT Integration Manager approval"
    );
}

/// Issue 9 item 2: only direct, active, unexpired members at Developer or above approve.
#[tokio::test]
async fn inherited_guest_pending_blocked_and_expired_members_do_not_approve() {
    let cases: Vec<(&str, Value)> = vec![
        // A member of the parent group only: GitLab lists them under `members/all`.
        ("acme", json!({ "access_level": 50, "state": "active" })),
        (
            "acme/bt-integration-managers",
            json!({ "access_level": 10, "state": "active" }),
        ),
        (
            "acme/bt-integration-managers",
            json!({ "access_level": 5, "state": "active" }),
        ),
        (
            "acme/bt-integration-managers",
            json!({ "access_level": 30, "state": "active", "membership_state": "awaiting" }),
        ),
        (
            "acme/bt-integration-managers",
            json!({ "access_level": 30, "state": "blocked" }),
        ),
        (
            "acme/bt-integration-managers",
            json!({ "access_level": 40, "state": "active", "expires_at": "2020-01-01" }),
        ),
    ];
    for (group, fields) in cases {
        let s = setup().await;
        s.gl.member_as(group, "mallory", fields.clone());
        s.gl.add_label(3, "CMT::Minor", "alice");
        s.gl.add_label(3, "BT Integration Manager::Approved", "mallory");
        s.deliver("update", "mallory", "u1").await;
        assert_eq!(s.gl.status(SHA).unwrap().0, "failed", "{group} {fields}");
        assert_eq!(
            s.gl.labels(3),
            vec!["CMT::Minor", "BT Integration Manager::Needs Approval"],
            "{group} {fields}"
        );
        assert!(
            s.note().contains("is not in the approver group"),
            "{}",
            s.note()
        );
    }
    // A Maintainer whose membership has not expired counts.
    let s = setup().await;
    s.gl.member_as(
        "acme/bt-integration-managers",
        "mallory",
        json!({ "access_level": 40, "state": "active", "membership_state": "active", "expires_at": "2999-01-01" }),
    );
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mallory");
    s.deliver("update", "mallory", "u1").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
}

/// Issue 9 item 9: a native approval from before the head's push does not count for a role
/// that pushes reset, and the bot's own approval never counts as a peer's.
#[tokio::test]
async fn native_approvals_before_the_push_and_the_bots_own_do_not_count() {
    const NEW: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    let s = setup().await;
    // GitLab's times follow the bot's clock: the push's webhook arrives before pam approves
    // again (the later of the webhook and the diff version places the push).
    s.gl.set_time("2026-11-02T11:00:00Z");
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.gl.approve(3, "pam");
    // New commits after pam approved; GitLab (without "reset approvals on push") keeps it.
    s.gl.push(3, NEW);
    let mut v: Value =
        serde_json::from_slice(&mr_payload(&s, "update", "alice", Some(SHA))).unwrap();
    v["object_attributes"]["last_commit"]["id"] = json!(NEW);
    s.app
        .gitlab("Merge Request Hook", "p1", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(s.gl.status(NEW).unwrap().0, "failed");
    assert!(s.note().contains("- [ ] **Peer review**"), "{}", s.note());
    // pam approves again, after the push: it counts.
    s.gl.approve(3, "pam");
    s.deliver("approved", "pam", "p2").await;
    assert_eq!(s.gl.status(NEW).unwrap().0, "success");

    // The bot's approval, even as a member of the peers' group, is no peer review.
    let s = setup().await;
    s.gl.member("acme/integrations-team", BOT);
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.gl.approve(3, BOT);
    s.deliver("approved", "mona", "b1").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "failed");
    assert!(
        !s.gl
            .labels(3)
            .contains(&"Peer Approval::Approved".to_string())
    );
}

/// Issue 9 item 10: the project's path comes from GitLab, not from the delivery, so a
/// delivery naming another namespace cannot bring its own approver groups.
#[tokio::test]
async fn a_delivery_cannot_rename_the_project_to_choose_its_approvers() {
    let s = setup().await;
    s.gl.member("evil/bt-integration-managers", "mallory");
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mallory");
    let mut v: Value = serde_json::from_slice(&mr_payload(&s, "update", "mallory", None)).unwrap();
    v["project"]["path_with_namespace"] = json!("evil/x");
    v["project"]["namespace"] = json!("evil");
    s.app
        .gitlab("Merge Request Hook", "e1", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "failed");
    assert!(
        s.gl.calls().iter().all(|c| !c.contains("/groups/evil")),
        "{:?}",
        s.gl.calls()
    );
    assert!(
        s.note().contains(
            "@mallory applied `BT Integration Manager::Approved` but is not in the approver group"
        ),
        "{}",
        s.note()
    );
}

/// Issue 9 item 12: someone whose commits are in the merge request cannot approve it.
#[tokio::test]
async fn a_peer_who_pushed_commits_cannot_approve_by_label_or_natively() {
    const NEW: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    let s = setup().await;
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.gl.push_commit_by(3, NEW, "pam");
    s.gl.approve(3, "pam");
    s.gl.add_label(3, "Peer Approval::Approved", "pam");
    let mut v: Value = serde_json::from_slice(&mr_payload(&s, "update", "pam", None)).unwrap();
    v["object_attributes"]["last_commit"]["id"] = json!(NEW);
    s.app
        .gitlab("Merge Request Hook", "c1", &serde_json::to_vec(&v).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(s.gl.status(NEW).unwrap().0, "failed");
    assert!(
        s.note()
            .contains("@pam applied `Peer Approval::Approved` but authored commits"),
        "{}",
        s.note()
    );
}

#[tokio::test]
async fn what_does_not_change_for_a_head_is_read_once_per_head() {
    // On GitLab every request counts against the rate limit: the head's commits (who
    // authored them) and diff versions (when it was pushed) are read once per head.
    let s = setup().await;
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.deliver("update", "mona", "u1").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
    let reads_of = |s: &Setup, what: &str| {
        s.gl.calls()
            .iter()
            .filter(|c| *c == &format!("GET {MR}/{what}"))
            .count()
    };
    assert_eq!(reads_of(&s, "commits"), 1);
    assert_eq!(reads_of(&s, "versions"), 1);
    s.gl.clear_calls();
    s.deliver("update", "alice", "u2").await;
    s.deliver("update", "alice", "u3").await;
    assert_eq!(reads_of(&s, "commits"), 0, "{:#?}", s.gl.calls());
    assert_eq!(reads_of(&s, "versions"), 0, "{:#?}", s.gl.calls());
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
    // A new head is read again, and its push resets nothing that does not reset.
    s.gl.clear_calls();
    let new_head = "ee1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    s.gl.push(3, new_head);
    let body = mr_payload(&s, "update", "alice", Some(SHA));
    s.app.gitlab("Merge Request Hook", "u4", &body).await;
    s.app.drain().await;
    assert_eq!(reads_of(&s, "commits"), 1, "{:#?}", s.gl.calls());
    assert_eq!(reads_of(&s, "versions"), 1, "{:#?}", s.gl.calls());
}
