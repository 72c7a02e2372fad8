//! Ways around the policy on GitHub, tried as an attacker would, each closed (issue "Fail
//! closed"): signed deliveries through the real router and store, the worker against the
//! stateful fake GitHub.

mod common;

use common::github_setup::*;
use common::github_world::BOT;
use serde_json::json;
use wiremock::ResponseTemplate;

/// alice's CMT::Minor change with mona's manager approval: passing.
async fn approved_minor() -> Setup {
    let s = setup().await;
    s.apply_label("alice", "CMT::Minor").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert_eq!(s.status_of(H1).0, "success");
    s
}

#[tokio::test]
async fn an_invented_classification_is_removed_and_the_change_stays_unclassified() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Trivial", "alice");
    s.deliver("labeled", Some("CMT::Trivial"), "alice", "d1")
        .await;
    assert!(
        s.gh.writes()
            .contains(&"DELETE /repos/acme/platypus/issues/7/labels/CMT::Trivial".to_string()),
        "{:?}",
        s.gh.writes()
    );
    assert!(s.gh.labels(7).is_empty());
    assert_eq!(
        s.gh.status(H1),
        Some(("failure".into(), "Missing: Classify the change".into()))
    );
    let c = s.comment();
    assert!(
        c.contains("`CMT::Trivial` is not a value the rules declare for `CMT::`"),
        "{c}"
    );
}

#[tokio::test]
async fn retargeting_the_base_branch_resets_the_peer_approval() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "pam");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.deliver("labeled", Some("Peer Approval::Approved"), "pam", "d1")
        .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    // alice points the pull request at `main` from `release`: the head sha is unchanged.
    s.gh.retarget(7, "release", "alice");
    let mut edited = pr_event(&s, 7, "edited", None, "alice");
    edited["changes"] = json!({ "base": { "ref": { "from": "main" }, "sha": { "from": "0000000000000000000000000000000000000000" } } });
    s.app
        .github("pull_request", "d2", &serde_json::to_vec(&edited).unwrap())
        .await;
    s.app.drain().await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    assert!(
        !s.gh
            .labels(7)
            .contains(&"Peer Approval::Approved".to_string())
    );
    let c = s.comment();
    assert!(
        c.contains("the target branch changed (from `main`) after @pam approved"),
        "{c}"
    );
    // The manager's approval does not reset on push, so it stands.
    assert!(
        c.contains("- [x] **BT Integration Manager approval**"),
        "{c}"
    );
}

#[tokio::test]
async fn a_missed_retarget_webhook_is_found_in_the_pull_requests_history() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.add_label(7, "Peer Approval::Approved", "pam");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    s.gh.retarget(7, "release", "alice");
    // The first event the bot sees comes after the retarget (GitHub's `base_ref_changed`).
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "d1",
    )
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    assert!(
        s.comment()
            .contains("the target branch changed after @pam approved")
    );
}

#[tokio::test]
async fn a_reapplied_approval_at_the_end_of_a_long_history_is_found() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    {
        let mut st = s.gh.state.lock().unwrap();
        for i in 0..1600 {
            st.label_event(7, &format!("noise-{i}"), true, "alice");
            st.label_event(7, &format!("noise-{i}"), false, "alice");
        }
        // mona withdraws; alice, the author, puts the label back herself.
        st.label_event(7, "BT Integration Manager::Approved", false, "mona");
        st.label_event(7, "BT Integration Manager::Approved", true, "alice");
    }
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "alice",
        "d1",
    )
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    assert!(
        s.comment()
            .contains("@alice applied `BT Integration Manager::Approved` but is the author"),
        "{}",
        s.comment()
    );
    assert!(
        !s.gh
            .labels(7)
            .contains(&"BT Integration Manager::Approved".to_string())
    );
}

#[tokio::test]
async fn an_approval_beyond_what_the_bot_reads_blocks_as_unverifiable() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
    {
        let mut st = s.gh.state.lock().unwrap();
        for i in 0..1600 {
            st.label_event(7, &format!("noise-{i}"), true, "alice");
            st.label_event(7, &format!("noise-{i}"), false, "alice");
        }
    }
    s.deliver("edited", None, "alice", "d1").await;
    let (state, description) = s.gh.status(H1).unwrap();
    assert_eq!(state, "failure");
    assert!(
        description.starts_with("Missing: History too long to verify"),
        "{description}"
    );
    assert!(
        s.comment()
            .contains("could not read all of the label history")
    );
}

