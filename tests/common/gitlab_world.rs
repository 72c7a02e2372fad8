//! A fake GitLab (REST API v4) on wiremock that keeps state: project `acme/platypus` (id 42),
//! its merge requests and issues, resource label events, approvals, group members, notes and
//! commit statuses. Scoped labels behave as on GitLab: adding `Scope::Value` removes the
//! other values of the scope. Every call is recorded.
#![allow(dead_code)]

mod deploy_helpers;
mod deployments;
pub mod labels;

#[allow(unused_imports)]
pub use deployments::{GlApproval, GlDeployment, GlEnvironment};

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

pub const BOT: &str = "changegate-bot";
pub const PROJECT: &str = "acme/platypus";
pub const PROJECT_ID: u64 = 42;

pub fn user_id(name: &str) -> u64 {
    name.bytes().map(u64::from).sum::<u64>()
}

pub(super) fn user(name: &str) -> Value {
    json!({ "id": user_id(name), "username": name, "name": name, "state": "active" })
}

#[derive(Clone, Debug)]
pub struct GlChange {
    pub iid: u64,
    pub is_mr: bool,
    pub author: String,
    pub labels: Vec<String>,
    pub sha: String,
    /// Diff versions, oldest first: (head sha, created_at), as GitLab records pushes.
    pub versions: Vec<(String, String)>,
    /// Where GitLab says the project lives (`references.full`), normally `PROJECT`.
    pub project_path: String,
    /// The commits' (author, committer) usernames; their e-mails are `name@example.com`.
    pub commits: Vec<(String, String)>,
    /// Set when merged (RFC 3339).
    pub merged_at: Option<String>,
    /// The files the merge request touches: (new path, old path).
    pub files: Vec<(String, String)>,
    pub description: String,
    /// The target branch (`main` unless retargeted).
    pub target: String,
    /// The usernames it is assigned to.
    pub assignees: Vec<String>,
    /// Closed (not merged).
    pub closed: bool,
    /// Notes people wrote on it (GitLab moves `updated_at` for each).
    pub notes_written: usize,
}

#[derive(Default)]
pub struct GlState {
    pub changes: Vec<GlChange>,
    pub label_events: Vec<(u64, Value)>,
    /// (iid, username, approved_at)
    pub approvals: Vec<(u64, String, String)>,
    /// (group full path, username, member json: access_level, state, expires_at…)
    pub members: Vec<(String, String, Value)>,
    /// (id, iid, body, author)
    pub notes: Vec<(u64, u64, String, String)>,
    /// People's notes' other fields, by id (created_at, updated_at, system).
    pub note_meta: Vec<(u64, Value)>,
    /// Award emoji the bot gave: (note id, name).
    pub awards: Vec<(u64, String)>,
    pub statuses: Vec<(String, Value)>,
    pub calls: Vec<String>,
    pub failures: VecDeque<(String, ResponseTemplate)>,
    /// A real repository behind the compare API (`attach_repo`), and its misbehaviours.
    pub compares: super::compare_world::Compares,
    /// Files on the default branch, by path.
    pub files: Vec<(String, String)>,
    /// The project's labels: (id, current name). Label events refer to a label by id and show
    /// its current name, as GitLab's resource label events do.
    pub project_labels: Vec<(u64, String)>,
    /// Their colours and descriptions, and the parent groups' labels (`labels.rs`).
    pub label_looks: labels::Looks,
    /// Merge settings, pipelines and external status checks (`gitlab_checks.rs`).
    pub checks: super::gitlab_checks::Checks,
    clock: i64,
    /// The time of the fake's first event, in seconds (2026-01-01 unless moved).
    epoch: i64,
    /// Commits, environments, deployments (see `gitlab_world/deployments.rs`).
    pub deploy: deployments::GlDeployState,
}

impl GlState {
    pub(super) fn tick(&mut self) -> String {
        self.clock += 1;
        let epoch = if self.epoch == 0 {
            1_767_225_600
        } else {
            self.epoch
        };
        chrono::DateTime::from_timestamp(epoch + self.clock * 60, 0)
            .unwrap()
            .to_rfc3339()
    }

