//! The fake GitLab's pipelines and the projects they run in, as GitLab's REST API documents
//! them: each merge request's `head_pipeline` (the newest pipeline on its head, or made for it:
//! merged results), pipelines in the fork a merge request comes from, the fork as
//! `GET /projects/:id` shows it to the bot (`permissions`), and commit statuses kept per
//! project (`POST /projects/:id/statuses/:sha` with `pipeline_id`, a pipeline of that project
//! on that commit; `GET …/repository/commits/:sha/statuses`, the latest of each name per
//! pipeline).
#![allow(dead_code)]

use super::gitlab_world::{BOT, GitlabWorld, GlState, PROJECT_ID, user_id};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// The target branch's tip in merge commits the fake makes for merged-results pipelines.
const TARGET_TIP: &str = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";

fn reply(status: u16, v: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(v)
}

fn account(name: &str) -> Value {
    json!({ "id": user_id(name), "username": name, "name": name, "state": "active" })
}

/// The head of merge request `iid` on the fake.
fn head(s: &GlState, iid: u64) -> Option<String> {
    s.changes
        .iter()
        .find(|c| c.is_mr && c.iid == iid)
        .map(|c| c.sha.clone())
}

/// A pipeline of a merge request, as GitLab keeps it.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub id: u64,
    pub iid: u64,
    /// The commit it runs on: the head, or a merge commit (merged results).
    pub sha: String,
    /// The project it runs in (`PROJECT_ID`, or a fork's).
    pub project_id: u64,
    /// For a merged-results pipeline, the head it was made for (GitLab's `source_sha`).
    pub source_sha: Option<String>,
    /// Its ref, when a test sets one; else GitLab's for its kind.
    pub git_ref: Option<String>,
}

/// A fork a merge request comes from, and the bot's role there (`None`: it cannot see it).
#[derive(Clone, Debug)]
pub struct Fork {
    pub id: u64,
    pub path: String,
    pub access_level: Option<u64>,
}

/// A new pipeline for merge request `iid` on `sha` in `project`; its id.
pub(super) fn new_pipeline(s: &mut GlState, iid: u64, sha: &str, project: u64) -> u64 {
    let id = 500 + s.checks.pipelines.len() as u64;
    s.checks.pipelines.push(Pipeline {
        id,
        iid,
        sha: sha.to_string(),
        project_id: project,
        source_sha: None,
        git_ref: None,
    });
    id
}

pub(super) fn pipeline_json(p: &Pipeline) -> Value {
    let source = if p.source_sha.is_some() {
        "merge_request_event"
    } else {
        "push"
    };
    // GitLab runs a merged-results pipeline on the merge request's merge ref.
    let git_ref = match (&p.git_ref, &p.source_sha) {
        (Some(r), _) => r.clone(),
        (None, Some(_)) => format!("refs/merge-requests/{}/merge", p.iid),
        (None, None) => "feature".to_string(),
    };
    json!({ "id": p.id, "iid": p.id, "project_id": p.project_id, "sha": p.sha, "ref": git_ref, "status": "running", "source": source })
}

/// The merge request's `head_pipeline`, as GitLab picks it: the newest pipeline on its head,
/// or made for its head (merged results), in whichever project it runs.
pub fn head_pipeline(s: &GlState, iid: u64) -> Value {
    let Some(head) = head(s, iid) else {
        return Value::Null;
    };
    s.checks
        .pipelines
        .iter()
        .rev()
        .find(|p| {
            p.iid == iid
                && (s.checks.head_pipeline_stale
                    || p.sha == head
                    || p.source_sha.as_deref() == Some(&head))
        })
        .map_or(Value::Null, pipeline_json)
}

/// The merge request's project ids (`source_project_id`, `target_project_id`).
pub fn mr_projects(s: &GlState, iid: u64) -> (u64, u64) {
    let source = s
        .checks
        .forks
        .iter()
        .find(|(i, _)| *i == iid)
        .map_or(PROJECT_ID, |(_, f)| f.id);
    (source, PROJECT_ID)
}

