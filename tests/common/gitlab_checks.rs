//! The fake GitLab's blocks, as GitLab's REST API documents them: the project's merge
//! settings (`GET /projects/:id`), commit statuses with their author and pipeline (`POST
//! /projects/:id/statuses/:sha` with `pipeline_id`; `GET …/repository/commits/:sha/statuses`,
//! the latest of each name per pipeline, all refs), merge request pipelines (`GET
//! …/merge_requests/:iid/pipelines`, newest first), and external status checks (Ultimate:
//! `GET /projects/:id/external_status_checks`, `GET …/merge_requests/:iid/status_checks`,
//! `POST …/merge_requests/:iid/status_check_responses`, 409 when `sha` is not the head).
//! Anyone may write a status or answer a check, as on GitLab: tests forge them.
#![allow(dead_code)]

use super::gitlab_pipelines::{Fork, Pipeline, latest_statuses, pipeline_json, post_status_in};
use super::gitlab_world::{BOT, GitlabWorld, GlState, PROJECT_ID, user_id};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// The URL changegate's status check is registered with in the tests.
pub const CHECK_URL: &str = "https://changegate.example.com/webhooks/gitlab/status-check";
/// The status check's shared secret in the tests.
pub const CHECK_SECRET: &[u8] = b"test-status-check-secret";
/// changegate's check's id on the fake.
pub const CHECK_ID: u64 = 7;

/// What the fake holds for the blocks.
pub struct Checks {
    /// The project's merge settings (`GET /projects/:id` fields).
    pub settings: Value,
    /// Pipelines, oldest first.
    pub pipelines: Vec<Pipeline>,
    /// Forks merge requests come from: (merge request iid, the fork).
    pub forks: Vec<(u64, Fork)>,
    /// Statuses written in forks: (project id, sha, status as posted), oldest first.
    pub fork_statuses: Vec<(u64, String, Value)>,
    /// At the next read of a merge request's status checks, a push moves it to a new head and
    /// someone answers `passed` for that head first: (iid, sha, who).
    pub push_and_answer_before_read: Option<(u64, String, String)>,
    /// An instance that names no `head_pipeline` and whose pipeline list the token may not read.
    pub pipelines_unnamed: bool,
    /// An instance that names no `head_pipeline` but lists the merge request's pipelines.
    pub head_pipeline_absent: bool,
    /// `head_pipeline` names the merge request's newest pipeline whatever its commit, as GitLab
    /// does after a push until a pipeline for the new head exists.
    pub head_pipeline_stale: bool,
    /// After this many more reads of a merge request (`GET …/merge_requests/:iid`), the next
    /// answers 403 (the token lost access between two reads); once.
    pub mr_reads_before_refusal: Option<usize>,
    /// The head's statuses cannot be listed (403), as when more are posted than can be read.
    pub statuses_unreadable: bool,
    /// The project's external status checks (GitLab's JSON).
    pub external: Vec<Value>,
    /// Status check answers: (iid, sha, check id, status, who), oldest first.
    pub responses: Vec<(u64, String, u64, String, String)>,
    /// Heads to move a merge request to just before its next status check answer: (iid, sha).
    pub move_before_answer: Option<(u64, String)>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            settings: json!({
                "only_allow_merge_if_pipeline_succeeds": true,
                "allow_merge_on_skipped_pipeline": false,
                "only_allow_merge_if_all_status_checks_passed": true,
            }),
            pipelines: vec![],
            forks: vec![],
            fork_statuses: vec![],
            pipelines_unnamed: false,
            head_pipeline_absent: false,
            head_pipeline_stale: false,
            mr_reads_before_refusal: None,
            statuses_unreadable: false,
            push_and_answer_before_read: None,
            external: vec![],
            responses: vec![],
            move_before_answer: None,
        }
    }
}

fn reply(status: u16, v: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(v)
}

fn account(name: &str) -> Value {
    json!({ "id": user_id(name), "username": name, "name": name, "state": "active" })
}