    fn change(&mut self, iid: u64, mr: bool) -> Option<&mut GlChange> {
        self.changes
            .iter_mut()
            .find(|c| c.iid == iid && c.is_mr == mr)
    }

    /// Adds a label as GitLab does, removing the scope's other values.
    fn apply_label(&mut self, iid: u64, mr: bool, label: &str, actor: &str) {
        let scope = label.rfind("::").map(|i| label[..i].to_string());
        let Some(c) = self.change(iid, mr) else {
            return;
        };
        if c.labels.iter().any(|l| l == label) {
            return;
        }
        let displaced: Vec<String> = c
            .labels
            .iter()
            .filter(|l| scope.is_some() && l.rfind("::").map(|i| l[..i].to_string()) == scope)
            .cloned()
            .collect();
        c.labels.retain(|l| !displaced.contains(l));
        c.labels.push(label.into());
        for d in displaced {
            self.event(iid, &d, false, actor);
        }
        self.event(iid, label, true, actor);
    }

    fn remove_label(&mut self, iid: u64, mr: bool, label: &str, actor: &str) {
        let Some(c) = self.change(iid, mr) else {
            return;
        };
        if c.labels.iter().any(|l| l == label) {
            c.labels.retain(|l| l != label);
            self.event(iid, label, false, actor);
        }
    }

    /// The id of the project label named `name`, created when there is none.
    fn label_id(&mut self, name: &str) -> u64 {
        if let Some((id, _)) = self.project_labels.iter().find(|(_, n)| n == name) {
            return *id;
        }
        let id = 100 + self.project_labels.len() as u64;
        self.project_labels.push((id, name.into()));
        id
    }

    fn event(&mut self, iid: u64, label: &str, added: bool, actor: &str) {
        let at = self.tick();
        let action = if added { "add" } else { "remove" };
        let id = self.label_events.len() + 1;
        let label_id = self.label_id(label);
        self.label_events.push((
            iid,
            json!({ "id": id, "user": user(actor), "created_at": at, "resource_type": "MergeRequest", "resource_id": iid,
                    "label": { "id": label_id, "name": label, "color": "#428BCA", "description": null }, "action": action }),
        ));
    }

    /// Renames a project label as `PUT /projects/:id/labels/:label_id` with `new_name` does:
    /// every merge request and issue carrying it shows the new name, and so do its events.
    fn rename_label(&mut self, id: u64, new_name: &str) -> Option<Value> {
        let old = self
            .project_labels
            .iter()
            .find(|(i, _)| *i == id)?
            .1
            .clone();
        if self.project_labels.iter().any(|(_, n)| n == new_name) {
            return Some(json!({ "message": "Title has already been taken" }));
        }
        for (i, n) in self.project_labels.iter_mut() {
            if *i == id {
                *n = new_name.into();
            }
        }
        for c in self.changes.iter_mut() {
            for l in c.labels.iter_mut().filter(|l| **l == old) {
                *l = new_name.into();
            }
        }
        None
    }
}

pub struct GitlabWorld {
    pub server: MockServer,
    pub state: Arc<Mutex<GlState>>,
}

struct Responder(Arc<Mutex<GlState>>);

impl GitlabWorld {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state: Arc<Mutex<GlState>> = Arc::default();
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        GitlabWorld { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Events from now on happen a minute apart from `at` (RFC 3339).
    pub fn set_time(&self, at: &str) {
        let mut s = self.state.lock().unwrap();
        s.epoch = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp();
        s.clock = 0;
    }

    /// The files merge request `iid` touches (a path `new<-old` is a rename).
    pub fn set_files(&self, iid: u64, paths: &[&str]) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(iid, true) {
            c.files = paths
                .iter()
                .map(|p| match p.split_once("<-") {
                    Some((new, old)) => (new.to_string(), old.to_string()),
                    None => (p.to_string(), p.to_string()),
                })
                .collect();
        }
    }

    /// Sets the merge request's description.
    pub fn set_description(&self, iid: u64, text: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(iid, true) {
            c.description = text.into();
        }
    }

    /// Merges the merge request at `at` (RFC 3339).
    pub fn merge(&self, iid: u64, at: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(iid, true) {
            c.merged_at = Some(at.into());
        }
    }