/// Routes of a project other than `PROJECT` (a fork): the project, and commit statuses.
pub fn other_project(
    s: &mut GlState,
    method: &str,
    project: &str,
    tail: &[&str],
    body: &Value,
    query: &[(String, String)],
) -> Option<ResponseTemplate> {
    let fork = s
        .checks
        .forks
        .iter()
        .map(|(_, f)| f.clone())
        .find(|f| f.id.to_string() == project || f.path == project)?;
    let Some(level) = fork.access_level else {
        return Some(reply(404, json!({ "message": "404 Project Not Found" })));
    };
    Some(match (method, tail) {
        ("GET", []) => reply(
            200,
            json!({ "id": fork.id, "path_with_namespace": fork.path, "default_branch": "main",
                "permissions": { "project_access": { "access_level": level, "notification_level": 3 }, "group_access": null } }),
        ),
        ("POST", ["statuses", _]) if level < 30 => {
            reply(403, json!({ "message": "403 Forbidden" }))
        }
        ("POST", ["statuses", sha]) => post_status_in(s, fork.id, sha, body, BOT),
        ("GET", ["repository", "commits", sha, "statuses"]) => {
            let name = query.iter().find(|(k, _)| k == "name").map(|(_, v)| v);
            reply(
                200,
                json!(latest_in(s, fork.id, sha, name.map(String::as_str))),
            )
        }
        _ => return None,
    })
}

/// `POST /projects/:id/statuses/:sha` by `who` in `project`: into `pipeline_id` (a pipeline of
/// that project), else the project's newest pipeline of the commit, else a new one (GitLab
/// creates an external pipeline).
pub(super) fn post_status_in(
    s: &mut GlState,
    project: u64,
    sha: &str,
    body: &Value,
    who: &str,
) -> ResponseTemplate {
    let state = body["state"].as_str().unwrap_or("");
    if ![
        "pending", "running", "success", "failed", "canceled", "skipped",
    ]
    .contains(&state)
    {
        return reply(
            400,
            json!({ "message": "state does not have a valid value" }),
        );
    }
    let ours = |p: &&Pipeline| p.project_id == project;
    let pipeline = match body["pipeline_id"].as_u64() {
        // GitLab looks the pipeline up among the project's own, on the commit posted to.
        Some(id)
            if s.checks
                .pipelines
                .iter()
                .filter(ours)
                .any(|p| p.id == id && p.sha == sha) =>
        {
            id
        }
        Some(_) => return reply(404, json!({ "message": "404 Pipeline Not Found" })),
        None => match s
            .checks
            .pipelines
            .iter()
            .filter(ours)
            .rev()
            .find(|p| p.sha == sha)
        {
            Some(p) => p.id,
            None => {
                let iid = s
                    .changes
                    .iter()
                    .find(|c| c.is_mr && c.sha == sha)
                    .map_or(0, |c| c.iid);
                new_pipeline(s, iid, sha, project)
            }
        },
    };
    let mut stored = body.clone();
    stored["author"] = account(who);
    stored["pipeline_id"] = json!(pipeline);
    if project == PROJECT_ID {
        s.statuses.push((sha.to_string(), stored));
    } else {
        s.checks
            .fork_statuses
            .push((project, sha.to_string(), stored));
    }
    reply(
        201,
        json!({ "id": s.statuses.len(), "sha": sha, "status": state, "name": body["name"], "pipeline_id": pipeline, "author": account(who) }),
    )
}

/// The latest status of each name in each pipeline of `sha` in `PROJECT`, newest first.
pub(super) fn latest_statuses(s: &GlState, sha: &str, name: Option<&str>) -> Vec<Value> {
    latest_in(s, PROJECT_ID, sha, name)
}

