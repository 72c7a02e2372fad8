//! A linked change issue must belong to the change (issue 22, item 5): a closed issue,
//! someone else's approved issue, a pull request (GitHub's `/issues/{n}` answers for those too)
//! or the pull request itself is refused, and the pull request fails saying why. End to end on
//! the fake GitHub.

mod common;

use common::github_setup::{H1, H2, Setup, setup};
use std::sync::Arc;

/// Change issues on; carol's issue #12 is classified and approved by the business owner and
/// the manager; alice's #7 has its peer approval and links `link`.
async fn linking(link: &str) -> Setup {
    let s = setup().await;
    let text = format!(
        "{}\nchange_issue:\n  approvals: [business-owner, manager]\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
    );
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", &text).unwrap());
    s.gh.open_issue(12, "carol");
    for (n, l, who) in [
        (12, "CMT::Comprehensive", "carol"),
        (12, "Business Owner Approval::Approved", "olivia"),
        (12, "BT Integration Manager::Approved", "mona"),
    ] {
        s.gh.add_label(n, l, who);
    }
    s.gh.set_body(7, &format!("Fixes the sync.\n\nChange: {link}\n"));
    s
}

async fn refused_with(s: &Setup, reason: &str) {
    s.apply_label("peter", "Peer Approval::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure", "{description}");
    let comment = s.comment();
    assert!(
        comment.contains("Change issue belongs to this change") && comment.contains(reason),
        "{comment}"
    );
}

#[tokio::test]
async fn an_issue_assigned_to_the_author_gates_the_pull_request() {
    let s = linking("#12").await;
    s.gh.assign(12, "alice");
    s.apply_label("peter", "Peer Approval::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}\n{}", s.comment());
    // The issue's approvers see what their approvals gate, in one comment of the bot's.
    s.gh.open_pr(8, "alice", "8888888888888888888888888888888888888888");
    s.gh.set_body(8, "Change: #12");
    let body = serde_json::to_vec(&common::github_setup::pr_event(
        &s, 8, "opened", None, "alice",
    ))
    .unwrap();
    s.app.github("pull_request", "o8", &body).await;
    s.app.drain().await;
    s.deliver("edited", None, "alice", "e7").await;
    let on_issue = s.gh.comments(12);
    assert_eq!(on_issue.len(), 1, "{on_issue:?}");
    assert!(
        on_issue[0].contains("- acme/platypus#7\n- acme/platypus#8"),
        "{}",
        on_issue[0]
    );
}

#[tokio::test]
async fn someone_elses_approved_issue_is_refused() {
    let s = linking("#12").await;
    refused_with(
        &s,
        "@alice is not its author or one of its assignees (`change_issue.linked_by`)",
    )
    .await;
}

#[tokio::test]
async fn a_closed_issue_is_refused() {
    let s = linking("#12").await;
    s.gh.assign(12, "alice");
    s.gh.close(12);
    refused_with(&s, "the issue is closed; only an open issue gates a change").await;
}

#[tokio::test]
async fn a_pull_request_is_no_change_issue() {
    let s = linking("#8").await;
    // bob's pull request #8, approved by the business owner and the manager, assigned to alice.
    s.gh.open_pr(8, "bob", "8888888888888888888888888888888888888888");
    s.gh.assign(8, "alice");
    for l in [
        ("CMT::Comprehensive", "bob"),
        ("Business Owner Approval::Approved", "olivia"),
        ("BT Integration Manager::Approved", "mona"),
    ] {
        s.gh.add_label(8, l.0, l.1);
    }
    refused_with(&s, "it is a pull request, not an issue").await;
}

#[tokio::test]
async fn a_pull_request_linking_itself_is_refused() {
    let s = linking("#7").await;
    s.gh.add_label(7, "CMT::Comprehensive", "alice");
    s.gh.add_label(7, "Business Owner Approval::Approved", "olivia");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    refused_with(
        &s,
        "`acme/platypus#7` cannot be this merge request's change issue",
    )
    .await;
}

#[test]
fn an_empty_linked_by_is_refused_with_its_position() {
    let text = format!(
        "{}\nchange_issue:\n  approvals: [manager]\n  linked_by: []\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
    );
    let err = changegate::rules::parse("rules.yaml", &text)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("`change_issue.linked_by` is empty"), "{err}");
    let bad = text.replace("linked_by: []", "linked_by: [reviewers]");
    assert!(changegate::rules::parse("rules.yaml", &bad).is_err());
}

