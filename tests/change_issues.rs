//! A change issue gates the merge requests that link it, end to end on the fake GitHub:
//! approvals given on the issue pass the pull request, withdrawing one turns it red with no
//! event on the pull request, the pull request's author cannot approve on the issue, and a
//! missing or dangling link fails.

mod common;

use common::github_setup::{H1, Setup, setup};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;

async fn gated() -> Setup {
    let s = setup().await;
    let text = format!(
        "{}\nchange_issue:\n  approvals: [business-owner, manager]\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
    );
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", &text).unwrap());
    s.gh.open_issue(12, "carol");
    // alice, who opens the pull requests, is assigned the issue: it is hers to link.
    s.gh.assign(12, "alice");
    s
}

/// GitHub's `issues.labeled` example moved to acme/platypus#12, sent by `sender`.
async fn issue_event(s: &Setup, label: &str, sender: &str, delivery: &str) {
    let path = corpus_dir().join("github/issues.labeled.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["repository"]["full_name"] = json!("acme/platypus");
    v["issue"]["number"] = json!(12);
    v["issue"]["labels"] = json!(
        s.gh.labels(12)
            .iter()
            .map(|l| json!({ "name": l }))
            .collect::<Vec<_>>()
    );
    v["label"] = json!({ "name": label });
    v["sender"] = common::github_setup::gh_user(sender);
    let (status, _) = s
        .app
        .github("issues", delivery, &serde_json::to_vec(&v).unwrap())
        .await;
    assert_eq!(status.as_u16(), 202);
    s.app.drain().await;
}

#[tokio::test]
async fn the_issues_approvals_gate_the_pull_request_and_withdrawing_one_turns_it_red() {
    let s = gated().await;
    // No link yet: the pull request cannot merge.
    s.apply_label("peter", "Peer Approval::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert!(
        description.contains("Link the change issue"),
        "{description}"
    );

    // The issue is classified and approved by the business owner and the manager.
    s.gh.add_label(12, "CMT::Comprehensive", "carol");
    s.gh.add_label(12, "Business Owner Approval::Approved", "olivia");
    s.gh.add_label(12, "BT Integration Manager::Approved", "mona");
    s.gh.set_body(7, "Fixes the sync.\n\nChange: #12\n");
    s.deliver("edited", None, "alice", "edit-1").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}\n{}", s.comment());
    let comment = s.comment();
    assert!(
        comment.contains("approved on `acme/platypus#12` by @olivia"),
        "{comment}"
    );
    assert!(
        comment.contains("approved on `acme/platypus#12` by @mona"),
        "{comment}"
    );

    // The business owner withdraws on the issue: only an issue event, and #7 turns red.
    s.gh.remove_label(12, "Business Owner Approval::Approved", "olivia");
    issue_event(&s, "Business Owner Approval::Approved", "olivia", "issue-1").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(description, "Missing: Business owner approval");
    assert!(
        s.comment().contains("not given yet on `acme/platypus#12`"),
        "{}",
        s.comment()
    );
}