/// The latest status of each name in each pipeline of `sha` in `project`, newest first.
pub(super) fn latest_in(s: &GlState, project: u64, sha: &str, name: Option<&str>) -> Vec<Value> {
    let mut seen: Vec<(u64, String)> = vec![];
    let mut list = vec![];
    let posted: Vec<(&String, &Value)> = if project == PROJECT_ID {
        s.statuses.iter().map(|(h, v)| (h, v)).collect()
    } else {
        s.checks
            .fork_statuses
            .iter()
            .filter(|(p, _, _)| *p == project)
            .map(|(_, h, v)| (h, v))
            .collect()
    };
    for (i, (_, v)) in posted
        .into_iter()
        .enumerate()
        .rev()
        .filter(|(_, (h, _))| *h == sha)
    {
        let n = v["name"].as_str().unwrap_or("default").to_string();
        let pipeline = v["pipeline_id"].as_u64().unwrap_or(0);
        if seen.contains(&(pipeline, n.clone())) || name.is_some_and(|w| w != n) {
            continue;
        }
        seen.push((pipeline, n.clone()));
        let author = if v["author"].is_null() {
            account(BOT)
        } else {
            v["author"].clone()
        };
        list.push(json!({ "id": i + 1, "sha": sha, "ref": "feature", "status": v["state"], "name": n,
            "description": v["description"], "allow_failure": false, "pipeline_id": pipeline, "author": author }));
    }
    list
}

/// Domain verbs for pipelines and forks.
impl GitlabWorld {
    /// A new pipeline on merge request `iid`'s head (someone runs one); its id.
    pub fn run_pipeline(&self, iid: u64) -> u64 {
        let mut s = self.state.lock().unwrap();
        let sha = head(&s, iid).expect("the merge request exists");
        new_pipeline(&mut s, iid, &sha, PROJECT_ID)
    }

    /// Merge request `iid` comes from fork `path` (project `id`), where the bot has
    /// `access_level` (`None`: it cannot see the fork).
    pub fn mr_from_fork(&self, iid: u64, id: u64, path: &str, access_level: Option<u64>) {
        let fork = Fork {
            id,
            path: path.to_string(),
            access_level,
        };
        self.state.lock().unwrap().checks.forks.push((iid, fork));
    }

    /// A pipeline of merge request `iid`'s head runs in its fork (the fork's CI); its id.
    pub fn run_fork_pipeline(&self, iid: u64) -> u64 {
        let mut s = self.state.lock().unwrap();
        let sha = head(&s, iid).expect("the merge request exists");
        let (fork, _) = mr_projects(&s, iid);
        new_pipeline(&mut s, iid, &sha, fork)
    }

    /// A merged-results pipeline for merge request `iid`'s head, on merge commit `merge_sha`
    /// in the target project; its id. A merge commit the test did not make is made as GitLab
    /// makes its merge ref: the target's tip first, the head second.
    pub fn run_merged_results_pipeline(&self, iid: u64, merge_sha: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        let head = head(&s, iid).expect("the merge request exists");
        if s.deploy.graph.get(merge_sha).is_none() {
            let at = s.tick();
            for sha in [TARGET_TIP, head.as_str()] {
                if s.deploy.graph.get(sha).is_none() {
                    s.deploy.graph.add(sha, &[], "bob", &at);
                }
            }
            s.deploy
                .graph
                .add(merge_sha, &[TARGET_TIP, head.as_str()], "bob", &at);
        }
        let id = new_pipeline(&mut s, iid, merge_sha, PROJECT_ID);
        if let Some(p) = s.checks.pipelines.iter_mut().find(|p| p.id == id) {
            p.source_sha = Some(head);
        }
        id
    }

    /// Pipeline `id` runs on ref `git_ref`.
    pub fn set_pipeline_ref(&self, id: u64, git_ref: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(p) = s.checks.pipelines.iter_mut().find(|p| p.id == id) {
            p.git_ref = Some(git_ref.to_string());
        }
    }

    /// The statuses named `name` in effect on `sha` in fork `project`: (pipeline, state,
    /// author), newest first.
    pub fn fork_statuses_in_effect(
        &self,
        project: u64,
        sha: &str,
        name: &str,
    ) -> Vec<(u64, String, String)> {
        let s = self.state.lock().unwrap();
        latest_in(&s, project, sha, Some(name))
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

    /// `who` writes a status named `name` into fork `project`'s pipeline `pipeline` on `sha`.
    pub fn forge_fork_status(
        &self,
        (project, pipeline, sha): (u64, u64, &str),
        (name, state, description): (&str, &str, &str),
        who: &str,
    ) {
        let mut s = self.state.lock().unwrap();
        let body = json!({ "state": state, "name": name, "description": description, "pipeline_id": pipeline });
        post_status_in(&mut s, project, sha, &body, who);
    }
}
