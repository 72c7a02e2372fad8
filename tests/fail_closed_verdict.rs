//! A pass belongs to a commit and a target, not to a change (issue 22, item 3): a change opened
//! on a passing head that changegate has not judged keeps it failing, a per-target status
//! context gives `main` a verdict of its own, and a change that leaves a head takes its success
//! back. End to end on the fake GitHub and GitLab.

mod common;

use common::github_setup::*;
use common::gitlab_world::GitlabWorld;
use common::*;
use serde_json::json;

/// alice's CMT::Minor change #7 (to `develop`) with mona's manager approval: passing.
async fn approved_minor_to_develop(context: &str) -> Setup {
    let mut s = setup().await;
    s.app.worker.status_context = context.into();
    s.gh.set_base(7, "develop");
    s.apply_label("alice", "CMT::Minor").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s
}

async fn deliver_pr(s: &Setup, number: u64, action: &str, who: &str, delivery: &str) {
    let body = serde_json::to_vec(&pr_event(s, number, action, None, who)).unwrap();
    s.app.github("pull_request", delivery, &body).await;
    s.app.drain().await;
}

#[tokio::test]
async fn a_pull_request_changegate_has_not_judged_keeps_a_shared_head_failing() {
    let s = approved_minor_to_develop("changegate").await;
    assert_eq!(s.status_of(H1).0, "success");
    // bob opens #8 to `main` from the same commit; its webhook has not been processed.
    s.gh.open_pr(8, "bob", H1);
    // #7 is evaluated again: the forge lists #8 on this commit, never judged, so no pass.
    s.deliver("edited", None, "alice", "e7").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(
        description,
        "#8 has the same head commit and changegate has not evaluated it yet"
    );
    // #8 judged and approved on its own: the commit passes again.
    s.gh.add_label(8, "CMT::Minor", "bob");
    s.gh.add_label(8, "BT Integration Manager::Approved", "mona");
    deliver_pr(&s, 8, "labeled", "mona", "l8").await;
    assert_eq!(s.status_of(H1).0, "success");
}

#[tokio::test]
async fn with_the_target_branch_in_the_context_a_pass_for_develop_is_no_pass_for_main() {
    let s = approved_minor_to_develop("changegate: {target_branch}").await;
    assert_eq!(
        s.gh.status_in(H1, "changegate: develop").map(|v| v.0),
        Some("success".into())
    );
    // Branch protection of `main` requires `changegate: main`: nothing was given for it.
    assert_eq!(s.gh.status_in(H1, "changegate: main"), None);
    // #8 to `main` on the same commit: judged on its own under `main`'s context.
    s.gh.open_pr(8, "bob", H1);
    deliver_pr(&s, 8, "opened", "bob", "o8").await;
    assert_eq!(
        s.gh.status_in(H1, "changegate: main"),
        Some(("failure".into(), "Missing: Classify the change".into()))
    );
    assert_eq!(
        s.gh.status_in(H1, "changegate: develop").map(|v| v.0),
        Some("success".into())
    );
    // #7 moves to `main`: the verdict it gave for `develop` on this commit is taken back.
    s.gh.retarget(7, "main", "alice");
    let mut edited = pr_event(&s, 7, "edited", None, "alice");
    edited["changes"] = json!({ "base": { "ref": { "from": "develop" } } });
    s.app
        .github("pull_request", "r7", &serde_json::to_vec(&edited).unwrap())
        .await;
    s.app.drain().await;
    let (state, description) = s.gh.status_in(H1, "changegate: develop").unwrap();
    assert_eq!(state, "failure");
    assert!(description.starts_with("#7 no longer has this head commit for this target"));
}

#[tokio::test]
async fn a_change_pushed_back_to_an_older_head_does_not_inherit_its_success() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "pam");
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert_eq!(s.status_of(H1).0, "success");
    // alice pushes H2: the peer approval resets, and H1 no longer carries a pass.
    s.push("alice", H2).await;
    assert_eq!(s.status_of(H2).0, "failure");
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(
        description,
        "#7 no longer has this head commit: no verdict stands for it"
    );
    // Force-pushed back to H1 before changegate sees it: the commit has no success to merge on.
    s.gh.push(7, H1);
    assert_eq!(s.status_of(H1).0, "failure");
}

#[tokio::test]
async fn a_head_another_passing_change_shares_keeps_its_success() {
    let s = approved_minor_to_develop("changegate").await;
    s.gh.open_pr(8, "bob", H1);
    s.gh.add_label(8, "CMT::Minor", "bob");
    s.gh.add_label(8, "BT Integration Manager::Approved", "mona");
    deliver_pr(&s, 8, "labeled", "mona", "l8").await;
    assert_eq!(s.status_of(H1).0, "success");
    // #7 moves on; #8, judged passing on H1, still stands there.
    s.gh.push_commit_by(7, H2, "alice");
    s.deliver("synchronize", None, "alice", "p7").await;
    assert_eq!(s.status_of(H1).0, "success");
}

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const SHA2: &str = "ad1560886d4f094c3e6c9ef40349f7d38b5d27d7";

async fn gitlab_minor(context: &str, target: &str) -> (TestApp, GitlabWorld) {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.member("acme/integrations-team", "pam");
    gl.open_mr(3, "alice", SHA);
    gl.retarget(3, target);
    let mut app = TestApp::with_forges(None, Some(&gl.url())).await;
    app.worker.status_context = context.into();
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    app.gitlab(
        "Merge Request Hook",
        "g1",
        &gl.hook_of(3, "update", "mona", None),
    )
    .await;
    app.drain().await;
    (app, gl)
}

#[tokio::test]
async fn gitlab_a_merge_request_changegate_has_not_judged_keeps_a_shared_head_failing() {
    let (app, gl) = gitlab_minor("changegate", "develop").await;
    assert_eq!(gl.status(SHA).unwrap().0, "success");
    gl.open_mr(4, "bob", SHA);
    app.gitlab(
        "Merge Request Hook",
        "g2",
        &gl.hook_of(3, "update", "alice", None),
    )
    .await;
    app.drain().await;
    assert_eq!(
        gl.status_named(SHA, "changegate"),
        Some((
            "failed".into(),
            "#4 has the same head commit and changegate has not evaluated it yet".into()
        ))
    );
}

#[tokio::test]
async fn gitlab_the_target_branch_in_the_status_name() {
    let (app, gl) = gitlab_minor("changegate: {target_branch}", "develop").await;
    assert_eq!(
        gl.status_named(SHA, "changegate: develop").map(|v| v.0),
        Some("success".into())
    );
    assert_eq!(gl.status_named(SHA, "changegate: main"), None);
    gl.open_mr(4, "bob", SHA);
    app.gitlab(
        "Merge Request Hook",
        "g2",
        &gl.hook_of(4, "open", "bob", None),
    )
    .await;
    app.drain().await;
    assert_eq!(
        gl.status_named(SHA, "changegate: main").map(|v| v.0),
        Some("failed".into())
    );
}

#[tokio::test]
async fn gitlab_a_merge_request_that_left_a_head_takes_its_success_back() {
    let (app, gl) = gitlab_minor("changegate", "main").await;
    assert_eq!(gl.status(SHA).unwrap().0, "success");
    gl.push(3, SHA2);
    app.gitlab(
        "Merge Request Hook",
        "g2",
        &gl.hook_of(3, "update", "alice", Some(SHA)),
    )
    .await;
    app.drain().await;
    assert_eq!(
        gl.status_named(SHA, "changegate"),
        Some((
            "failed".into(),
            "#3 no longer has this head commit: no verdict stands for it".into()
        ))
    );
}
