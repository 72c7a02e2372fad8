//! GitLab blocks as hard as each tier allows (issue 26), end to end against the fake GitLab:
//! `pending` on arrival, the verdict in every new head pipeline, a `changegate` status or a
//! status check answer someone else wrote overwritten and recorded, the project's merge
//! settings checked, and (Ultimate) changegate's external status check answered for the head.

mod common;

use common::gitlab_checks::{CHECK_SECRET, CHECK_URL, assert_project_calls_in_contract};
use common::gitlab_world::{BOT, GitlabWorld};
use common::*;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const SHA2: &str = "0b4bc9a49b562e85de7cc9e834518ea6828729b9";

struct Setup {
    app: TestApp,
    gl: GitlabWorld,
}

async fn world() -> GitlabWorld {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    gl
}

/// Free tier: the app on the fake GitLab.
async fn free() -> Setup {
    let gl = world().await;
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    Setup { app, gl }
}

/// Ultimate: changegate's status check registered for `main` and answered.
async fn ultimate() -> Setup {
    let gl = world().await;
    gl.register_check(CHECK_URL, &["main"]);
    let app = TestApp::with_status_checks(&gl.url()).await;
    Setup { app, gl }
}

impl Setup {
    /// Labels that pass merge request 3 under the shipped rules.
    fn approve(&self) {
        self.gl.add_label(3, "CMT::Minor", "alice");
        self.gl
            .add_label(3, "BT Integration Manager::Approved", "mona");
    }

    async fn hook(&self, action: &str, oldrev: Option<&str>, delivery: &str) {
        let body = self.gl.hook_of(3, action, "alice", oldrev);
        let (status, _) = self.app.gitlab("Merge Request Hook", delivery, &body).await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// GitLab's check request, as after a new event of the merge request: each body differs
    /// (`updated_at`), since the same body again is a replay.
    async fn status_check(&self) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut v: serde_json::Value =
            serde_json::from_slice(&self.gl.hook_of(3, "update", "alice", None)).unwrap();
        v["object_attributes"]["updated_at"] = format!("2026-11-02 10:{:02}:00 UTC", n % 60).into();
        let body = serde_json::to_vec(&v).unwrap();
        let (status, _) = self.app.status_check(&body, Some(CHECK_SECRET)).await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    async fn audit(&self, kind: &str) -> Vec<serde_json::Value> {
        self.app
            .store
            .audit_of("gitlab", "acme/platypus", 3)
            .await
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, d)| d)
            .collect()
    }

    fn note(&self) -> String {
        self.gl.notes(3).join("\n")
    }
}