#[tokio::test]
async fn the_pull_requests_author_cannot_approve_on_the_issue() {
    let s = gated().await;
    s.gh.member("business-owners", "alice");
    s.gh.add_label(12, "CMT::Comprehensive", "carol");
    s.gh.add_label(12, "Business Owner Approval::Approved", "alice");
    s.gh.add_label(12, "BT Integration Manager::Approved", "mona");
    s.gh.set_body(7, "Change: https://github.com/acme/platypus/issues/12");
    s.apply_label("peter", "Peer Approval::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(description, "Missing: Business owner approval");
}

#[tokio::test]
async fn a_link_to_an_issue_that_does_not_exist_fails() {
    let s = gated().await;
    s.gh.set_body(7, "Change: #404");
    s.apply_label("alice", "CMT::Minor").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert!(
        description.contains("Link the change issue"),
        "{description}"
    );
    assert!(
        s.comment().contains("`acme/platypus#404` does not exist"),
        "{}",
        s.comment()
    );
}

#[tokio::test]
async fn an_issue_outside_the_organization_cannot_gate_a_pull_request() {
    // The author's own namespace would resolve `{owner}/business-owners` to a team they own.
    let s = gated().await;
    s.gh.set_body(7, "Change: mallory/change-requests#1");
    s.apply_label("alice", "CMT::Minor").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert!(
        description.contains("Link the change issue"),
        "{description}"
    );
    assert!(s.comment().contains("is outside `acme`"), "{}", s.comment());
    assert!(
        !s.gh.calls().iter().any(|c| c.contains("mallory")),
        "the issue is not even read"
    );
}

mod gitlab {
    use super::*;
    use common::gitlab_world::{GitlabWorld, PROJECT_ID, user_id};

    const SHA: &str = "3333333333333333333333333333333333333333";

    fn issue_hook(gl: &GitlabWorld, actor: &str) -> Vec<u8> {
        let path = corpus_dir().join("gitlab/issue.update.1.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["user"] = json!({ "id": user_id(actor), "username": actor, "name": actor });
        v["project"]["id"] = json!(PROJECT_ID);
        v["project"]["path_with_namespace"] = json!("acme/platypus");
        v["object_attributes"]["iid"] = json!(12);
        v["labels"] = json!(
            gl.issue_labels(12)
                .iter()
                .map(|l| json!({ "title": l }))
                .collect::<Vec<_>>()
        );
        serde_json::to_vec(&v).unwrap()
    }

    #[tokio::test]
    async fn a_merge_request_is_gated_by_its_issue_on_gitlab() {
        let gl = GitlabWorld::start().await;
        for (group, who) in [
            ("acme/business-owners", "olivia"),
            ("acme/integrations-team", "peter"),
            ("acme/bt-integration-managers", "mona"),
        ] {
            gl.member(group, who);
        }
        gl.open_mr(3, "alice", SHA);
        gl.open_issue(12, "carol");
        gl.assign_issue(12, "alice");
        gl.add_issue_label(12, "CMT::Comprehensive", "carol");
        gl.add_issue_label(12, "Business Owner Approval::Approved", "olivia");
        gl.add_issue_label(12, "BT Integration Manager::Approved", "mona");
        gl.set_description(3, "Change: #12");
        let app = TestApp::with_forges(None, Some(&gl.url())).await;
        let text = format!(
            "{}\nchange_issue:\n  approvals: [business-owner, manager]\n",
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
        );
        *app.worker.rules.write().unwrap() =
            Arc::new(changegate::rules::parse("rules.yaml", &text).unwrap());
        gl.add_label(3, "Peer Approval::Approved", "peter");
        app.gitlab(
            "Merge Request Hook",
            "m1",
            &gl.mr_hook(SHA, "update", "peter"),
        )
        .await;
        app.drain().await;
        let (state, _, description) = gl.status(SHA).unwrap();
        assert_eq!(state, "success", "{description}: {:#?}", gl.notes(3));

        // Withdrawn on the issue: only the issue's hook, and the merge request fails.
        gl.remove_issue_label(12, "Business Owner Approval::Approved", "olivia");
        app.gitlab("Issue Hook", "i1", &issue_hook(&gl, "olivia"))
            .await;
        app.drain().await;
        let (state, _, description) = gl.status(SHA).unwrap();
        assert_eq!(state, "failed");
        assert_eq!(description, "Missing: Business owner approval");
    }
}

#[tokio::test]
async fn approvals_given_by_comment_on_the_issue_gate_the_pull_request() {
    let s = gated().await;
    s.gh.add_label(12, "CMT::Comprehensive", "carol");
    issue_event(&s, "CMT::Comprehensive", "carol", "issue-c1").await;
    for (who, role) in [("olivia", "business-owner"), ("mona", "manager")] {
        let id =
            s.gh.post_comment(12, who, &format!("/changegate approve {role}"));
        s.deliver_comment_on(12, "created", id, who).await;
    }
    let issue_labels = s.gh.labels(12);
    assert!(
        issue_labels.contains(&"Business Owner Approval::Approved".to_string()),
        "{issue_labels:?} {:?} {:?}",
        s.gh.comments(12),
        s.app
            .store
            .comment_commands("github:acme/platypus:issue:12", &[])
            .await
    );
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.gh.set_body(7, "Fixes the sync.\n\nChange: #12\n");
    s.deliver("edited", None, "alice", "edit-c1").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}");
}