    /// A maintainer deletes the project label `name` (`DELETE /projects/:id/labels/:label_id`):
    /// GitLab takes it off every issue and merge request without a label event, and the
    /// resource label events that named it keep their time and user but show `label: null`.
    pub fn delete_label(&self, name: &str) {
        let mut s = self.state.lock().unwrap();
        for c in s.changes.iter_mut() {
            c.labels.retain(|l| l != name);
        }
        for (_, e) in s.label_events.iter_mut() {
            if e["label"]["name"] == name {
                e["label"] = Value::Null;
            }
        }
    }

    /// `actor` removes `label` from issue `iid`.
    pub fn remove_issue_label(&self, iid: u64, label: &str, actor: &str) {
        self.state
            .lock()
            .unwrap()
            .remove_label(iid, false, label, actor);
    }

    /// `actor` removes `label` from the merge request.
    pub fn remove_label(&self, iid: u64, label: &str, actor: &str) {
        self.state
            .lock()
            .unwrap()
            .remove_label(iid, true, label, actor);
    }

    pub fn open_mr(&self, iid: u64, author: &str, sha: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.changes.push(GlChange {
            iid,
            is_mr: true,
            author: author.into(),
            labels: vec![],
            sha: sha.into(),
            versions: vec![(sha.into(), at)],
            project_path: PROJECT.into(),
            commits: vec![(author.into(), author.into())],
            merged_at: None,
            files: vec![("src/app.rs".into(), "src/app.rs".into())],
            description: String::new(),
            target: "main".into(),
            assignees: vec![],
            closed: false,
            notes_written: 0,
        });
    }

    pub fn open_issue(&self, iid: u64, author: &str) {
        self.state.lock().unwrap().changes.push(GlChange {
            iid,
            is_mr: false,
            author: author.into(),
            labels: vec![],
            sha: String::new(),
            versions: vec![],
            project_path: PROJECT.into(),
            commits: vec![],
            merged_at: None,
            files: vec![],
            description: String::new(),
            target: String::new(),
            assignees: vec![],
            closed: false,
            notes_written: 0,
        });
    }

    /// `who` pushes a commit they authored: the head moves, GitLab records a diff version.
    pub fn push_commit_by(&self, iid: u64, sha: &str, who: &str) {
        self.push(iid, sha);
        let mut s = self.state.lock().unwrap();
        s.change(iid, true)
            .unwrap()
            .commits
            .push((who.into(), who.into()));
    }

    /// Assigns issue `iid` to `username`.
    pub fn assign_issue(&self, iid: u64, username: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(iid, false) {
            c.assignees.push(username.into());
        }
    }