#[tokio::test]
async fn pending_is_written_when_a_merge_request_opens_and_when_it_is_pushed() {
    let s = free().await;
    s.hook("open", None, "o1").await;
    let states: Vec<String> = s.gl.status_history(SHA).into_iter().map(|h| h.0).collect();
    assert_eq!(
        states,
        vec!["pending", "failed"],
        "pending first, then the verdict"
    );

    s.gl.push(3, SHA2);
    s.hook("update", Some(SHA), "p1").await;
    let states: Vec<String> = s.gl.status_history(SHA2).into_iter().map(|h| h.0).collect();
    assert_eq!(states, vec!["pending", "failed"]);
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_passing_merge_request_gets_success_in_its_newest_pipeline() {
    let s = free().await;
    s.approve();
    s.hook("update", None, "u1").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert_eq!(effect.len(), 1, "{effect:?}");
    assert_eq!(
        (effect[0].1.as_str(), effect[0].2.as_str()),
        ("success", BOT)
    );
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_pipeline_hook_writes_pending_into_its_pipeline_first() {
    let s = free().await;
    s.approve();
    s.hook("update", None, "u1").await;
    let first = s.gl.statuses_in_effect(SHA, "changegate")[0].0;
    // Someone runs a new pipeline on the head: before anything else, it holds `pending`, then
    // the verdict; for a merge request pipeline and a branch pipeline alike.
    for (n, iid) in [(1, Some(3)), (2, None)] {
        let pipeline = s.gl.run_pipeline(3);
        let body = s.gl.pipeline_hook(pipeline, SHA, iid);
        s.gl.clear_calls();
        let (status, _) = s
            .app
            .gitlab("Pipeline Hook", &format!("pl{n}"), &body)
            .await;
        assert_eq!(status.as_u16(), 202);
        s.app.drain().await;
        let into: Vec<String> =
            s.gl.status_history(SHA)
                .into_iter()
                .filter(|(_, p)| *p == pipeline)
                .map(|(state, _)| state)
                .collect();
        assert_eq!(into, vec!["pending", "success"], "pipeline {pipeline}");
        // The pending is the first write, before the merge request's notes are read.
        let calls = s.gl.calls();
        let post = calls
            .iter()
            .position(|c| c.starts_with("POST") && c.contains("/statuses/"));
        let notes = calls
            .iter()
            .position(|c| c.starts_with("GET") && c.contains("/notes"));
        assert!(
            post.is_some() && (notes.is_none() || post < notes),
            "{calls:#?}"
        );
    }
    // A hook for a pipeline that already holds the bot's verdict (it finished, say) writes no
    // pending there; one for an older pipeline whose verdict is not on record ends with the
    // verdict, not pending.
    let newest = s.gl.statuses_in_effect(SHA, "changegate")[0].0;
    let history = |p: u64| -> Vec<String> {
        s.gl.status_history(SHA)
            .into_iter()
            .filter(|(_, q)| *q == p)
            .map(|(state, _)| state)
            .collect()
    };
    let before = history(newest);
    let body = s.gl.pipeline_hook(newest, SHA, Some(3));
    s.app.gitlab("Pipeline Hook", "pl3", &body).await;
    s.app.drain().await;
    assert_eq!(history(newest), before);
    let body = s.gl.pipeline_hook(first, SHA, Some(3));
    s.app.gitlab("Pipeline Hook", "pl4", &body).await;
    s.app.drain().await;
    assert_eq!(history(first).last().map(String::as_str), Some("success"));
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_new_pipeline_on_the_head_gets_changegates_status() {
    let s = free().await;
    s.approve();
    s.hook("update", None, "u1").await;
    // Someone runs a new pipeline for the same commit: "Pipelines must succeed" reads it.
    for (n, iid) in [(1, Some(3)), (2, None)] {
        let pipeline = s.gl.run_pipeline(3);
        let body = s.gl.pipeline_hook(pipeline, SHA, iid);
        let (status, _) = s
            .app
            .gitlab("Pipeline Hook", &format!("pl{n}"), &body)
            .await;
        assert_eq!(status.as_u16(), 202);
        s.app.drain().await;
        let effect = s.gl.statuses_in_effect(SHA, "changegate");
        assert!(
            effect
                .iter()
                .any(|(p, state, who)| *p == pipeline && state == "success" && who == BOT),
            "pipeline {pipeline} ({}) has changegate's status: {effect:?}",
            if iid.is_some() {
                "merge request pipeline"
            } else {
                "branch pipeline"
            }
        );
    }
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_forged_changegate_status_is_overwritten_and_the_writer_named() {
    let s = free().await;
    s.hook("open", None, "o1").await;
    // mallory (a Developer) writes success under changegate's name.
    s.gl.forge_status(SHA, ("changegate", "success", "all good"), "mallory");
    s.hook("update", None, "u1").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(
        effect
            .iter()
            .all(|(_, state, who)| who == BOT && state == "failed"),
        "{effect:?}"
    );
    assert!(s.note().contains("written by @mallory"), "{}", s.note());
    let records = s.audit("gitlab_overwrite").await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["written_by"], "mallory");
    assert_eq!(records[0]["what"], "status");
    assert_eq!(records[0]["state"], "success");
}

#[tokio::test]
async fn merge_settings_switched_off_fail_the_status_with_the_reason() {
    let s = free().await;
    s.approve();
    s.hook("update", None, "u1").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
    // A maintainer switches "Pipelines must succeed" off: the passing evaluation reads the
    // settings afresh (no cached answer is trusted for a pass).
    s.gl.set_merge_setting("only_allow_merge_if_pipeline_succeeds", false);
    s.hook("update", None, "u2").await;
    let (state, _, description) = s.gl.status(SHA).unwrap();
    assert_eq!(state, "failed");
    assert!(
        description.contains("Pipelines must succeed"),
        "{description}"
    );
    assert!(
        s.note().contains("only_allow_merge_if_pipeline_succeeds"),
        "{}",
        s.note()
    );

    s.gl.set_merge_setting("only_allow_merge_if_pipeline_succeeds", true);
    s.gl.set_merge_setting("allow_merge_on_skipped_pipeline", true);
    s.hook("update", None, "u3").await;
    let (state, _, description) = s.gl.status(SHA).unwrap();
    assert_eq!(state, "failed");
    assert!(description.contains("Skipped pipelines"), "{description}");

    s.gl.set_merge_setting("allow_merge_on_skipped_pipeline", false);
    s.hook("update", None, "u4").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
}

#[tokio::test]
async fn a_passing_merge_request_answers_passed_for_its_head() {
    let s = ultimate().await;
    s.approve();
    s.status_check().await;
    assert_eq!(
        s.gl.answers(3).last(),
        Some(&(SHA.to_string(), "passed".to_string(), BOT.to_string()))
    );
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
    // Asked again with nothing changed: GitLab shows the bot's answer, nothing is written.
    let before = s.gl.answers(3).len();
    s.status_check().await;
    assert_eq!(s.gl.answers(3).len(), before);
    assert_project_calls_in_contract(&s.gl);
}

#[tokio::test]
async fn a_failing_merge_request_answers_failed_and_a_push_answers_for_the_new_head() {
    let s = ultimate().await;
    s.status_check().await;
    assert_eq!(
        s.gl.answers(3).last(),
        Some(&(SHA.to_string(), "failed".to_string(), BOT.to_string()))
    );
    s.approve();
    s.hook("update", None, "u1").await;
    assert_eq!(
        s.gl.check_status(3),
        "passed",
        "answered again on the verdict change"
    );
    s.gl.push(3, SHA2);
    s.hook("update", Some(SHA), "p1").await;
    let answers = s.gl.answers(3);
    assert!(
        answers
            .iter()
            .any(|(sha, _, who)| sha == SHA2 && who == BOT),
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_409_reads_the_merge_request_again_and_answers_for_the_new_head() {
    let s = ultimate().await;
    s.approve();
    // The head moves between the bot's read and its answer.
    s.gl.move_head_before_answer(3, SHA2);
    s.status_check().await;
    let answers = s.gl.answers(3);
    assert!(
        !answers
            .iter()
            .any(|(sha, status, _)| sha == SHA && status == "passed"),
        "no pass recorded for a head that left: {answers:?}"
    );
    let first_new = answers.iter().find(|(sha, _, _)| sha == SHA2);
    assert_eq!(
        first_new.map(|a| a.1.as_str()),
        Some("failed"),
        "the new head is failed until evaluated: {answers:?}"
    );
    // Its own evaluation was queued and answered it with its verdict.
    assert!(answers.iter().filter(|(sha, _, _)| sha == SHA2).count() >= 1);
}

#[tokio::test]
async fn a_status_check_request_with_a_bad_signature_is_401_and_stores_nothing() {
    let s = ultimate().await;
    let body = s.gl.hook_of(3, "update", "alice", None);
    for secret in [None, Some(&b"wrong-secret"[..])] {
        let (status, _) = s.app.status_check(&body, secret).await;
        assert_eq!(status.as_u16(), 401);
    }
    let mut tampered = body.clone();
    let signed = changegate::server::status_check::sign(CHECK_SECRET, &body);
    tampered.extend_from_slice(b" ");
    let req = axum::http::Request::post("/webhooks/gitlab/status-check")
        .header("x-gitlab-signature", signed)
        .body(axum::body::Body::from(tampered))
        .unwrap();
    assert_eq!(s.app.send(req).await.0.as_u16(), 401);
    assert_eq!(s.app.drain().await, 0, "nothing was queued");
    assert!(s.gl.calls().is_empty(), "{:?}", s.gl.calls());
    assert!(s.audit("decision").await.is_empty());
}

#[tokio::test]
async fn a_replayed_status_check_request_queues_nothing() {
    let s = ultimate().await;
    let body = s.gl.hook_of(3, "update", "alice", None);
    let (status, _) = s.app.status_check(&body, Some(CHECK_SECRET)).await;
    assert_eq!(status.as_u16(), 202);
    assert_eq!(s.app.drain().await, 1);
    // The signature has no time in it: the same body sent again is a duplicate delivery.
    let (status, answer) = s.app.status_check(&body, Some(CHECK_SECRET)).await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    assert_eq!(s.app.drain().await, 0, "nothing more was queued");
}

#[tokio::test]
async fn a_forged_passed_answer_is_overwritten_and_recorded() {
    let s = ultimate().await;
    s.status_check().await;
    assert_eq!(s.gl.check_status(3), "failed");
    // Any Developer may answer the check: mallory answers `passed`.
    s.gl.forge_answer(3, "passed", "mallory");
    assert_eq!(s.gl.check_status(3), "passed");
    s.hook("update", None, "u1").await;
    assert_eq!(s.gl.check_status(3), "failed");
    let records = s.audit("gitlab_overwrite").await;
    assert!(
        records
            .iter()
            .any(|r| r["what"] == "status_check" && r["shown"] == "passed"),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_check_not_registered_for_the_target_or_not_required_fails_the_status() {
    let gl = world().await;
    gl.register_check(CHECK_URL, &["release"]);
    let s = Setup {
        app: TestApp::with_status_checks(&gl.url()).await,
        gl,
    };
    s.approve();
    s.status_check().await;
    let (state, _, description) = s.gl.status(SHA).unwrap();
    assert_eq!(state, "failed");
    assert!(description.contains("target branch"), "{description}");
    assert_eq!(s.gl.check_status(3), "failed");

    s.gl.state.lock().unwrap().checks.external.clear();
    s.gl.register_check(CHECK_URL, &[]);
    s.gl.set_merge_setting("only_allow_merge_if_all_status_checks_passed", false);
    s.status_check().await;
    let (state, _, description) = s.gl.status(SHA).unwrap();
    assert_eq!(state, "failed");
    assert!(
        description.contains("Status checks must succeed"),
        "{description}"
    );

    s.gl.set_merge_setting("only_allow_merge_if_all_status_checks_passed", true);
    s.status_check().await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "success");
    assert_eq!(s.gl.check_status(3), "passed");
}

/// `changegate explain` on the binary, with the environment given.
fn changegate(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_changegate"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CHANGEGATE_LOG", "warn")
        .env("CHANGEGATE__RULES__PATH", common::undated_rules());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_which_blocks_are_in_force_and_which_are_missing() {
    let gl = world().await;
    gl.register_check(CHECK_URL, &["release"]);
    gl.set_merge_setting("allow_merge_on_skipped_pipeline", true);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("check-secret");
    std::fs::write(&secret, "s1\ns2\n").unwrap();
    let env = vec![
        (
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        ),
        ("CHANGEGATE__GITLAB__TOKEN", "test-token".to_string()),
        ("CHANGEGATE__GITLAB__URL", gl.url()),
        ("CHANGEGATE__GITLAB__STATUS_CHECKS", "true".to_string()),
        (
            "CHANGEGATE__GITLAB__STATUS_CHECK_SECRET_FILE",
            secret.display().to_string(),
        ),
        (
            "CHANGEGATE__SERVER__PUBLIC_URL",
            "https://changegate.example.com".to_string(),
        ),
    ];
    let run = |args: Vec<&'static str>, env: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || changegate(&args, &env))
    };
    // explain only reads: the database it reads must exist (serve or migrate makes it).
    let (code, _, err) = run(vec!["migrate"], env.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let project = vec!["explain", "--forge", "gitlab", "--repo", "42"];
    let (code, out, err) = run(project, env.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[x] Pipelines must succeed"), "{out}");
    assert!(out.contains("[ ] skipped pipelines not counted"), "{out}");
    assert!(
        out.contains("[ ] changegate's external status check registered"),
        "{out}"
    );
    assert!(out.contains("[x] Status checks must succeed"), "{out}");
    assert!(out.contains("[ ] approval mode"), "{out}");
    assert!(
        out.contains("missing: the project's setting \"Skipped pipelines"),
        "{out}"
    );

    let change = vec![
        "explain", "--forge", "gitlab", "--repo", "42", "--number", "3",
    ];
    let (code, out, err) = run(change, env.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("not registered for this merge request's target branch"),
        "{out}"
    );
    assert!(
        gl.writes().is_empty(),
        "explain writes nothing: {:?}",
        gl.writes()
    );
    // The merge request's pipeline runs in a fork, where the bot is even a Developer.
    gl.mr_from_fork(3, 77, "alice/platypus", Some(30));
    let pipeline = gl.run_fork_pipeline(3);
    let change = vec![
        "explain", "--forge", "gitlab", "--repo", "42", "--number", "3",
    ];
    let (code, out, err) = run(change, env.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("[ ] changegate's status in the pipeline GitLab gates the merge request on (block missing: the pipeline GitLab gates on ({pipeline}) runs in the fork alice/platypus")),
        "{out}"
    );

    // Status checks on without the secret: refused at start, saying what is missing.
    let without: Vec<(&'static str, String)> = env
        .into_iter()
        .filter(|(k, _)| !k.contains("SECRET"))
        .collect();
    let (code, _, err) = run(
        vec!["explain", "--forge", "gitlab", "--repo", "42"],
        without,
    )
    .await
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("gitlab.status_check_secret"), "{err}");
}

#[tokio::test]
async fn a_job_that_fails_for_good_answers_the_check_failed() {
    let s = ultimate().await;
    s.approve();
    s.status_check().await;
    assert_eq!(s.gl.check_status(3), "passed");
    // The merge request can no longer be read: no verdict is reached, so no pass stands.
    s.app.expect_failed_jobs(1);
    s.gl.fail_next(
        "GET /api/v4/projects/42/merge_requests/3",
        wiremock::ResponseTemplate::new(403)
            .set_body_json(serde_json::json!({ "message": "403 Forbidden" })),
    );
    s.hook("update", None, "u1").await;
    assert_eq!(s.gl.status(SHA).unwrap().0, "failed");
    assert_eq!(s.gl.check_status(3), "failed");
}

#[tokio::test]
async fn a_forged_status_copying_the_bots_text_does_not_pass_for_the_bots() {
    let s = free().await;
    s.hook("open", None, "o1").await;
    let (state, _, description) = s.gl.status(SHA).unwrap();
    // mallory starts a new pipeline and writes the bot's very state and words into it: it
    // looks like the bot's verdict, but it is not the bot's, and the next one is `success`.
    let pipeline = s.gl.run_pipeline(3);
    s.gl.forge_status(SHA, ("changegate", &state, &description), "mallory");
    s.hook("update", None, "u1").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(
        effect.iter().all(|(_, _, who)| who == BOT),
        "a copy of the bot's text is overwritten all the same: {effect:?}"
    );
    s.gl.forge_status(SHA, ("changegate", "success", "all good"), "mallory");
    s.hook("update", None, "u2").await;
    let effect = s.gl.statuses_in_effect(SHA, "changegate");
    assert!(
        effect
            .iter()
            .any(|(p, state, who)| *p == pipeline && state == "failed" && who == BOT),
        "the bot's verdict is in the newest pipeline: {effect:?}"
    );
    assert!(effect.iter().all(|(_, _, who)| who == BOT), "{effect:?}");
    assert!(!description.is_empty());
}
