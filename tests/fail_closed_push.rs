//! Issue 22 item 1: an approval that resets on push counts only when it is known to come after
//! its head arrived (a webhook the bot saw, GitHub's check suites, GitLab's diff versions; commit
//! dates never). An issue converted into a pull request keeps its labels, and a head whose push
//! nothing places in time was not seen by the approver: neither passes at once.

mod common;

use common::github_setup::{H1, Setup, pr_event, setup};
use common::gitlab_world::GitlabWorld;
use common::*;

const H9: &str = "9999999999999999999999999999999999999999";
const PEER: &str = "Peer Approval::Approved";

/// The fake GitHub's events start at 09:00 on the bot's day, before the bot's clock (10:00).
async fn github_before_the_bot() -> Setup {
    let s = setup().await;
    s.gh.set_time("2026-11-02T09:00:00Z");
    s
}

async fn deliver_for(s: &Setup, number: u64, action: &str, label: Option<&str>, who: &str) {
    let body = serde_json::to_vec(&pr_event(s, number, action, label, who)).unwrap();
    let (status, _) = s
        .app
        .github("pull_request", &format!("{action}-{number}-{who}"), &body)
        .await;
    assert_eq!(status.as_u16(), 202);
    s.app.drain().await;
}

#[tokio::test]
async fn an_issue_approved_before_it_had_code_does_not_pass_as_a_pull_request() {
    let s = github_before_the_bot().await;
    // The branch exists; the issue gets every approval; then it becomes a pull request.
    s.gh.push_branch(H9);
    s.gh.open_issue(9, "alice");
    s.gh.add_label(9, "CMT::Comprehensive", "alice");
    s.gh.add_label(9, "Business Owner Approval::Approved", "olivia");
    s.gh.add_label(9, PEER, "pam");
    s.gh.add_label(9, "BT Integration Manager::Approved", "mona");
    s.gh.convert_issue(9, H9);
    deliver_for(&s, 9, "opened", None, "alice").await;
    let (state, description) = s.gh.status(H9).expect("a status on the head");
    assert_eq!(state, "failure", "{description}");
    let comments = s.gh.comments(9);
    let c = comments.last().expect("the bot's comment");
    assert!(
        c.contains("new commits were pushed (9999999) after @pam approved; the approval must be given again"),
        "{c}"
    );
    assert!(!s.gh.labels(9).contains(&PEER.to_string()));
}

#[tokio::test]
async fn a_head_whose_push_nothing_places_is_approved_again_after_the_bot_saw_it() {
    let s = github_before_the_bot().await;
    // No webhook of its push reached the bot, and GitHub has no check suite for it.
    s.gh.state.lock().unwrap().check_suites.clear();
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, PEER, "pam");
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert_eq!(s.status_of(H1).0, "failure");
    let c = s.comment();
    assert!(
        c.contains("@pam applied `Peer Approval::Approved` before changegate could see this code (1111111); approve again"),
        "{c}"
    );
    // Given again once the bot has seen the head, it counts.
    s.gh.set_time("2026-11-02T12:00:00Z");
    s.apply_label("pam", PEER).await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
}

#[tokio::test]
async fn a_check_suite_created_after_the_label_places_the_push_after_it() {
    let s = github_before_the_bot().await;
    s.gh.state.lock().unwrap().check_suites.clear();
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, PEER, "pam");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    // The head was pushed after pam's label (its commit may say otherwise: never read).
    s.gh.push_branch(H1);
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "l1",
    )
    .await;
    assert_eq!(s.status_of(H1).0, "failure");
    let c = s.comment();
    assert!(
        c.contains("new commits were pushed (1111111) after @pam approved"),
        "{c}"
    );
}

#[tokio::test]
async fn a_label_after_the_push_counts() {
    let s = github_before_the_bot().await;
    s.gh.push(7, H1);
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, PEER, "pam");
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    let calls = s.gh.calls();
    let suites = calls
        .iter()
        .filter(|c| c.ends_with("/check-suites"))
        .count();
    assert_eq!(suites, 1, "read once per head: {calls:#?}");
}

// GitLab: the diff versions place the push; without them, only the bot's own sight does.

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

async fn gitlab() -> (TestApp, GitlabWorld) {
    let gl = GitlabWorld::start().await;
    for (group, who) in [
        ("acme/integrations-team", "pam"),
        ("acme/bt-integration-managers", "mona"),
    ] {
        gl.member(group, who);
    }
    gl.set_time("2026-11-02T09:00:00Z");
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    (app, gl)
}

async fn hook(app: &TestApp, gl: &GitlabWorld, action: &str, actor: &str, delivery: &str) {
    let body = gl.mr_hook(SHA, action, actor);
    let (status, _) = app.gitlab("Merge Request Hook", delivery, &body).await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
}

fn note(gl: &GitlabWorld) -> String {
    gl.notes(3).last().cloned().expect("the bot's note")
}

#[tokio::test]
async fn gitlab_a_head_without_a_version_is_approved_again_after_the_bot_saw_it() {
    let (app, gl) = gitlab().await;
    gl.state.lock().unwrap().changes[0].versions.clear();
    gl.add_label(3, "CMT::Standard", "alice");
    gl.add_label(3, PEER, "pam");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    hook(&app, &gl, "update", "mona", "g1").await;
    assert_eq!(gl.status(SHA).unwrap().0, "failed");
    let n = note(&gl);
    assert!(
        n.contains("@pam applied `Peer Approval::Approved` before changegate could see this code (da15608); approve again"),
        "{n}"
    );
    gl.set_time("2026-11-02T12:00:00Z");
    gl.add_label(3, PEER, "pam");
    hook(&app, &gl, "update", "pam", "g2").await;
    assert_eq!(gl.status(SHA).unwrap().0, "success", "{}", note(&gl));
}

#[tokio::test]
async fn gitlab_a_reopened_merge_request_keeps_no_approval_from_before() {
    let (app, gl) = gitlab().await;
    gl.add_label(3, "CMT::Standard", "alice");
    gl.add_label(3, PEER, "pam");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    // Reopened (its head may have moved while closed): the head arrived again then.
    hook(&app, &gl, "reopen", "alice", "g1").await;
    assert_eq!(gl.status(SHA).unwrap().0, "failed");
    let n = note(&gl);
    assert!(
        n.contains("new commits were pushed (da15608) after @pam approved"),
        "{n}"
    );
}

#[tokio::test]
async fn gitlab_a_version_after_the_label_places_the_push_after_it_and_a_label_after_counts() {
    let (app, gl) = gitlab().await;
    gl.add_label(3, "CMT::Standard", "alice");
    gl.add_label(3, PEER, "pam");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    // GitLab recorded the head's diff version after pam's label; no webhook said so.
    gl.push(3, SHA);
    hook(&app, &gl, "update", "mona", "g1").await;
    assert_eq!(gl.status(SHA).unwrap().0, "failed");
    assert!(note(&gl).contains("new commits were pushed (da15608) after @pam approved"));
    gl.add_label(3, PEER, "pam");
    hook(&app, &gl, "update", "pam", "g2").await;
    assert_eq!(gl.status(SHA).unwrap().0, "success", "{}", note(&gl));
}