    /// Closes issue `iid`.
    pub fn close_issue(&self, iid: u64) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(iid, false) {
            c.closed = true;
        }
    }

    /// The id of the project label named `name` (created on first use).
    pub fn label_id(&self, name: &str) -> u64 {
        self.state.lock().unwrap().label_id(name)
    }

    /// Points the merge request at another target branch (GitLab records no event for it).
    pub fn retarget(&self, iid: u64, target: &str) {
        let mut s = self.state.lock().unwrap();
        s.change(iid, true).unwrap().target = target.into();
    }

    /// New commits: the head moves and GitLab records a diff version at the next tick.
    pub fn push(&self, iid: u64, sha: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let c = s.change(iid, true).unwrap();
        c.sha = sha.into();
        c.versions.push((sha.into(), at));
    }

    pub fn add_label(&self, iid: u64, label: &str, actor: &str) {
        self.state
            .lock()
            .unwrap()
            .apply_label(iid, true, label, actor);
    }

    pub fn add_issue_label(&self, iid: u64, label: &str, actor: &str) {
        self.state
            .lock()
            .unwrap()
            .apply_label(iid, false, label, actor);
    }

    /// GitLab's `merge_request.update` example moved to acme/platypus!3 by alice (head `sha`)
    /// as it is now on the fake, sent by `actor` with `action` (`update`, `merge`…).
    pub fn mr_hook(&self, sha: &str, action: &str, actor: &str) -> Vec<u8> {
        let path = super::corpus_dir().join("gitlab/merge_request.update.1.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let labels: Vec<Value> = self
            .labels(3)
            .iter()
            .map(|l| json!({ "id": 1, "title": l }))
            .collect();
        let merged = self
            .state
            .lock()
            .unwrap()
            .change(3, true)
            .is_some_and(|c| c.merged_at.is_some());
        v["user"] = json!({ "id": user_id(actor), "username": actor, "name": actor });
        v["project"]["id"] = json!(PROJECT_ID);
        v["project"]["path_with_namespace"] = json!(PROJECT);
        let oa = &mut v["object_attributes"];
        oa["iid"] = json!(3);
        oa["action"] = json!(action);
        oa["state"] = json!(if merged { "merged" } else { "opened" });
        oa["author_id"] = json!(user_id("alice"));
        oa["last_commit"]["id"] = json!(sha);
        oa["labels"] = json!(labels);
        v["labels"] = json!(labels);
        serde_json::to_vec(&v).unwrap()
    }

    /// The `target_url` of the last status posted for `sha`.
    pub fn status_link(&self, sha: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .rev()
            .find(|(h, _)| h == sha)
            .and_then(|(_, v)| v["target_url"].as_str().map(str::to_string))
    }

    /// `who` approves the merge request now (GitLab records `approved_at`).
    pub fn approve(&self, iid: u64, who: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.approvals.push((iid, who.into(), at));
    }

    /// Puts a real repository behind the compare API: merge request heads and target
    /// branches are then its commits and branches.
    pub fn attach_repo(&self, repo: std::sync::Arc<super::git_repo::GitRepo>) {
        self.state.lock().unwrap().compares.repo = Some(repo);
    }

    /// A direct, active Developer of `group`.
    pub fn member(&self, group: &str, username: &str) {
        self.member_as(group, username, json!({ "access_level": 30, "state": "active", "membership_state": "active", "expires_at": null }));
    }

    /// A direct member of `group` with the given member fields.
    pub fn member_as(&self, group: &str, username: &str, fields: Value) {
        self.state
            .lock()
            .unwrap()
            .members
            .push((group.into(), username.into(), fields));
    }

    /// The next call starting with `prefix` (ending in `$`: exactly that call) answers
    /// `response`; queue it again for each retry.
    pub fn fail_next(&self, prefix: &str, response: ResponseTemplate) {
        self.state
            .lock()
            .unwrap()
            .failures
            .push_back((prefix.into(), response));
    }

    pub fn labels(&self, iid: u64) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.changes
            .iter()
            .find(|c| c.iid == iid && c.is_mr)
            .map(|c| c.labels.clone())
            .unwrap_or_default()
    }

    pub fn issue_labels(&self, iid: u64) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.changes
            .iter()
            .find(|c| c.iid == iid && !c.is_mr)
            .map(|c| c.labels.clone())
            .unwrap_or_default()
    }

    pub fn notes(&self, iid: u64) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .notes
            .iter()
            .filter(|n| n.1 == iid)
            .map(|n| n.2.clone())
            .collect()
    }

    pub fn status(&self, sha: &str) -> Option<(String, String, String)> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .rev()
            .find(|(h, _)| h == sha)
            .map(|(_, v)| {
                let f = |k: &str| v[k].as_str().unwrap_or("").to_string();
                (f("state"), f("name"), f("description"))
            })
    }

    /// The last status posted for `sha` under `name`: (state, description).
    pub fn status_named(&self, sha: &str, name: &str) -> Option<(String, String)> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .rev()
            .find(|(h, v)| h == sha && v["name"] == name)
            .map(|(_, v)| {
                let f = |k: &str| v[k].as_str().unwrap_or("").to_string();
                (f("state"), f("description"))
            })
    }

    /// The `Merge Request Hook` of merge request `iid` as it is now on the fake (head, target,
    /// labels, author), sent by `actor` with `action`; `oldrev` for a push.
    pub fn hook_of(&self, iid: u64, action: &str, actor: &str, oldrev: Option<&str>) -> Vec<u8> {
        let c = self
            .state
            .lock()
            .unwrap()
            .change(iid, true)
            .cloned()
            .expect("the merge request exists on the fake");
        let path = super::corpus_dir().join("gitlab/merge_request.update.1.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let labels: Vec<Value> = c
            .labels
            .iter()
            .map(|l| json!({ "id": 1, "title": l }))
            .collect();
        v["user"] = json!({ "id": user_id(actor), "username": actor, "name": actor });
        v["project"]["id"] = json!(PROJECT_ID);
        v["project"]["path_with_namespace"] = json!(PROJECT);
        let oa = &mut v["object_attributes"];
        oa["iid"] = json!(iid);
        oa["action"] = json!(action);
        oa["state"] = json!(if c.merged_at.is_some() {
            "merged"
        } else {
            "opened"
        });
        oa["author_id"] = json!(user_id(&c.author));
        oa["last_commit"]["id"] = json!(c.sha);
        oa["target_branch"] = json!(c.target);
        oa["labels"] = json!(labels);
        if let Some(old) = oldrev {
            oa["oldrev"] = json!(old);
        }
        v["labels"] = json!(labels);
        serde_json::to_vec(&v).unwrap()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("GET "))
            .collect()
    }
}

