//! GitHub's deployment endpoints on the fake GitHub, as GitHub's REST docs describe them: the
//! deployed branch as a line of commits (`compare` over it), commits' full SHAs, environments
//! with their custom protection rules, deployments with statuses created by a given account,
//! and the protection-rule callback (answers recorded for tests). Mounted before the fake's
//! own responder; it answers only the requests it knows.
#![allow(dead_code)]

use super::github_world::{GithubWorld, REPO};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use wiremock::{Match, Mock, Request, Respond, ResponseTemplate};

#[derive(Default)]
pub struct DeployState {
    /// The deployed branch, oldest commit first.
    pub line: Vec<String>,
    /// Environments: (name, changegate's rule enabled, admins can bypass).
    pub environments: Vec<(String, bool, bool)>,
    /// Deployments: (id, sha, environment, creator, created_at).
    pub deployments: Vec<(u64, String, String, String, String)>,
    /// Statuses: (deployment id, state, creator, at).
    pub statuses: Vec<(u64, String, String, String)>,
    /// Protection-rule answers: (run id, environment_name, state or none, comment).
    pub answers: Vec<(u64, String, Option<String>, String)>,
}

#[derive(Clone)]
pub struct DeployWorld(pub Arc<Mutex<DeployState>>);

fn user(login: &str) -> Value {
    let id = login.bytes().map(u64::from).sum::<u64>();
    json!({ "login": login, "id": id, "type": if login.ends_with("[bot]") { "Bot" } else { "User" } })
}

impl DeployWorld {
    pub async fn mount(gh: &GithubWorld) -> Self {
        let world = DeployWorld(Arc::default());
        Mock::given(Knows(world.clone()))
            .respond_with(Answers(world.clone()))
            .with_priority(1)
            .mount(&gh.server)
            .await;
        world
    }

    /// Commits added to the deployed branch, in order.
    pub fn commit(&self, sha: &str) {
        self.0.lock().unwrap().line.push(sha.to_string());
    }

    pub fn environment(&self, name: &str, changegate_rule: bool, admins_bypass: bool) {
        self.0
            .lock()
            .unwrap()
            .environments
            .push((name.into(), changegate_rule, admins_bypass));
    }

    /// A deployment created by `creator`, with a status `state` at `at` by the same account.
    pub fn deployment(&self, id: u64, sha: &str, env: &str, creator: &str, state: &str, at: &str) {
        let mut s = self.0.lock().unwrap();
        s.deployments
            .push((id, sha.into(), env.into(), creator.into(), at.into()));
        s.statuses
            .push((id, state.into(), creator.into(), at.into()));
    }

    pub fn answers(&self) -> Vec<(u64, String, Option<String>, String)> {
        self.0.lock().unwrap().answers.clone()
    }
}

/// The path below `/repos/acme/platypus/`, split.
fn rest(req: &Request) -> Option<Vec<String>> {
    let path = percent_encoding::percent_decode_str(req.url.path())
        .decode_utf8_lossy()
        .into_owned();
    let tail = path.strip_prefix(&format!("/repos/{REPO}/"))?;
    Some(tail.split('/').map(str::to_string).collect())
}

