//! Every status changegate writes on GitLab goes through one write: `pending` on arrival, the
//! failure written on a head a merge request left, an error status, as well as the verdict in
//! the gating pipeline. A status GitLab will not move ("Cannot transition status") is read
//! back and taken for changegate's only when GitLab shows the wanted state written by the
//! bot's account; otherwise the wanted state is reached through another, and a status someone
//! else wrote there is recorded with its writer. Against the fake GitLab.

mod common;

use common::gitlab_checks::assert_project_calls_in_contract;
use common::gitlab_world::{BOT, GitlabWorld};
use common::*;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const SHA2: &str = "0b4bc9a49b562e85de7cc9e834518ea6828729b9";

struct Setup {
    app: TestApp,
    gl: GitlabWorld,
}

async fn free() -> Setup {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    Setup { app, gl }
}

/// Merge request 3 approved and evaluated: the bot's `success` on `SHA`.
async fn passing() -> Setup {
    let s = free().await;
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.hook("update", None, "u1").await;
    assert_eq!(s.gl.status_named(SHA, "changegate").unwrap().0, "success");
    s
}

impl Setup {
    async fn hook(&self, action: &str, oldrev: Option<&str>, delivery: &str) {
        let body = self.gl.hook_of(3, action, "alice", oldrev);
        let (status, _) = self.app.gitlab("Merge Request Hook", delivery, &body).await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// GitLab answers the next status write on `sha` with "Cannot transition status".
    fn refuse_next(&self, sha: &str, message: &str) {
        self.gl.fail_next(
            &format!("POST /api/v4/projects/42/statuses/{sha}"),
            wiremock::ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({ "message": message })),
        );
    }

    async fn overwrites(&self) -> Vec<serde_json::Value> {
        self.app
            .store
            .audit_of("gitlab", "acme/platypus", 3)
            .await
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k == "gitlab_overwrite")
            .map(|(_, d)| d)
            .collect()
    }
}