pub(super) fn reply(status: u16, v: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(v)
}

pub(super) fn not_found() -> ResponseTemplate {
    reply(404, json!({ "message": "404 Not found" }))
}

fn change_json(c: &GlChange) -> Value {
    let mut v = json!({
        "id": 900 + c.iid, "iid": c.iid, "project_id": PROJECT_ID, "title": "Change", "description": c.description,
        "state": if c.merged_at.is_some() { "merged" } else if c.closed { "closed" } else { "opened" }, "merged_at": c.merged_at,
        "assignees": c.assignees.iter().map(|a| user(a)).collect::<Vec<_>>(), "author": user(&c.author), "labels": c.labels, "updated_at": format!("2026-01-01T00:00:{:02}Z", c.labels.len() + c.notes_written),
        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/merge_requests/{}", c.iid),
        "references": { "short": format!("!{}", c.iid), "full": format!("{}{}{}", c.project_path, if c.is_mr { "!" } else { "#" }, c.iid) },
    });
    if c.is_mr {
        v["sha"] = json!(c.sha);
        v["source_branch"] = json!("feature");
        v["target_branch"] = json!(c.target);
        v["draft"] = json!(false);
        v["work_in_progress"] = json!(false);
    }
    v
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let parts: Vec<String> = req
            .url
            .path()
            .trim_start_matches('/')
            .split('/')
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let method = req.method.as_str().to_string();
        let call = format!("{method} /{}", parts.join("/"));
        s.calls.push(call.clone());
        if let Some(i) = s
            .failures
            .iter()
            .position(|(p, _)| match p.strip_suffix('$') {
                // `…$`: that call exactly, not every call under it.
                Some(exact) => call == exact,
                None => call.starts_with(p.as_str()),
            })
        {
            return s.failures.remove(i).map(|(_, r)| r).unwrap();
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let p: Vec<&str> = parts.iter().map(String::as_str).collect();
        let Some(rest) = p.strip_prefix(&["api", "v4"]) else {
            return not_found();
        };
        match (method.as_str(), rest) {
            ("GET", ["user"]) => reply(200, user(BOT)),
            ("GET", ["users"]) => {
                let param = |name: &str| {
                    req.url
                        .query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                };
                // `search` matches a public e-mail exactly (every fake user shows one).
                if let Some(q) = param("search") {
                    return match q.strip_suffix("@example.com") {
                        Some(name) => reply(200, json!([user(name)])),
                        None => reply(200, json!([])),
                    };
                }
                reply(200, json!([user(&param("username").unwrap_or_default())]))
            }
            // Direct members only, as GitLab documents `members/:user_id`; `members/all` adds
            // those inherited from ancestor groups.
            ("GET", ["groups", group, "members", rest @ ..]) => {
                let (inherited, id) = match rest {
                    [id] => (false, *id),
                    ["all", id] => (true, *id),
                    _ => return not_found(),
                };
                let found = s.members.iter().find(|(g, u, _)| {
                    (group == g || (inherited && group.starts_with(&format!("{g}/"))))
                        && user_id(u).to_string() == id
                });
                match found {
                    Some((_, u, fields)) => {
                        let mut m = user(u);
                        for (k, v) in fields.as_object().unwrap() {
                            m[k] = v.clone();
                        }
                        reply(200, m)
                    }
                    None => not_found(),
                }
            }
            ("GET", ["projects", project])
                if *project == PROJECT_ID.to_string() || *project == PROJECT =>
            {
                reply(
                    200,
                    super::gitlab_checks::project_json(
                        &s,
                        json!({ "id": PROJECT_ID, "path_with_namespace": PROJECT, "default_branch": "main" }),
                    ),
                )
            }
            (_, ["projects", project, tail @ ..])
                if *project == PROJECT_ID.to_string() || *project == PROJECT =>
            {
                let query: Vec<(String, String)> = req
                    .url
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                route_project(&mut s, &method, tail, &body, &query)
            }
            // Another project (a fork a merge request comes from).
            (_, ["projects", project, tail @ ..]) => {
                let query: Vec<(String, String)> = req
                    .url
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                super::gitlab_pipelines::other_project(
                    &mut s, &method, project, tail, &body, &query,
                )
                .unwrap_or_else(not_found)
            }
            _ => not_found(),
        }
    }
}

