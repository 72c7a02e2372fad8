//! Deployment webhooks for tests: the bodies of `tests/fixtures` (real payloads, one built
//! from GitHub's schema; see its README) with chosen fields replaced, signed and sent
//! through the real router as GitHub and GitLab send them.
#![allow(dead_code)]

use super::{TestApp, corpus_dir};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// The fixture `name` (`github/deployment.created.1.json`…) as JSON.
pub fn fixture(name: &str) -> Value {
    let bytes = std::fs::read(corpus_dir().join(name)).expect("fixture");
    serde_json::from_slice(&bytes).expect("fixture is JSON")
}

/// `v` with the value at JSON pointer `at` (`/deployment/sha`) set to `to`; the parent
/// object must exist.
pub fn with(mut v: Value, at: &str, to: Value) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    let obj = v
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"));
    obj.insert(key.to_string(), to);
    v
}

/// `v` without the key at JSON pointer `at`.
pub fn without(mut v: Value, at: &str) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    if let Some(obj) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
        obj.remove(key);
    }
    v
}

/// The callback URL GitHub puts in a protection rule request for `run_id` of `repo`.
pub fn callback_url(repo: &str, run_id: u64) -> String {
    format!("https://api.github.com/repos/{repo}/actions/runs/{run_id}/deployment_protection_rule")
}

/// What a GitHub deployment webhook is about.
#[derive(Clone, Debug)]
pub struct GhDeploy<'a> {
    pub repo: &'a str,
    pub environment: &'a str,
    pub sha: &'a str,
    pub git_ref: &'a str,
    pub deployment_id: u64,
    /// Who created the deployment (`deployment.creator`).
    pub creator: &'a str,
    /// Who caused the event (`sender`).
    pub sender: &'a str,
    /// `repository.default_branch`.
    pub default_branch: &'a str,
}

impl Default for GhDeploy<'_> {
    fn default() -> Self {
        GhDeploy {
            repo: "acme/platypus",
            environment: "production",
            sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            git_ref: "main",
            deployment_id: 145988746,
            creator: "github-actions[bot]",
            sender: "octocat",
            default_branch: "main",
        }
    }
}

fn github_user(login: &str) -> Value {
    let id = login.bytes().map(u64::from).sum::<u64>();
    json!({ "login": login, "id": id, "type": "User" })
}

impl GhDeploy<'_> {
    fn fill(&self, mut v: Value) -> Value {
        let (owner, name) = self.repo.split_once('/').expect("owner/name");
        for (at, to) in [
            ("/repository/full_name", json!(self.repo)),
            ("/repository/name", json!(name)),
            ("/repository/owner/login", json!(owner)),
            ("/repository/default_branch", json!(self.default_branch)),
            ("/deployment/id", json!(self.deployment_id)),
            ("/deployment/sha", json!(self.sha)),
            ("/deployment/ref", json!(self.git_ref)),
            ("/deployment/environment", json!(self.environment)),
            ("/deployment/creator", github_user(self.creator)),
            ("/sender", github_user(self.sender)),
        ] {
            v = with(v, at, to);
        }
        v
    }

    /// A `deployment_protection_rule` `requested` body for workflow run `run_id`.
    pub fn protection_request(&self, run_id: u64, pull_requests: &[u64]) -> Value {
        let base = fixture("github/deployment_protection_rule.requested.1.json");
        let prs: Vec<Value> = pull_requests
            .iter()
            .map(|n| {
                let mut pr = base["pull_requests"][0].clone();
                pr["number"] = json!(n);
                pr
            })
            .collect();
        let v = with(self.fill(base), "/environment", json!(self.environment));
        let v = with(
            v,
            "/deployment_callback_url",
            json!(callback_url(self.repo, run_id)),
        );
        with(v, "/pull_requests", json!(prs))
    }

    /// A `deployment` `created` body.
    pub fn created(&self) -> Value {
        self.fill(fixture("github/deployment.created.1.json"))
    }

    /// A `deployment_status` `created` body: `state` written by `status_creator` at `at`.
    pub fn status(&self, state: &str, status_creator: &str, at: &str) -> Value {
        let v = self.fill(fixture("github/deployment_status.created.4.json"));
        let mut v = with(v, "/deployment_status/state", json!(state));
        for (k, to) in [
            ("environment", json!(self.environment)),
            ("creator", github_user(status_creator)),
            ("created_at", json!(at)),
            ("updated_at", json!(at)),
        ] {
            v = with(v, &format!("/deployment_status/{k}"), to);
        }
        v
    }
}

/// What a GitLab Deployment Hook is about.
#[derive(Clone, Debug)]
pub struct GlDeploy<'a> {
    pub project: &'a str,
    pub project_id: u64,
    pub environment: &'a str,
    pub sha: &'a str,
    pub git_ref: &'a str,
    pub deployment_id: u64,
    /// The job; `None`: an API-created deployment without one.
    pub deployable_id: Option<u64>,
    /// The hook's `user`.
    pub user: &'a str,
    pub user_id: u64,
}

impl Default for GlDeploy<'_> {
    fn default() -> Self {
        GlDeploy {
            project: "acme/platypus",
            project_id: 42,
            environment: "production",
            sha: "2166d75e44d9b13be5d7fc739fd40e7ba8a8eece",
            git_ref: "main",
            deployment_id: 1503204389,
            deployable_id: Some(15663409982),
            user: "pritesh",
            user_id: 32548944,
        }
    }
}

impl GlDeploy<'_> {
    /// A Deployment Hook body with `status` at `status_changed_at` (either form GitLab
    /// writes), from the blocked capture.
    pub fn hook(&self, status: &str, status_changed_at: &str) -> Value {
        let mut v = fixture("gitlab/deployment.blocked.1.json");
        let web = format!("https://gitlab.example.com/{}", self.project);
        for (at, to) in [
            ("/status", json!(status)),
            ("/status_changed_at", json!(status_changed_at)),
            ("/deployment_id", json!(self.deployment_id)),
            ("/deployable_id", json!(self.deployable_id)),
            (
                "/deployable_url",
                match self.deployable_id {
                    Some(id) => json!(format!("{web}/-/jobs/{id}")),
                    None => Value::Null,
                },
            ),
            ("/environment", json!(self.environment)),
            ("/project/id", json!(self.project_id)),
            ("/project/path_with_namespace", json!(self.project)),
            ("/project/web_url", json!(web)),
            ("/short_sha", json!(&self.sha[..8])),
            ("/commit_url", json!(format!("{web}/-/commit/{}", self.sha))),
            ("/ref", json!(self.git_ref)),
            ("/user/id", json!(self.user_id)),
            ("/user/username", json!(self.user)),
            ("/user/name", json!(self.user)),
        ] {
            v = with(v, at, to);
        }
        v
    }
}

impl TestApp {
    /// Sends a signed GitHub deployment webhook (`event`: `deployment_protection_rule`,
    /// `deployment`, `deployment_status`).
    pub async fn github_json(
        &self,
        event: &str,
        delivery: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        self.github(event, delivery, body.to_string().as_bytes())
            .await
    }

    /// Sends a GitLab Deployment Hook with the test token.
    pub async fn gitlab_deployment(&self, delivery: &str, body: &Value) -> (StatusCode, Value) {
        self.gitlab("Deployment Hook", delivery, body.to_string().as_bytes())
            .await
    }
}