#[tokio::test]
async fn a_failure_gitlab_will_not_move_on_a_head_left_is_reached_through_pending() {
    let s = passing().await;
    s.gl.push(3, SHA2);
    // Taking the bot's success on the head left back, GitLab will not move it to failed.
    s.refuse_next(SHA, "Cannot transition status via :drop from :success");
    s.hook("update", Some(SHA), "p1").await;
    assert_eq!(
        s.gl.status_named(SHA, "changegate"),
        Some((
            "failed".into(),
            "#3 no longer has this head commit: no verdict stands for it".into()
        )),
        "the success on the head left does not stand"
    );
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(
        effect
            .iter()
            .all(|(_, state, who)| state == "failed" && who == BOT),
        "{effect:?}"
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_forged_success_gitlab_will_not_move_is_written_over_and_its_writer_recorded() {
    let s = passing().await;
    // mallory posts `success` under changegate's name on the head, which then moves on; GitLab
    // will not move mallory's success when the bot takes the head's pass back.
    s.gl.forge_status(SHA, ("changegate", "success", "all good"), "mallory");
    s.gl.push(3, SHA2);
    s.refuse_next(SHA, "Cannot transition status via :drop from :success");
    s.hook("update", Some(SHA), "p1").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(!effect.is_empty());
    assert!(
        effect
            .iter()
            .all(|(_, state, who)| state == "failed" && who == BOT),
        "mallory's success does not stand: {effect:?}"
    );
    let records = s.overwrites().await;
    assert!(
        records
            .iter()
            .any(|r| r["written_by"] == "mallory" && r["state"] == "success" && r["sha"] == SHA),
        "{records:#?}"
    );
}

#[tokio::test]
async fn a_pending_gitlab_will_not_move_stands_when_the_bot_wrote_it() {
    let s = free().await;
    // The bot's own `pending` is on the head (an earlier attempt): GitLab will not move a
    // pending status to pending, and that is the state wanted, by the bot.
    s.gl.forge_status(
        SHA,
        (
            "changegate",
            "pending",
            "changegate is evaluating this head",
        ),
        BOT,
    );
    s.refuse_next(SHA, "Cannot transition status via :enqueue from :pending");
    s.hook("open", None, "o1").await;
    let states: Vec<String> = s.gl.status_history(SHA).into_iter().map(|h| h.0).collect();
    assert_eq!(
        states,
        vec!["pending", "failed"],
        "no detour: the bot's pending stands, then the verdict"
    );
    assert!(s.overwrites().await.is_empty());
}

#[tokio::test]
async fn a_forged_pending_gitlab_will_not_move_on_arrival_is_written_over_and_recorded() {
    let s = free().await;
    s.gl.forge_status(SHA, ("changegate", "pending", "evaluating"), "mallory");
    s.refuse_next(SHA, "Cannot transition status via :enqueue from :pending");
    s.hook("open", None, "o1").await;
    let history = s.gl.status_history(SHA);
    let states: Vec<&str> = history.iter().map(|h| h.0.as_str()).collect();
    // mallory's pending, then `failed` and the bot's own `pending`, then the verdict.
    assert_eq!(states, vec!["pending", "failed", "pending", "failed"]);
    let records = s.overwrites().await;
    assert!(
        records
            .iter()
            .any(|r| r["written_by"] == "mallory" && r["state"] == "pending"),
        "{records:#?}"
    );
}

#[tokio::test]
async fn pending_on_arrival_goes_into_the_pipeline_gitlab_gates_on() {
    const MERGE_SHA: &str = "5c1e7e3a9d2b4f6a8c0e1f3a5b7d9e1f2a4c6e8b";
    let s = free().await;
    // The head has a branch pipeline, and GitLab gates the merge request on a newer
    // merged-results pipeline on the merge commit: a status written into no pipeline would go
    // into the head's newest pipeline, which "Pipelines must succeed" does not read.
    let branch = s.gl.run_pipeline(3);
    let merged = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.hook("open", None, "o1").await;
    assert_eq!(
        s.gl.status_history(MERGE_SHA),
        vec![
            ("pending".to_string(), merged),
            ("failed".to_string(), merged)
        ],
        "pending first, in the gating pipeline, then the verdict"
    );
    // The head itself holds `pending` too (in its own pipeline), never anything that passes.
    assert_eq!(
        s.gl.status_history(SHA),
        vec![("pending".to_string(), branch)],
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_listed_merged_results_pipeline_of_an_older_head_is_a_missing_block() {
    const MAIN_SHA: &str = "1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
    const MERGE_OLD: &str = "5c1e7e3a9d2b4f6a8c0e1f3a5b7d9e1f2a4c6e8b";
    let s = free().await;
    // An instance that names no head pipeline: the newest listed is taken, and here it is the
    // merged-results pipeline of the head before a push (same merge ref, older merge commit).
    s.gl.state.lock().unwrap().checks.head_pipeline_absent = true;
    s.gl.commit(MAIN_SHA, &[], "bob");
    s.gl.commit(SHA, &[MAIN_SHA], "alice");
    s.gl.commit(MERGE_OLD, &[MAIN_SHA, SHA], "alice");
    let old = s.gl.run_merged_results_pipeline(3, MERGE_OLD);
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    // The head moves on; an event that is not the push itself (a label) is evaluated before
    // any pipeline runs for the new head.
    s.gl.push(3, SHA2);
    s.hook("update", None, "u1").await;
    let (state, description) = s.gl.status_named(SHA2, "changegate").expect("a status");
    assert_eq!(state, "failed", "{description}");
    assert!(
        description.contains(&format!(
            "block missing: the newest pipeline GitLab lists for the merge request ({old})"
        )),
        "{description}"
    );
    assert!(
        s.gl.statuses_in_effect(MERGE_OLD, "changegate")
            .iter()
            .all(|(_, state, _)| state != "success"),
        "{:?}",
        s.gl.statuses_in_effect(MERGE_OLD, "changegate")
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn pending_on_a_push_goes_on_the_new_head_while_gitlab_names_the_old_heads_pipeline() {
    const MERGE_SHA: &str = "5c1e7e3a9d2b4f6a8c0e1f3a5b7d9e1f2a4c6e8b";
    let s = free().await;
    s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.hook("update", None, "u1").await;
    assert_eq!(s.gl.status_history(MERGE_SHA).last().unwrap().0, "success");
    // A push; GitLab's `head_pipeline` still names the merged-results pipeline of the old head.
    s.gl.push(3, SHA2);
    s.gl.state.lock().unwrap().checks.head_pipeline_stale = true;
    let before = s.gl.status_history(MERGE_SHA).len();
    s.hook("update", Some(SHA), "p1").await;
    assert_eq!(s.gl.status_history(MERGE_SHA).len(), before);
    let history = s.gl.status_history(SHA2);
    assert_eq!(
        history.first().map(|h| h.0.as_str()),
        Some("pending"),
        "{history:?}"
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn pending_on_arrival_is_written_on_the_head_when_the_merge_request_cannot_be_read() {
    let s = free().await;
    // The job's first read of the merge request answers; the read of its gating pipeline does
    // not (the job fails for good).
    s.gl.state.lock().unwrap().checks.mr_reads_before_refusal = Some(1);
    s.app.expect_failed_jobs(1);
    s.hook("open", None, "o1").await;
    let states: Vec<String> = s.gl.status_history(SHA).into_iter().map(|h| h.0).collect();
    assert_eq!(
        states.first().map(String::as_str),
        Some("pending"),
        "the head is blocked before the error: {states:?}"
    );
    assert!(states.iter().all(|st| st != "success"), "{states:?}");
}

#[tokio::test]
async fn a_refused_write_into_no_pipeline_is_never_taken_for_the_bots_status_elsewhere() {
    let s = free().await;
    // No pipeline named: the write goes where GitLab puts it (the head's newest pipeline).
    s.gl.state.lock().unwrap().checks.pipelines_unnamed = true;
    s.gl.run_pipeline(3);
    s.gl.forge_status(
        SHA,
        (
            "changegate",
            "pending",
            "changegate is evaluating this head",
        ),
        BOT,
    );
    let newest = s.gl.run_pipeline(3);
    // GitLab refuses the pending written into the newest pipeline; the bot's pending GitLab
    // lists is in the older one, and says nothing of the newest.
    s.refuse_next(SHA, "Cannot transition status via :enqueue from :pending");
    s.hook("open", None, "o1").await;
    let in_newest: Vec<String> =
        s.gl.status_history(SHA)
            .into_iter()
            .filter(|(_, p)| *p == newest)
            .map(|h| h.0)
            .collect();
    assert_eq!(
        in_newest,
        vec!["failed", "pending", "failed"],
        "pending reached through failed in the newest pipeline, then the verdict"
    );
}

#[tokio::test]
async fn a_read_back_contradicting_the_state_gitlab_refused_from_is_not_taken() {
    let s = free().await;
    let pipeline = s.gl.run_pipeline(3);
    s.gl.forge_status(
        SHA,
        (
            "changegate",
            "pending",
            "changegate is evaluating this head",
        ),
        BOT,
    );
    // GitLab says the status it met was a success; the listing (a stale read) shows the bot's
    // pending: the write is not taken as holding.
    s.refuse_next(SHA, "Cannot transition status via :enqueue from :success");
    s.hook("open", None, "o1").await;
    let states: Vec<String> =
        s.gl.status_history(SHA)
            .into_iter()
            .filter(|(_, p)| *p == pipeline)
            .map(|h| h.0)
            .collect();
    assert_eq!(states, vec!["pending", "failed", "pending", "failed"]);
}

#[tokio::test]
async fn statuses_that_cannot_be_read_back_still_fail_the_gate() {
    const MERGE_SHA: &str = "5c1e7e3a9d2b4f6a8c0e1f3a5b7d9e1f2a4c6e8b";
    let s = free().await;
    let merged = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.gl.add_label(3, "BT Integration Manager::Approved", "mona");
    s.hook("update", None, "u1").await;
    assert_eq!(
        s.gl.statuses_in_effect(MERGE_SHA, "changegate"),
        vec![(merged, "success".to_string(), BOT.to_string())]
    );
    // The approval goes, and the head's statuses can no longer be listed (someone posted
    // more under changegate's name than can be read): the gate does not keep the success.
    s.gl.remove_label(3, "BT Integration Manager::Approved", "mona");
    s.gl.state.lock().unwrap().checks.statuses_unreadable = true;
    s.app.expect_failed_jobs(1);
    s.hook("update", None, "u2").await;
    s.gl.state.lock().unwrap().checks.statuses_unreadable = false;
    assert_eq!(
        s.gl.statuses_in_effect(MERGE_SHA, "changegate"),
        vec![(merged, "failed".to_string(), BOT.to_string())]
    );
}

#[tokio::test]
async fn a_refused_pending_is_reached_through_failed_when_statuses_cannot_be_read_back() {
    let s = free().await;
    s.gl.state.lock().unwrap().checks.statuses_unreadable = true;
    s.refuse_next(SHA, "Cannot transition status via :enqueue from :pending");
    s.app.expect_failed_jobs(1);
    s.hook("open", None, "o1").await;
    let states: Vec<String> = s.gl.status_history(SHA).into_iter().map(|h| h.0).collect();
    assert_eq!(
        states.get(..2),
        Some(&["failed".to_string(), "pending".to_string()][..]),
        "{states:?}"
    );
    assert!(states.iter().all(|st| st != "success"), "{states:?}");
}

#[tokio::test]
async fn without_its_own_account_the_bot_writes_over_every_status_under_its_name() {
    let s = free().await;
    // mallory's success in an older pipeline of the head; GitLab gates on a newer one.
    let older = s.gl.run_pipeline(3);
    s.gl.forge_status(SHA, ("changegate", "success", "all good"), "mallory");
    s.gl.run_pipeline(3);
    // The bot cannot read its own account: it cannot tell whose a status is.
    s.gl.fail_next(
        "GET /api/v4/user",
        wiremock::ResponseTemplate::new(403)
            .set_body_json(serde_json::json!({ "message": "403 Forbidden" })),
    );
    s.hook("update", None, "u1").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(
        effect
            .iter()
            .all(|(p, state, who)| *p != older || (state == "failed" && who == BOT)),
        "mallory's success does not stand: {effect:?}"
    );
    assert!(
        s.overwrites()
            .await
            .iter()
            .any(|r| r["written_by"] == "mallory")
    );
}

#[tokio::test]
async fn forged_statuses_by_the_dozen_are_written_over_a_bounded_number_at_a_time() {
    let s = free().await;
    for _ in 0..30 {
        s.gl.run_pipeline(3);
        s.gl.forge_status(SHA, ("changegate", "success", "all good"), "mallory");
    }
    let gate = s.gl.run_pipeline(3);
    s.gl.clear_calls();
    s.hook("update", None, "u1").await;
    let writes =
        s.gl.calls()
            .into_iter()
            .filter(|c| c.starts_with("POST") && c.contains("/statuses/"))
            .count();
    assert!(writes <= 21, "{writes} writes");
    // The gating pipeline holds the verdict whatever else there is.
    assert!(s.gl.statuses_in_effect(SHA, "changegate").contains(&(
        gate,
        "failed".to_string(),
        BOT.to_string()
    )));
    assert!(
        s.gl.notes(3)
            .join("\n")
            .contains("30 `changegate` statuses")
    );
}