fn query(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

struct Knows(DeployWorld);

impl Match for Knows {
    fn matches(&self, req: &Request) -> bool {
        let Some(p) = rest(req) else {
            return false;
        };
        let s = self.0.0.lock().unwrap();
        let p: Vec<&str> = p.iter().map(String::as_str).collect();
        match (req.method.as_str(), p.as_slice()) {
            ("GET", ["commits", sha]) => {
                s.line.iter().any(|c| c.starts_with(sha)) || sha.len() == 40
            }
            ("GET", ["compare", _]) => true,
            ("GET", ["environments", ..]) => true,
            ("GET", ["deployments"]) | ("GET", ["deployments", ..]) => true,
            ("POST", ["actions", "runs", _, "deployment_protection_rule"]) => true,
            _ => false,
        }
    }
}

struct Answers(DeployWorld);

fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn not_found() -> ResponseTemplate {
    reply(404, json!({ "message": "Not Found" }))
}

impl Respond for Answers {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let p = rest(req).unwrap_or_default();
        let p: Vec<&str> = p.iter().map(String::as_str).collect();
        let mut s = self.0.0.lock().unwrap();
        match (req.method.as_str(), p.as_slice()) {
            ("GET", ["commits", sha]) => match s.line.iter().find(|c| c.starts_with(sha)) {
                Some(full) => reply(200, json!({ "sha": full, "commit": { "message": "x" } })),
                None => reply(
                    422,
                    json!({ "message": format!("No commit found for SHA: {sha}") }),
                ),
            },
            ("GET", ["compare", spec]) => {
                let Some((base, head)) = spec.split_once("...") else {
                    return not_found();
                };
                let at = |x: &str| s.line.iter().position(|c| c == x);
                let (Some(b), Some(h)) = (at(base), at(head)) else {
                    return not_found();
                };
                let (status, commits): (&str, Vec<Value>) = if h > b {
                    let list = s.line[b + 1..=h]
                        .iter()
                        .enumerate()
                        .map(|(i, c)| json!({ "sha": c, "parents": [{ "sha": s.line[b + i] }], "author": null, "committer": null }))
                        .collect();
                    ("ahead", list)
                } else if h < b {
                    ("behind", vec![])
                } else {
                    ("identical", vec![])
                };
                let n = commits.len();
                reply(
                    200,
                    json!({ "status": status, "ahead_by": n, "behind_by": b.saturating_sub(h), "total_commits": n, "commits": commits, "files": [] }),
                )
            }
            ("GET", ["environments", name]) => {
                match s
                    .environments
                    .iter()
                    .find(|e| e.0.eq_ignore_ascii_case(name))
                {
                    Some((n, _, bypass)) => reply(
                        200,
                        json!({ "id": 1, "name": n, "can_admins_bypass": bypass, "protection_rules": [] }),
                    ),
                    None => not_found(),
                }
            }
            ("GET", ["environments", name, "deployment_protection_rules"]) => {
                match s
                    .environments
                    .iter()
                    .find(|e| e.0.eq_ignore_ascii_case(name))
                {
                    Some((_, rule, _)) => {
                        let rules: Vec<Value> = if *rule {
                            vec![
                                json!({ "id": 3, "enabled": true, "app": { "id": 1, "slug": "changegate-bot" } }),
                            ]
                        } else {
                            vec![]
                        };
                        reply(
                            200,
                            json!({ "total_count": rules.len(), "custom_deployment_protection_rules": rules }),
                        )
                    }
                    None => not_found(),
                }
            }
            ("GET", ["deployments"]) => {
                let env = query(req, "environment").unwrap_or_default();
                let sha = query(req, "sha");
                let list: Vec<Value> = s
                    .deployments
                    .iter()
                    .rev()
                    .filter(|d| d.2.eq_ignore_ascii_case(&env))
                    .filter(|d| sha.as_ref().is_none_or(|x| *x == d.1))
                    .map(|d| json!({ "id": d.0, "sha": d.1, "ref": "main", "environment": d.2, "creator": user(&d.3), "created_at": d.4 }))
                    .collect();
                reply(200, json!(list))
            }
            ("GET", ["deployments", id, "statuses"]) => {
                let list: Vec<Value> = s
                    .statuses
                    .iter()
                    .filter(|x| x.0.to_string() == *id)
                    .enumerate()
                    .map(|(i, x)| json!({ "id": i + 1, "state": x.1, "creator": user(&x.2), "created_at": x.3, "updated_at": x.3 }))
                    .collect();
                reply(200, json!(list))
            }
            ("POST", ["actions", "runs", run, "deployment_protection_rule"]) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                s.answers.push((
                    run.parse().unwrap_or_default(),
                    body["environment_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    body["state"].as_str().map(str::to_string),
                    body["comment"].as_str().unwrap_or_default().to_string(),
                ));
                ResponseTemplate::new(204)
            }
            _ => not_found(),
        }
    }
}