fn route_project(
    s: &mut GlState,
    method: &str,
    tail: &[&str],
    body: &Value,
    query: &[(String, String)],
) -> ResponseTemplate {
    if let Some(r) = super::gitlab_checks::route(s, method, tail, body, query) {
        return r;
    }
    if let Some(reply) = deployments::route(s, method, tail, body, query) {
        return reply;
    }
    if let Some(reply) = labels::route(s, method, tail, body, query) {
        return reply;
    }
    let num = |x: &str| x.parse::<u64>().unwrap_or(0);
    match (method, tail) {
        ("GET", ["repository", "compare"]) => {
            super::compare_world::gitlab(&mut s.compares, query).unwrap_or_else(not_found)
        }
        ("GET", ["repository", "files", path]) => match s.files.iter().find(|(p, _)| p == path) {
            Some((_, text)) => {
                use base64::Engine;
                let content = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                reply(
                    200,
                    json!({ "file_name": path, "file_path": path, "encoding": "base64", "content": content, "ref": "main", "blob_id": format!("{:040x}", text.len()) }),
                )
            }
            None => reply(404, json!({ "message": "404 File Not Found" })),
        },
        ("GET", ["repository", "commits", sha, "statuses"]) => {
            // Newest first, the latest of each name (GitLab's default without `all`).
            let name = query
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.clone());
            let mut seen: Vec<String> = vec![];
            let mut list: Vec<Value> = vec![];
            for (i, (_, v)) in s
                .statuses
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, (h, _))| h == sha)
            {
                let n = v["name"].as_str().unwrap_or("default").to_string();
                if seen.contains(&n) || name.as_ref().is_some_and(|w| *w != n) {
                    continue;
                }
                seen.push(n.clone());
                list.push(json!({ "id": i + 1, "sha": sha, "ref": "feature", "status": v["state"], "name": n, "description": v["description"], "allow_failure": false }));
            }
            reply(200, json!(list))
        }
        // The merge requests related to a commit, as GitLab lists them: merged ones too (here:
        // those whose head it is).
        ("GET", ["repository", "commits", sha, "merge_requests"]) => {
            let list: Vec<Value> = s
                .changes
                .iter()
                .filter(|c| c.is_mr && c.sha == *sha)
                .map(change_json)
                .collect();
            reply(200, json!(list))
        }
        // GitLab documents `label_id` as the label's id or title.
        ("PUT", ["labels", label]) => {
            let id = label.parse::<u64>().ok().or_else(|| {
                s.project_labels
                    .iter()
                    .find(|(_, n)| n == label)
                    .map(|(i, _)| *i)
            });
            let Some(new_name) = body["new_name"].as_str() else {
                return reply(
                    400,
                    json!({ "error": "new_name, color, description, priority are missing, at least one parameter must be provided" }),
                );
            };
            match id.map(|id| (id, s.rename_label(id, new_name))) {
                None => reply(404, json!({ "message": "404 Label Not Found" })),
                Some((_, Some(conflict))) => reply(409, conflict),
                Some((id, None)) => reply(
                    200,
                    json!({ "id": id, "name": new_name, "color": "#428BCA", "description": null }),
                ),
            }
        }
        ("POST", ["statuses", sha]) => {
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
            s.statuses.push((sha.to_string(), body.clone()));
            reply(
                201,
                json!({ "id": s.statuses.len(), "sha": sha, "status": state, "name": body["name"] }),
            )
        }
        ("GET", [kind @ ("merge_requests" | "issues")]) => {
            let mr = *kind == "merge_requests";
            let list: Vec<Value> = s
                .changes
                .iter()
                .filter(|c| c.is_mr == mr)
                .map(change_json)
                .filter(|v| in_state(v, query))
                .collect();
            reply(200, json!(list))
        }
        (_, [kind @ ("merge_requests" | "issues"), iid, rest @ ..]) => {
            let mr = *kind == "merge_requests";
            let iid = num(iid);
            if s.change(iid, mr).is_none() {
                return not_found();
            }
            route_change(s, method, iid, mr, rest, body)
        }
        _ => not_found(),
    }
}