/// The project as `GET /projects/:id` answers, with its merge settings.
pub fn project_json(s: &GlState, base: Value) -> Value {
    let mut v = base;
    if let (Some(obj), Some(settings)) = (v.as_object_mut(), s.checks.settings.as_object()) {
        for (k, val) in settings {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

/// The head of merge request `iid` on the fake.
fn head(s: &GlState, iid: u64) -> Option<String> {
    s.changes
        .iter()
        .find(|c| c.is_mr && c.iid == iid)
        .map(|c| c.sha.clone())
}

/// The project routes of the blocks; `None` for the others.
pub fn route(
    s: &mut GlState,
    method: &str,
    tail: &[&str],
    body: &Value,
    query: &[(String, String)],
) -> Option<ResponseTemplate> {
    let num = |x: &str| x.parse::<u64>().unwrap_or(0);
    Some(match (method, tail) {
        ("POST", ["statuses", sha]) => post_status(s, sha, body, BOT),
        ("GET", ["repository", "commits", _, "statuses"]) if s.checks.statuses_unreadable => {
            reply(403, json!({ "message": "403 Forbidden" }))
        }
        ("GET", ["repository", "commits", sha, "statuses"]) => {
            let name = query.iter().find(|(k, _)| k == "name").map(|(_, v)| v);
            reply(
                200,
                json!(latest_statuses(s, sha, name.map(String::as_str))),
            )
        }
        ("GET", ["merge_requests", _, "pipelines"]) if s.checks.pipelines_unnamed => {
            reply(404, json!({ "message": "404 Not found" }))
        }
        ("GET", ["merge_requests", iid, "pipelines"]) => {
            let iid = num(iid);
            let list: Vec<Value> = s
                .checks
                .pipelines
                .iter()
                .rev()
                .filter(|p| p.iid == iid)
                .map(pipeline_json)
                .collect();
            reply(200, json!(list))
        }
        ("GET", ["external_status_checks"]) => reply(200, json!(s.checks.external)),
        ("GET", ["merge_requests", iid, "status_checks"]) => {
            let iid = num(iid);
            if let Some((moved, sha, who)) = s.checks.push_and_answer_before_read.take()
                && let Some(c) = s.changes.iter_mut().find(|c| c.is_mr && c.iid == moved)
            {
                c.sha = sha.clone();
                s.checks
                    .responses
                    .push((moved, sha, CHECK_ID, "passed".into(), who));
            }
            let head = head(s, iid).unwrap_or_default();
            let list: Vec<Value> = s
                .checks
                .external
                .iter()
                .map(|c| {
                    let id = c["id"].as_u64().unwrap_or(0);
                    let status = s
                        .checks
                        .responses
                        .iter()
                        .rev()
                        .find(|(i, sha, check, _, _)| *i == iid && *sha == head && *check == id)
                        .map_or("pending".to_string(), |r| r.3.clone());
                    json!({ "id": id, "name": c["name"], "external_url": c["external_url"], "status": status })
                })
                .collect();
            reply(200, json!(list))
        }
        ("POST", ["merge_requests", iid, "status_check_responses"]) => {
            let iid = num(iid);
            if let Some((moved, sha)) = s.checks.move_before_answer.take()
                && let Some(c) = s.changes.iter_mut().find(|c| c.is_mr && c.iid == moved)
            {
                c.sha = sha;
            }
            answer(s, iid, body, BOT)
        }
        _ => return None,
    })
}

/// `POST /projects/:id/statuses/:sha` by `who` in `PROJECT`.
fn post_status(s: &mut GlState, sha: &str, body: &Value, who: &str) -> ResponseTemplate {
    post_status_in(s, PROJECT_ID, sha, body, who)
}

/// `POST …/status_check_responses` by `who`: 409 unless `sha` is the head.
fn answer(s: &mut GlState, iid: u64, body: &Value, who: &str) -> ResponseTemplate {
    let sha = body["sha"].as_str().unwrap_or("").to_string();
    let check = body["external_status_check_id"].as_u64().unwrap_or(0);
    let status = body["status"].as_str().unwrap_or("").to_string();
    if !["passed", "failed", "pending"].contains(&status.as_str()) {
        return reply(
            400,
            json!({ "error": "status does not have a valid value" }),
        );
    }
    if !s.checks.external.iter().any(|c| c["id"] == check) {
        return reply(404, json!({ "message": "404 Not found" }));
    }
    if head(s, iid).as_deref() != Some(sha.as_str()) {
        return reply(
            409,
            json!({ "message": "SHA does not match HEAD of source branch" }),
        );
    }
    s.checks
        .responses
        .push((iid, sha.clone(), check, status.clone(), who.to_string()));
    reply(
        201,
        json!({ "id": s.checks.responses.len(), "merge_request": { "iid": iid }, "external_status_check": { "id": check }, "status": status }),
    )
}

/// Domain verbs for the blocks.
impl GitlabWorld {
    /// Sets one of the project's merge settings.
    pub fn set_merge_setting(&self, key: &str, on: bool) {
        self.state.lock().unwrap().checks.settings[key] = json!(on);
    }

    /// Registers changegate's external status check (Ultimate), for `branches` (none: all).
    pub fn register_check(&self, url: &str, branches: &[&str]) {
        let protected: Vec<Value> = branches
            .iter()
            .enumerate()
            .map(|(i, b)| json!({ "id": 14 + i, "project_id": 42, "name": b, "code_owner_approval_required": false }))
            .collect();
        self.state.lock().unwrap().checks.external.push(json!({
            "id": CHECK_ID, "name": "changegate", "project_id": 42, "external_url": url,
            "hmac": true, "protected_branches": protected,
        }));
    }

    /// `who` writes a commit status named `name` with `description` into the newest
    /// pipeline of `sha`.
    pub fn forge_status(
        &self,
        sha: &str,
        (name, state, description): (&str, &str, &str),
        who: &str,
    ) {
        let mut s = self.state.lock().unwrap();
        let body = json!({ "state": state, "name": name, "description": description });
        post_status(&mut s, sha, &body, who);
    }

    /// `who` answers the status check of merge request `iid` for its head.
    pub fn forge_answer(&self, iid: u64, status: &str, who: &str) {
        let mut s = self.state.lock().unwrap();
        let sha = head(&s, iid).expect("the merge request exists");
        let body = json!({ "sha": sha, "external_status_check_id": CHECK_ID, "status": status });
        answer(&mut s, iid, &body, who);
    }

    /// The merge request's next status check answer finds its head moved to `sha` (a push
    /// between the bot's read and its answer).
    pub fn move_head_before_answer(&self, iid: u64, sha: &str) {
        self.state.lock().unwrap().checks.move_before_answer = Some((iid, sha.to_string()));
    }

    /// The status check answers for merge request `iid`: (sha, status, who), oldest first.
    pub fn answers(&self, iid: u64) -> Vec<(String, String, String)> {
        self.state
            .lock()
            .unwrap()
            .checks
            .responses
            .iter()
            .filter(|r| r.0 == iid)
            .map(|r| (r.1.clone(), r.3.clone(), r.4.clone()))
            .collect()
    }

    /// What GitLab shows for changegate's check on merge request `iid` now.
    pub fn check_status(&self, iid: u64) -> String {
        let s = self.state.lock().unwrap();
        let head = head(&s, iid).unwrap_or_default();
        s.checks
            .responses
            .iter()
            .rev()
            .find(|r| r.0 == iid && r.1 == head)
            .map_or("pending".into(), |r| r.3.clone())
    }

    /// The statuses named `name` in effect on `sha`: (pipeline, state, author), newest first.
    pub fn statuses_in_effect(&self, sha: &str, name: &str) -> Vec<(u64, String, String)> {
        let s = self.state.lock().unwrap();
        latest_statuses(&s, sha, Some(name))
            .into_iter()
            .map(|v| {
                (
                    v["pipeline_id"].as_u64().unwrap_or(0),
                    v["status"].as_str().unwrap_or("").to_string(),
                    v["author"]["username"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Every status posted on `sha`: (state, pipeline), oldest first.
    pub fn status_history(&self, sha: &str) -> Vec<(String, u64)> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .filter(|(h, _)| h == sha)
            .map(|(_, v)| {
                (
                    v["state"].as_str().unwrap_or("").to_string(),
                    v["pipeline_id"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The `Pipeline Hook` body (the corpus `pipeline.success.1`) for pipeline `id` on `sha`,
    /// naming merge request `iid` (a merge request pipeline) or none (a branch pipeline).
    pub fn pipeline_hook(&self, id: u64, sha: &str, iid: Option<u64>) -> Vec<u8> {
        let path = super::corpus_dir().join("gitlab/pipeline.success.1.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["project"]["id"] = json!(42);
        v["project"]["path_with_namespace"] = json!(super::gitlab_world::PROJECT);
        v["object_attributes"]["id"] = json!(id);
        v["object_attributes"]["sha"] = json!(sha);
        v["object_attributes"]["ref"] = json!("feature");
        v["object_attributes"]["status"] = json!("pending");
        match iid {
            Some(iid) => {
                v["merge_request"]["iid"] = json!(iid);
                v["merge_request"]["target_branch"] = json!("main");
                // A merge request of this project, from a branch of this project.
                v["merge_request"]["source_project_id"] = json!(PROJECT_ID);
                v["merge_request"]["target_project_id"] = json!(PROJECT_ID);
            }
            None => v["merge_request"] = Value::Null,
        }
        serde_json::to_vec(&v).unwrap()
    }
}

impl super::TestApp {
    /// The app acting on the fake GitLab at `gitlab`, with changegate's external status check
    /// on (`gitlab.status_checks`, public URL `https://changegate.example.com`).
    pub async fn with_status_checks(gitlab: &str) -> Self {
        use changegate::forge::gitlab::GitlabClient;
        let gl = GitlabClient::new(gitlab, "gl-token", super::test_retry()).expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let mut app = Self::build_on(
            &url,
            dir,
            |state| state.status_check_secrets = std::sync::Arc::new(vec![CHECK_SECRET.to_vec()]),
            changegate::worker::ForgeClients::new(None, Some(gl)),
            super::test_clock(),
        )
        .await;
        app.worker.dry_run = false;
        app.worker.gitlab_blocks = changegate::worker::GitlabBlocks::new(
            true,
            Some("https://changegate.example.com/"),
            std::time::Duration::from_secs(300),
        );
        app
    }

    /// GitLab's status check request with `body`, signed with `secret` (none: unsigned).
    pub async fn status_check(
        &self,
        body: &[u8],
        secret: Option<&[u8]>,
    ) -> (axum::http::StatusCode, Value) {
        let mut req = axum::http::Request::post("/webhooks/gitlab/status-check")
            .header("content-type", "application/json");
        if let Some(secret) = secret {
            req = req.header(
                "x-gitlab-signature",
                changegate::server::status_check::sign(secret, body),
            );
        }
        self.send(
            req.body(axum::body::Body::from(body.to_vec()))
                .expect("request"),
        )
        .await
    }
}

/// Every call the fake received under a project (`/api/v4/projects/:id/…`, the merge
/// request's or a fork's, where a path segment is one path segment) is one the contract list
/// knows.
pub fn assert_project_calls_in_contract(gl: &GitlabWorld) {
    for call in gl.calls() {
        let Some((method, path)) = call.split_once(' ') else {
            continue;
        };
        let Some(rest) = path.strip_prefix("/api/v4") else {
            continue;
        };
        if !rest.starts_with("/projects/") {
            continue;
        }
        assert!(method != "PATCH", "GitLab takes no PATCH: {call}");
        assert!(
            super::gitlab_contract::in_gitlab_contract(rest),
            "not in tests/fixtures/gitlab-paths.txt: {call}"
        );
    }
}
