//! The pipeline GitLab gates a merge request on ("Pipelines must succeed" reads the merge
//! request's `head_pipeline`) gets changegate's status wherever it runs, or the block is
//! reported missing: a pipeline in the fork a merge request comes from, and a merged-results
//! pipeline on a merge commit. A status check scoped to wildcard protected branches covers the
//! branches GitLab matches. Against the fake GitLab, which keeps each project's pipelines and
//! statuses apart as GitLab does.

mod common;

use common::gitlab_checks::assert_project_calls_in_contract;
use common::gitlab_world::{BOT, GitlabWorld};
use common::*;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const MERGE_SHA: &str = "5c1e7e3a9d2b4f6a8c0e1f3a5b7d9e1f2a4c6e8b";
const MAIN_SHA: &str = "1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const FORK: u64 = 77;
const FORK_PATH: &str = "alice/platypus";

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

impl Setup {
    fn approve(&self) {
        self.gl.add_label(3, "CMT::Minor", "alice");
        self.gl
            .add_label(3, "BT Integration Manager::Approved", "mona");
    }

    async fn hook(&self, delivery: &str) {
        let body = self.gl.hook_of(3, "update", "alice", None);
        let (status, _) = self.app.gitlab("Merge Request Hook", delivery, &body).await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    fn note(&self) -> String {
        self.gl.notes(3).join("\n")
    }
}

#[tokio::test]
async fn a_fork_pipeline_is_a_missing_block_whatever_the_bots_role_there() {
    // Developer and Maintainer in the fork included: its owner can still post `success` under
    // changegate's name there, or run a newer pipeline whose hooks changegate never gets.
    for (access, path) in [
        (Some(30), FORK_PATH),
        (Some(40), FORK_PATH),
        (Some(20), FORK_PATH),
        (None, "with id 77"),
    ] {
        let s = free().await;
        s.gl.mr_from_fork(3, FORK, FORK_PATH, access);
        let pipeline = s.gl.run_fork_pipeline(3);
        s.approve();
        s.hook("u1").await;
        let (state, description) = s.gl.status_named(SHA, "changegate").unwrap();
        assert_eq!(state, "failed", "{access:?}: {description}");
        assert!(
            description.contains(&format!(
                "block missing: the pipeline GitLab gates on ({pipeline}) runs in the fork {path}"
            )),
            "{access:?}: {description}"
        );
        assert!(
            s.note().contains("status checks on Ultimate"),
            "{access:?}: {}",
            s.note()
        );
        assert!(
            s.gl.fork_statuses_in_effect(FORK, SHA, "changegate")
                .iter()
                .all(|(_, state, _)| state != "success"),
            "{access:?}: no pass is written into the fork"
        );
        assert_project_calls_in_contract(&s.gl);
    }
}

#[tokio::test]
async fn a_success_the_forks_owner_writes_into_the_fork_pipeline_passes_nothing() {
    let s = free().await;
    s.gl.mr_from_fork(3, FORK, FORK_PATH, Some(30));
    let pipeline = s.gl.run_fork_pipeline(3);
    s.approve();
    // alice owns the fork: she may write any status into its pipelines.
    s.gl.forge_fork_status(
        (FORK, pipeline, SHA),
        ("changegate", "success", "all good"),
        "alice",
    );
    s.hook("u1").await;
    let (state, description) = s.gl.status_named(SHA, "changegate").unwrap();
    assert_eq!(state, "failed", "{description}");
    assert!(description.contains("fork"), "{description}");
}

#[tokio::test]
async fn a_merged_results_pipeline_gets_the_status_on_its_merge_commit() {
    let s = free().await;
    let pipeline = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.approve();
    s.hook("u1").await;
    let effect = s.gl.statuses_in_effect(MERGE_SHA, "changegate");
    assert_eq!(
        effect,
        vec![(pipeline, "success".to_string(), BOT.to_string())],
        "GitLab gates on the merged-results pipeline; it holds the verdict"
    );
    // No pipeline of changegate's own on the head displaces the one GitLab gates on.
    assert!(s.gl.statuses_in_effect(SHA, "changegate").is_empty());
    assert!(s.note().contains("merge commit"), "{}", s.note());

    // A second evaluation with the same verdict finds it standing and writes nothing.
    s.gl.clear_calls();
    s.hook("u2").await;
    let writes: Vec<String> =
        s.gl.calls()
            .into_iter()
            .filter(|c| c.contains("/statuses/"))
            .filter(|c| c.starts_with("POST"))
            .collect();
    assert!(writes.is_empty(), "{writes:?}");

    // A new merged-results pipeline for the same head gets the verdict too.
    let newer = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.hook("u3").await;
    let effect = s.gl.statuses_in_effect(MERGE_SHA, "changegate");
    assert!(
        effect
            .iter()
            .any(|(p, state, who)| *p == newer && state == "success" && who == BOT),
        "{effect:?}"
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_pipeline_on_another_commit_counts_only_on_the_merge_requests_merge_or_train_ref() {
    for (git_ref, holds) in [
        ("refs/merge-requests/3/train", true),
        ("refs/merge-requests/3/merge", true),
        ("feature", false),
        ("refs/merge-requests/4/merge", false),
        ("refs/merge-requests/3/head", false),
    ] {
        let s = free().await;
        let pipeline = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
        s.gl.set_pipeline_ref(pipeline, git_ref);
        s.approve();
        s.hook("u1").await;
        let on_merge = s.gl.statuses_in_effect(MERGE_SHA, "changegate");
        if holds {
            assert_eq!(
                on_merge,
                vec![(pipeline, "success".to_string(), BOT.to_string())],
                "{git_ref}"
            );
        } else {
            assert!(on_merge.is_empty(), "{git_ref}: {on_merge:?}");
            let (state, description) = s.gl.status_named(SHA, "changegate").unwrap();
            assert_eq!(state, "failed", "{git_ref}: {description}");
            assert!(
                description.contains(&format!(
                    "block missing: GitLab gates the merge request on pipeline {pipeline}"
                )),
                "{git_ref}: {description}"
            );
        }
        assert_project_calls_in_contract(&s.gl);
    }
}

#[tokio::test]
async fn without_a_named_head_pipeline_the_newest_listed_pipeline_is_the_gate() {
    // A merged-results pipeline newer than the head's own, whose merge commit merges the
    // head: it is the one GitLab gates on.
    let s = free().await;
    s.gl.state.lock().unwrap().checks.head_pipeline_absent = true;
    s.gl.commit(MAIN_SHA, &[], "bob");
    s.gl.commit(SHA, &[MAIN_SHA], "alice");
    s.gl.commit(MERGE_SHA, &[MAIN_SHA, SHA], "alice");
    s.gl.run_pipeline(3);
    let merged = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.approve();
    s.hook("u1").await;
    assert_eq!(
        s.gl.statuses_in_effect(MERGE_SHA, "changegate"),
        vec![(merged, "success".to_string(), BOT.to_string())]
    );
    // The newest listed is on another commit, on no merge ref of this merge request: missing.
    let s = free().await;
    s.gl.state.lock().unwrap().checks.head_pipeline_absent = true;
    s.gl.run_pipeline(3);
    let other = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.gl.set_pipeline_ref(other, "feature");
    s.approve();
    s.hook("u1").await;
    let (state, description) = s.gl.status_named(SHA, "changegate").unwrap();
    assert_eq!(state, "failed", "{description}");
    assert!(description.contains("block missing"), "{description}");
    assert!(s.gl.statuses_in_effect(MERGE_SHA, "changegate").is_empty());
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_status_check_scoped_to_a_wildcard_branch_covers_the_branches_it_matches() {
    use common::gitlab_checks::{CHECK_SECRET, CHECK_URL};
    for (pattern, covers) in [("ma*", true), ("*", true), ("release/*", false)] {
        let gl = GitlabWorld::start().await;
        gl.member("acme/bt-integration-managers", "mona");
        gl.open_mr(3, "alice", SHA);
        gl.register_check(CHECK_URL, &[pattern]);
        let s = Setup {
            app: TestApp::with_status_checks(&gl.url()).await,
            gl,
        };
        s.approve();
        let body = s.gl.hook_of(3, "update", "alice", None);
        let (status, _) = s.app.status_check(&body, Some(CHECK_SECRET)).await;
        assert_eq!(status.as_u16(), 202);
        s.app.drain().await;
        let (state, _, description) = s.gl.status(SHA).unwrap();
        if covers {
            assert_eq!(state, "success", "{pattern}: {description}");
            assert_eq!(s.gl.check_status(3), "passed", "{pattern}");
        } else {
            assert_eq!(state, "failed", "{pattern}");
            assert!(description.contains("target branch"), "{description}");
        }
    }
}

#[tokio::test]
async fn with_no_pipeline_named_the_status_is_never_taken_as_given() {
    let s = free().await;
    // GitLab names no head pipeline and the pipeline list cannot be read.
    s.gl.state.lock().unwrap().checks.pipelines_unnamed = true;
    s.approve();
    s.hook("u1").await;
    assert_eq!(s.gl.status_named(SHA, "changegate").unwrap().0, "success");
    // Someone runs a new pipeline on the head: changegate cannot tell which pipeline holds
    // its status, so it writes again (GitLab puts it into the newest pipeline of the commit).
    let newer = s.gl.run_pipeline(3);
    s.hook("u2").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(
        effect
            .iter()
            .any(|(p, state, who)| *p == newer && state == "success" && who == BOT),
        "{effect:?}"
    );
}

#[tokio::test]
async fn a_passed_forged_for_a_newer_head_is_not_taken_for_the_bots_answer() {
    use common::gitlab_checks::{CHECK_SECRET, CHECK_URL};
    const SHA2: &str = "0b4bc9a49b562e85de7cc9e834518ea6828729b9";
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    gl.register_check(CHECK_URL, &[]);
    let s = Setup {
        app: TestApp::with_status_checks(&gl.url()).await,
        gl,
    };
    s.approve();
    let body = s.gl.hook_of(3, "update", "alice", None);
    s.app.status_check(&body, Some(CHECK_SECRET)).await;
    s.app.drain().await;
    assert_eq!(s.gl.check_status(3), "passed");
    // While a job evaluates SHA (which the bot answered `passed`), mallory pushes SHA2 and
    // answers `passed` for it before the job reads the checks back.
    s.gl.state
        .lock()
        .unwrap()
        .checks
        .push_and_answer_before_read = Some((3, SHA2.to_string(), "mallory".to_string()));
    s.hook("u1").await;
    let for_new_head: Vec<(String, String)> =
        s.gl.answers(3)
            .into_iter()
            .filter(|(sha, _, _)| sha == SHA2)
            .map(|(_, status, who)| (status, who))
            .collect();
    assert_eq!(for_new_head.first().map(|a| a.1.as_str()), Some("mallory"));
    assert_eq!(
        for_new_head.last().map(|a| a.1.as_str()),
        Some(BOT),
        "the bot answered after mallory for the new head: {for_new_head:?}"
    );
    assert!(
        for_new_head.iter().any(|a| a.0 == "failed" && a.1 == BOT),
        "{for_new_head:?}"
    );
}

#[tokio::test]
async fn a_status_gitlab_will_not_move_is_read_back_and_the_job_fails_saying_so() {
    let s = free().await;
    s.approve();
    s.hook("u1").await;
    assert_eq!(s.gl.status_named(SHA, "changegate").unwrap().0, "success");
    // The approval is withdrawn; GitLab refuses to move the bot's success to failed, and
    // refuses the `pending` it is to be reached through as well.
    s.gl.remove_label(3, "BT Integration Manager::Approved", "mona");
    for _ in 0..2 {
        s.gl.fail_next(
            "POST /api/v4/projects/42/statuses/",
            wiremock::ResponseTemplate::new(400).set_body_json(
                serde_json::json!({ "message": "Cannot transition status via :drop from :success" }),
            ),
        );
    }
    s.app.expect_failed_jobs(1);
    let body = s.gl.hook_of(3, "update", "alice", None);
    s.app.gitlab("Merge Request Hook", "u2", &body).await;
    s.app.drain().await;
    let troubled = s.app.store.unfinished_jobs().await.unwrap();
    assert!(
        troubled.iter().any(|j| j
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("would not set the `changegate` status to failed"))),
        "the job fails and says why: {troubled:#?}"
    );
}

#[tokio::test]
async fn a_status_gitlab_will_not_move_holds_only_when_the_bot_wrote_it() {
    let s = free().await;
    s.gl.run_pipeline(3);
    s.approve();
    // mallory posts `success` under changegate's name into the head's pipeline, and GitLab then
    // will not move it when the bot writes its own `success`, nor through `pending`.
    s.gl.forge_status(SHA, ("changegate", "success", "all good"), "mallory");
    for _ in 0..2 {
        s.gl.fail_next(
            "POST /api/v4/projects/42/statuses/",
            wiremock::ResponseTemplate::new(400).set_body_json(
                serde_json::json!({ "message": "Cannot transition status via :success from :success" }),
            ),
        );
    }
    s.app.expect_failed_jobs(1);
    let body = s.gl.hook_of(3, "update", "alice", None);
    s.app.gitlab("Merge Request Hook", "u1", &body).await;
    s.app.drain().await;
    let troubled = s.app.store.unfinished_jobs().await.unwrap();
    assert!(
        troubled
            .iter()
            .any(|j| j.last_error.as_deref().is_some_and(|e| {
                e.contains("would not set the `changegate` status to success")
                    && e.contains("mallory")
            })),
        "mallory's success is not taken for the bot's: {troubled:#?}"
    );
}

#[tokio::test]
async fn a_head_pipeline_gitlab_still_names_for_the_head_before_a_push_is_no_gate() {
    const SHA2: &str = "0b4bc9a49b562e85de7cc9e834518ea6828729b9";
    let s = free().await;
    let old = s.gl.run_merged_results_pipeline(3, MERGE_SHA);
    s.approve();
    s.hook("u1").await;
    assert_eq!(
        s.gl.statuses_in_effect(MERGE_SHA, "changegate"),
        vec![(old, "success".to_string(), BOT.to_string())]
    );
    // A push; until a pipeline for the new head exists, GitLab's `head_pipeline` still names
    // the merged-results pipeline of the head before it (GitLab itself gates on none).
    s.gl.push(3, SHA2);
    s.gl.state.lock().unwrap().checks.head_pipeline_stale = true;
    let before = s.gl.status_history(MERGE_SHA).len();
    s.hook("u2").await;
    assert_eq!(
        s.gl.status_history(MERGE_SHA).len(),
        before,
        "nothing for the new head goes into the old head's pipeline"
    );
    // The verdict goes on the new head itself, where GitLab's next pipeline for it finds it;
    // and it fails: the pipeline GitLab names is not one changegate can tell is this head's
    // (a stale head pipeline, or a train of rebased commits), so the block is missing.
    let on_new = s.gl.statuses_in_effect(SHA2, "changegate");
    assert!(
        on_new
            .iter()
            .any(|(_, state, who)| who == BOT && state == "failed"),
        "{on_new:?}"
    );
    assert!(
        on_new.iter().all(|(_, state, _)| state != "success"),
        "{on_new:?}"
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_merge_commit_counts_only_with_the_head_as_its_second_parent() {
    // GitLab's merge ref has the target's tip first and the head second; a merge commit with
    // the head first (the head merging the target) is no merged-results commit of it.
    for parents in [[SHA, MAIN_SHA], [MAIN_SHA, MAIN_SHA]] {
        let s = free().await;
        s.gl.commit(MAIN_SHA, &[], "bob");
        s.gl.commit(SHA, &[MAIN_SHA], "alice");
        s.gl.commit(MERGE_SHA, &parents, "alice");
        s.gl.run_merged_results_pipeline(3, MERGE_SHA);
        s.approve();
        s.hook("u1").await;
        assert!(
            s.gl.statuses_in_effect(MERGE_SHA, "changegate").is_empty(),
            "{parents:?}"
        );
        assert!(
            s.gl.status_named(SHA, "changegate").is_some(),
            "{parents:?}"
        );
    }
}
