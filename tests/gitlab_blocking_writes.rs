//! A blocking status changegate decides outside a verdict (an error after a job failed for
//! good) goes into the pipeline GitLab gates the merge request on, not only onto the head with
//! no pipeline: there GitLab puts it where it chooses, and a success of the bot's in the
//! gating pipeline would stand. Against the fake GitLab.

mod common;

use common::gitlab_checks::assert_project_calls_in_contract;
use common::gitlab_world::GitlabWorld;
use common::*;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const MERGE_SHA: &str = "5c1e7e3a9d2b4f6a8c0e1f3a5b7d9e1f2a4c6e8b";

async fn hook(app: &TestApp, gl: &GitlabWorld, delivery: &str) {
    let body = gl.hook_of(3, "update", "alice", None);
    let (status, _) = app.gitlab("Merge Request Hook", delivery, &body).await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
}

/// The states changegate's status went through in pipeline `p` of the head, oldest first.
fn in_pipeline(gl: &GitlabWorld, p: u64) -> Vec<String> {
    gl.status_history(SHA)
        .into_iter()
        .filter(|(_, q)| *q == p)
        .map(|(state, _)| state)
        .collect()
}

#[tokio::test]
async fn an_error_after_a_job_failed_for_good_reaches_the_merged_results_pipeline() {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    gl.run_merged_results_pipeline(3, MERGE_SHA);
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    hook(&app, &gl, "u1").await;
    assert_eq!(gl.status_history(MERGE_SHA).last().unwrap().0, "success");
    // The label history cannot be read (403): the job fails for good, and its error must
    // take the bot's success out of the pipeline GitLab gates on.
    gl.fail_next(
        "GET /api/v4/projects/42/merge_requests/3/resource_label_events",
        wiremock::ResponseTemplate::new(403)
            .set_body_json(serde_json::json!({ "message": "403 Forbidden" })),
    );
    app.expect_failed_jobs(1);
    hook(&app, &gl, "u2").await;
    let history = gl.status_history(MERGE_SHA);
    assert_eq!(
        history.last().map(|h| h.0.as_str()),
        Some("failed"),
        "{history:?}"
    );
    assert_ne!(
        gl.status_named(SHA, "changegate").map(|s| s.0),
        Some("success".to_string())
    );
    assert_project_calls_in_contract(&gl);
}

#[tokio::test]
async fn a_new_pipeline_while_the_change_waits_for_quota_holds_pending() {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    let mut app = TestApp::with_forges(None, Some(&gl.url())).await;
    let first = gl.run_pipeline(3);
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    hook(&app, &gl, "u1").await;
    let in_pipeline = |p: u64| in_pipeline(&gl, p);
    assert_eq!(
        in_pipeline(first).last().map(String::as_str),
        Some("success")
    );
    // The change has spent its hour's share: its jobs wait, saying so once.
    app.worker.max_units_per_change_hour = 1;
    app.expect_failed_jobs(2);
    hook(&app, &gl, "u2").await;
    // Someone runs a new pipeline on the head while it waits: its own jobs passing would
    // satisfy "Pipelines must succeed", so it must hold changegate's pending.
    let second = gl.run_pipeline(3);
    let body = gl.pipeline_hook(second, SHA, Some(3));
    let (status, _) = app.gitlab("Pipeline Hook", "pl1", &body).await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
    let there = in_pipeline(second);
    assert_eq!(
        there.first().map(String::as_str),
        Some("pending"),
        "{there:?}"
    );
    assert!(there.iter().all(|s| s != "success"), "{there:?}");
    assert_project_calls_in_contract(&gl);
}

#[tokio::test]
async fn a_success_given_is_taken_back_when_the_gate_cannot_be_read() {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    let given = gl.run_pipeline(3);
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "BT Integration Manager::Approved", "mona");
    hook(&app, &gl, "u1").await;
    let in_pipeline = |p: u64| in_pipeline(&gl, p);
    assert_eq!(
        in_pipeline(given).last().map(String::as_str),
        Some("success")
    );
    // A newer pipeline on the head (a branch anyone can create there): a status written into
    // no pipeline lands in it. Then the merge request cannot be read at all: the job fails for
    // good and the gate cannot be read, so the pipeline given the success is taken back from
    // the record.
    let newer = gl.run_pipeline(3);
    for _ in 0..8 {
        gl.fail_next(
            "GET /api/v4/projects/42/merge_requests/3$",
            wiremock::ResponseTemplate::new(403)
                .set_body_json(serde_json::json!({ "message": "403 Forbidden" })),
        );
    }
    app.expect_failed_jobs(1);
    hook(&app, &gl, "u2").await;
    let there = in_pipeline(given);
    assert_eq!(
        there.last().map(String::as_str),
        Some("failed"),
        "{there:?}"
    );
    assert!(in_pipeline(newer).iter().all(|s| s != "success"));
}