#[tokio::test]
async fn the_pull_requests_pushes_reset_the_issues_reset_on_push_approvals() {
    let s = setup().await;
    let text = format!(
        "{}\nchange_issue:\n  approvals: [business-owner, manager, peer]\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
    );
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", &text).unwrap());
    s.gh.open_issue(12, "carol");
    s.gh.assign(12, "alice");
    for (l, who) in [
        ("CMT::Comprehensive", "carol"),
        ("Business Owner Approval::Approved", "olivia"),
        ("BT Integration Manager::Approved", "mona"),
        ("Peer Approval::Approved", "pam"),
    ] {
        s.gh.add_label(12, l, who);
    }
    s.gh.set_body(7, "Change: #12");
    s.deliver("edited", None, "alice", "e1").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    // alice pushes new commits: pam reviewed the code as it was, on the issue as anywhere.
    s.push("alice", H2).await;
    let (state, description) = s.status_of(H2);
    assert_eq!(state, "failure");
    assert_eq!(description, "Missing: Peer review");
    let comment = s.comment();
    assert!(
        comment.contains(
            "- [ ] **Peer review** — on `acme/platypus#12`: new commits were pushed (2222222) after @pam approved"
        ),
        "{comment}"
    );
}

#[tokio::test]
async fn gitlab_a_closed_or_someone_elses_issue_is_refused() {
    use common::gitlab_world::GitlabWorld;
    const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
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
    gl.add_issue_label(12, "CMT::Comprehensive", "carol");
    gl.add_issue_label(12, "Business Owner Approval::Approved", "olivia");
    gl.add_issue_label(12, "BT Integration Manager::Approved", "mona");
    gl.set_description(3, "Change: #12");
    gl.add_label(3, "Peer Approval::Approved", "peter");
    let app = common::TestApp::with_forges(None, Some(&gl.url())).await;
    let text = format!(
        "{}\nchange_issue:\n  approvals: [business-owner, manager]\n",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
    );
    *app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", &text).unwrap());
    let evaluate = |delivery: &'static str| {
        let (app, gl) = (&app, &gl);
        async move {
            app.gitlab(
                "Merge Request Hook",
                delivery,
                &gl.hook_of(3, "update", "peter", None),
            )
            .await;
            app.drain().await;
            (gl.status(SHA).unwrap(), gl.notes(3).join("\n"))
        }
    };
    // carol's issue, not assigned to alice: refused.
    let ((state, _, _), note) = evaluate("m1").await;
    assert_eq!(state, "failed");
    assert!(
        note.contains("@alice is not its author or one of its assignees"),
        "{note}"
    );
    // Assigned to alice, it gates the merge request.
    gl.assign_issue(12, "alice");
    let ((state, _, description), _) = evaluate("m2").await;
    assert_eq!(state, "success", "{description}");
    // Closed, it gates nothing any more.
    gl.close_issue(12);
    let ((state, _, _), note) = evaluate("m3").await;
    assert_eq!(state, "failed");
    assert!(note.contains("the issue is closed"), "{note}");
}

/// An admin edits the bot's listing on the change issue to drop #7: the edit's webhook (a
/// change of the issue) has the pull request evaluated again, which reads the listing back and
/// writes its own text.
#[tokio::test]
async fn an_edit_of_the_listing_on_the_issue_is_undone() {
    let s = linking("#12").await;
    s.gh.assign(12, "alice");
    s.apply_label("peter", "Peer Approval::Approved").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    let ours = s.gh.comments(12);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].contains("- acme/platypus#7"), "{}", ours[0]);
    let (id, forged) = {
        let mut state = s.gh.state.lock().unwrap();
        let c = state
            .comments
            .iter_mut()
            .find(|c| c.1 == 12)
            .expect("the listing");
        c.2 = c.2.replace("- acme/platypus#7", "");
        (c.0, c.2.clone())
    };
    // GitHub's `issue_comment.edited` example, moved to issue #12 of acme/platypus.
    let path = common::corpus_dir().join("github/issue_comment.edited.1.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let pr = common::github_setup::pr_event(&s, 7, "edited", None, "root");
    v["repository"] = pr["repository"].clone();
    v["issue"]["number"] = serde_json::json!(12);
    v["issue"]["user"] = common::github_setup::gh_user("carol");
    v["issue"]["labels"] = serde_json::json!([]);
    v["issue"].as_object_mut().unwrap().remove("pull_request");
    v["comment"]["id"] = serde_json::json!(id);
    v["comment"]["user"] = common::github_setup::gh_user(common::github_world::BOT);
    v["comment"]["body"] = serde_json::json!(forged);
    v["changes"]["body"]["from"] = serde_json::json!(ours[0]);
    v["sender"] = common::github_setup::gh_user("root");
    let (status, _) = s
        .app
        .github(
            "issue_comment",
            "listing-edit",
            &serde_json::to_vec(&v).unwrap(),
        )
        .await;
    assert_eq!(status.as_u16(), 202);
    s.app.drain().await;
    let listing: Vec<_> =
        s.gh.comments(12)
            .into_iter()
            .filter(|c| c.starts_with("<!-- changegate:gated-changes -->"))
            .collect();
    assert_eq!(listing, ours);
}