#[tokio::test]
async fn a_status_someone_else_posted_is_overwritten() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.deliver("labeled", Some("CMT::Minor"), "alice", "d1")
        .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    // A colleague with write access posts a passing `changegate` status.
    s.gh.post_status(
        H1,
        "success",
        "changegate",
        "All change-management requirements are met",
    );
    s.deliver("edited", None, "alice", "d2").await;
    assert_eq!(
        s.gh.status(H1),
        Some((
            "failure".into(),
            "Missing: BT Integration Manager approval".into()
        ))
    );
    // Unchanged since: nothing more to write.
    s.gh.clear_calls();
    s.deliver("edited", None, "alice", "d3").await;
    assert_eq!(s.gh.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn changes_sharing_a_head_commit_pass_only_together() {
    let s = approved_minor().await;
    // bob opens #8 from the same branch: same head commit, not classified.
    s.gh.open_pr(8, "bob", H1);
    let body = serde_json::to_vec(&pr_event(&s, 8, "opened", None, "bob")).unwrap();
    s.app.github("pull_request", "o8", &body).await;
    s.app.drain().await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    // #7 evaluated again: still not success, because #8 fails on the same commit.
    s.deliver("edited", None, "alice", "e7").await;
    let (state, description) = s.gh.status(H1).unwrap();
    assert_eq!(state, "failure");
    assert!(
        description.starts_with("#8 has the same head commit and fails"),
        "{description}"
    );
    // #8 gets its approvals: the commit passes.
    s.gh.add_label(8, "CMT::Minor", "bob");
    s.gh.add_label(8, "BT Integration Manager::Approved", "mona");
    let body = serde_json::to_vec(&pr_event(
        &s,
        8,
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
    ))
    .unwrap();
    s.app.github("pull_request", "l8", &body).await;
    s.app.drain().await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
}

#[tokio::test]
async fn a_job_that_fails_after_the_verdict_turned_leaves_no_success() {
    let s = approved_minor().await;
    // mona withdraws her approval; editing the comment is refused.
    s.app.expect_failed_jobs(1);
    s.gh.remove_label(7, "BT Integration Manager::Approved", "mona");
    s.gh.fail_next(
        "PATCH /repos/acme/platypus/issues/comments",
        ResponseTemplate::new(403)
            .set_body_json(json!({ "message": "Resource not accessible by integration" })),
    );
    s.deliver(
        "unlabeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        "d1",
    )
    .await;
    let failed = s.app.store.unfinished_jobs().await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].state, "failed");
    let (state, description) = s.gh.status(H1).unwrap();
    assert_eq!(state, "error");
    assert!(
        description.starts_with("changegate could not verify this change"),
        "{description}"
    );
    // The failing verdict was written before the refused write.
    let statuses: Vec<String> =
        s.gh.state
            .lock()
            .unwrap()
            .statuses
            .iter()
            .map(|(_, v)| v["state"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(
        statuses[statuses.len() - 3..],
        ["success", "failure", "error"]
    );
}

#[tokio::test]
async fn a_human_event_folded_into_the_bots_own_is_still_evaluated() {
    let s = approved_minor().await;
    // mona removes her approval; then, before the worker runs, an event the bot caused.
    s.gh.remove_label(7, "BT Integration Manager::Approved", "mona");
    let human = pr_payload(
        &s,
        "unlabeled",
        Some("BT Integration Manager::Approved"),
        "mona",
    );
    let bots = pr_payload(&s, "labeled", Some("CMT::Minor"), BOT);
    s.app.github("pull_request", "h1", &human).await;
    s.app.github("pull_request", "b1", &bots).await;
    s.app.drain().await;
    assert_eq!(
        s.gh.status(H1),
        Some((
            "failure".into(),
            "Missing: BT Integration Manager approval".into()
        ))
    );
    // Only the bot's own events folded together: skipped, nothing read or written.
    s.gh.clear_calls();
    let bots = pr_payload(&s, "labeled", Some("CMT::Minor"), BOT);
    s.app.github("pull_request", "b2", &bots).await;
    s.app.github("pull_request", "b3", &bots).await;
    s.app.drain().await;
    assert_eq!(s.gh.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn an_emergency_says_what_is_owed_after_merge() {
    let s = setup().await;
    s.gh.add_label(7, "CMT::Emergency", "alice");
    s.deliver("labeled", Some("CMT::Emergency"), "alice", "d1")
        .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    let c = s.comment();
    assert!(
        c.contains("business owner, peer and") && c.contains("owed within 24 hours of merge"),
        "{c}"
    );
}

#[tokio::test]
async fn a_repository_file_cannot_classify_changes_or_reuse_central_labels() {
    let mut s = setup().await;
    s.app.worker.rules = common::rules_allowing_repositories();
    // Every change an emergency: merge now, approvals never.
    s.gh.state.lock().unwrap().files.push((
        ".changegate.yaml".into(),
        "version: 1\nrules:\n  - name: always-urgent\n    add_labels: [\"CMT::Emergency\"]\n"
            .into(),
    ));
    s.deliver("opened", None, "alice", "r1").await;
    assert!(s.gh.labels(7).is_empty(), "{:?}", s.gh.labels(7));
    assert_eq!(
        s.gh.status(H1),
        Some(("failure".into(), "Missing: Classify the change".into()))
    );
    let c = s.comment();
    assert!(
        c.contains(".changegate.yaml:4:18: repository rules cannot add `CMT::Emergency`"),
        "{c}"
    );
}

#[tokio::test]
async fn a_peer_who_pushed_commits_to_the_change_cannot_approve_it() {
    let s = setup().await;
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    // pam, a peer, pushes her own commit to alice's branch, then approves the change.
    s.push("pam", H2).await;
    s.approve("pam").await;
    s.apply_label("pam", "Peer Approval::Approved").await;
    assert_eq!(s.status_of(H2).0, "failure");
    let c = s.comment();
    assert!(
        c.contains("@pam applied `Peer Approval::Approved` but authored commits of this change"),
        "{c}"
    );
    assert!(
        !s.gh
            .labels(7)
            .contains(&"Peer Approval::Approved".to_string())
    );
    // Another peer's review counts.
    s.approve("peter").await;
    assert_eq!(s.status_of(H2).0, "success");
}