/// Whether a listing's `state` parameter (`opened`, `closed`, `merged`…; all when absent, as
/// GitLab documents it) takes the change.
fn in_state(v: &Value, query: &[(String, String)]) -> bool {
    match query.iter().find(|(k, _)| k == "state") {
        Some((_, wanted)) => wanted == "all" || v["state"].as_str() == Some(wanted.as_str()),
        None => true,
    }
}

fn route_change(
    s: &mut GlState,
    method: &str,
    iid: u64,
    mr: bool,
    rest: &[&str],
    body: &Value,
) -> ResponseTemplate {
    if let Some(r) = super::gitlab_comments::route(s, method, iid, rest, body) {
        return r;
    }
    match (method, rest) {
        ("GET", []) => {
            if mr && let Some(n) = s.checks.mr_reads_before_refusal {
                s.checks.mr_reads_before_refusal = n.checked_sub(1);
                if n == 0 {
                    return reply(403, json!({ "message": "403 Forbidden" }));
                }
            }
            let mut v = change_json(s.change(iid, mr).unwrap());
            // With a repository attached, the merge request's latest diff version: its head,
            // the target's tip and their merge base, as GitLab gives `diff_refs`.
            if let (Some(repo), true) = (&s.compares.repo, mr) {
                let (head, target) = (
                    v["sha"].as_str().unwrap_or("").to_string(),
                    v["target_branch"].as_str().unwrap_or("main").to_string(),
                );
                let start = repo.sha(&target);
                v["diff_refs"] = json!({ "base_sha": repo.merge_base(&start, &head), "head_sha": head, "start_sha": start });
            }
            if mr {
                // The pipeline "Pipelines must succeed" reads, and where the change comes from.
                if !s.checks.pipelines_unnamed && !s.checks.head_pipeline_absent {
                    v["head_pipeline"] = super::gitlab_pipelines::head_pipeline(s, iid);
                }
                let (source, target) = super::gitlab_pipelines::mr_projects(s, iid);
                v["source_project_id"] = json!(source);
                v["target_project_id"] = json!(target);
            }
            // As GitLab counts them: the notes people (and the bot) wrote, not system notes.
            v["user_notes_count"] = json!(s.notes.iter().filter(|n| n.1 == iid).count());
            reply(200, v)
        }
        ("PUT", []) => {
            let split = |k: &str| -> Vec<String> {
                body[k]
                    .as_str()
                    .map(|v| {
                        v.split(',')
                            .map(|x| x.trim().to_string())
                            .filter(|x| !x.is_empty())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for l in split("remove_labels") {
                s.remove_label(iid, mr, &l, BOT);
            }
            for l in split("add_labels") {
                s.apply_label(iid, mr, &l, BOT);
            }
            reply(200, change_json(s.change(iid, mr).unwrap()))
        }
        ("GET", ["resource_label_events"]) => {
            let list: Vec<Value> = s
                .label_events
                .iter()
                .filter(|(k, _)| *k == iid)
                .map(|(_, v)| {
                    // The label as it is now: its current name.
                    let mut v = v.clone();
                    let id = v["label"]["id"].as_u64();
                    if let Some((_, name)) = s.project_labels.iter().find(|(i, _)| Some(*i) == id) {
                        v["label"]["name"] = json!(name);
                    }
                    v
                })
                .collect();
            reply(200, json!(list))
        }
        ("POST", ["approve"]) => {
            if s.approvals.iter().any(|(k, u, _)| *k == iid && u == BOT) {
                return reply(401, json!({ "message": "401 Unauthorized" }));
            }
            let at = s.tick();
            s.approvals.push((iid, BOT.into(), at));
            reply(201, json!({ "iid": iid, "approved": true }))
        }
        ("POST", ["unapprove"]) => {
            let before = s.approvals.len();
            s.approvals.retain(|(k, u, _)| !(*k == iid && u == BOT));
            if s.approvals.len() == before {
                return not_found();
            }
            reply(201, json!({ "iid": iid, "approved": false }))
        }
        ("GET", ["approvals"]) => {
            let by: Vec<Value> = s
                .approvals
                .iter()
                .filter(|(k, _, _)| *k == iid)
                .map(|(_, u, at)| json!({ "user": user(u), "approved_at": at }))
                .collect();
            reply(
                200,
                json!({ "id": 900 + iid, "iid": iid, "approved": !by.is_empty(), "approved_by": by }),
            )
        }
        ("GET", ["commits"]) => {
            let c = s.change(iid, mr).unwrap();
            let list: Vec<Value> = c
                .commits
                .iter()
                .enumerate()
                .map(|(i, (a, m))| json!({ "id": format!("{i:040x}"), "short_id": format!("{i:08x}"), "title": "work", "author_name": a, "author_email": format!("{a}@example.com"), "committer_name": m, "committer_email": format!("{m}@example.com") }))
                .collect();
            reply(200, json!(list))
        }
        ("GET", ["diffs"]) => {
            let c = s.change(iid, mr).unwrap();
            let list: Vec<Value> = c
                .files
                .iter()
                .map(|(new, old)| json!({ "old_path": old, "new_path": new, "a_mode": "100644", "b_mode": "100644", "diff": "@@ -1 +1 @@\n-a\n+b\n", "new_file": false, "renamed_file": new != old, "deleted_file": false, "generated_file": false }))
                .collect();
            reply(200, json!(list))
        }
        ("GET", ["versions"]) => {
            let c = s.change(iid, mr).unwrap();
            let list: Vec<Value> = c
                .versions
                .iter()
                .enumerate()
                .rev()
                .map(|(i, (sha, at))| json!({ "id": i + 1, "head_commit_sha": sha, "base_commit_sha": "0000000000000000000000000000000000000000", "start_commit_sha": "0000000000000000000000000000000000000000", "created_at": at, "merge_request_id": 900 + iid, "state": "collected", "real_size": "1" }))
                .collect();
            reply(200, json!(list))
        }
        ("GET", ["notes"]) => {
            let list: Vec<Value> = s
                .notes
                .iter()
                .filter(|n| n.1 == iid)
                .map(|n| super::gitlab_comments::note_json(s, n))
                .collect();
            reply(200, json!(list))
        }
        ("POST", ["notes"]) => {
            let Some(text) = body["body"].as_str() else {
                return reply(400, json!({ "error": "body is missing" }));
            };
            let id = 5000 + s.notes.len() as u64;
            s.notes.push((id, iid, text.into(), BOT.into()));
            reply(
                201,
                json!({ "id": id, "body": text, "author": user(BOT), "system": false }),
            )
        }
        ("PUT", ["notes", id]) => {
            let Some(text) = body["body"].as_str() else {
                return reply(400, json!({ "error": "body is missing" }));
            };
            let id: u64 = id.parse().unwrap_or(0);
            match s.notes.iter_mut().find(|n| n.0 == id) {
                Some(n) => {
                    n.2 = text.into();
                    reply(200, json!({ "id": id, "body": text }))
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}
