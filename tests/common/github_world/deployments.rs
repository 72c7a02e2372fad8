//! The fake GitHub's deployments (issue 23): a commit graph with compare and commit lookup,
//! the pull requests containing a commit, environments with their custom protection rules,
//! deployments and statuses created as a given account, and the custom protection rule's
//! callback, whose answers tests read back. Shapes and codes as GitHub's REST docs give them.

use super::{GhState, not_found, paged, user, with_etag};
use crate::common::commit_graph::CommitGraph;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

#[derive(Clone, Debug)]
pub struct GhDeploymentStatus {
    pub id: u64,
    pub state: String,
    pub creator: String,
    pub at: String,
}

#[derive(Clone, Debug)]
pub struct GhDeployment {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub environment: String,
    pub creator: String,
    pub created_at: String,
    /// Oldest first.
    pub statuses: Vec<GhDeploymentStatus>,
}

#[derive(Clone, Debug)]
pub struct GhEnvironment {
    pub name: String,
    pub can_admins_bypass: bool,
    /// The App slugs of its custom deployment protection rules.
    pub custom_apps: Vec<String>,
}

/// An answer posted to `actions/runs/{run_id}/deployment_protection_rule`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtectionAnswer {
    pub run_id: u64,
    pub environment: String,
    /// `approved`, `rejected`, or `None` for a comment alone.
    pub state: Option<String>,
    pub comment: Option<String>,
}

#[derive(Default)]
pub struct GhDeployState {
    pub graph: CommitGraph,
    pub deployments: Vec<GhDeployment>,
    pub environments: Vec<GhEnvironment>,
    /// Pull requests' commits and merge commits: (number, commits, merge commit).
    pub pull_commits: Vec<(u64, Vec<String>, Option<String>)>,
    pub answers: Vec<ProtectionAnswer>,
    /// The repository's `default_branch` (`None`: `main`).
    pub default_branch: Option<String>,
    pub(super) next_id: u64,
}

impl GhDeployState {
    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    fn deployment_json(&self, base: &str, d: &GhDeployment) -> Value {
        let url = format!("{base}/repos/{}/deployments/{}", super::REPO, d.id);
        json!({
            "url": url, "id": d.id, "node_id": format!("DE_{}", d.id), "sha": d.sha, "ref": d.git_ref,
            "task": "deploy", "payload": {}, "original_environment": d.environment, "environment": d.environment,
            "description": null, "creator": user(&d.creator), "created_at": d.created_at,
            "updated_at": d.statuses.last().map_or(d.created_at.as_str(), |s| s.at.as_str()),
            "statuses_url": format!("{url}/statuses"), "repository_url": format!("{base}/repos/{}", super::REPO),
            "transient_environment": false, "production_environment": d.environment == "production",
        })
    }
}

fn status_json(base: &str, d: &GhDeployment, s: &GhDeploymentStatus) -> Value {
    let url = format!("{base}/repos/{}/deployments/{}", super::REPO, d.id);
    json!({
        "url": format!("{url}/statuses/{}", s.id), "id": s.id, "node_id": format!("DES_{}", s.id),
        "state": s.state, "creator": user(&s.creator), "description": "", "environment": d.environment,
        "target_url": "", "created_at": s.at, "updated_at": s.at, "deployment_url": url,
        "repository_url": format!("{base}/repos/{}", super::REPO), "environment_url": "", "log_url": "",
    })
}

fn commit_json(g: &CommitGraph, sha: &str) -> Value {
    let c = g.get(sha).expect("a commit of the graph");
    json!({
        "sha": c.sha, "node_id": format!("C_{}", &c.sha[..8]),
        "commit": { "message": "work", "author": { "name": c.author, "email": format!("{}@example.com", c.author), "date": c.at },
                    "committer": { "name": c.author, "email": format!("{}@example.com", c.author), "date": c.at } },
        "author": user(&c.author), "committer": user(&c.author),
        "parents": c.parents.iter().map(|p| json!({ "sha": p })).collect::<Vec<_>>(),
    })
}

fn json_reply(status: u16, v: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(v)
}

fn query<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The deployment routes under `/repos/{owner}/{repo}/`; `None` for anything else (and for
/// a comparison of commits the graph does not hold: the pull request fake answers those).
pub(super) fn route(
    s: &mut GhState,
    method: &str,
    rest: &[&str],
    body: &Value,
    etag: &Option<String>,
    q: &[(String, String)],
) -> Option<ResponseTemplate> {
    let base = s.base.clone();
    let repo = super::REPO;
    let reply = match (method, rest) {
        // "Get a repository": what the gate reads of it is `default_branch`.
        ("GET", []) => {
            let (owner, name) = repo.split_once('/').unwrap_or((repo, repo));
            json_reply(
                200,
                json!({ "id": 1296269, "node_id": "R_1", "name": name, "full_name": repo, "private": false,
                        "owner": user(owner), "html_url": format!("https://github.com/{repo}"),
                        "url": format!("{base}/repos/{repo}"), "default_branch": s.deploy.default_branch.as_deref().unwrap_or("main"),
                        "visibility": "public", "archived": false, "disabled": false }),
            )
        }
        ("GET", ["compare", spec]) => {
            let (b, h) = spec.split_once("...")?;
            let c = s.deploy.graph.compare(b, h)?;
            let all: Vec<Value> = c
                .ahead
                .iter()
                .map(|x| commit_json(&s.deploy.graph, &x.sha))
                .collect();
            // Paged as GitHub pages a comparison (`per_page`, `page`; 250 when unpaged).
            let per_page = super::query_number(q, "per_page", 250).clamp(1, 250);
            let page = super::query_number(q, "page", 1).max(1);
            let chunk: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let mb = c.merge_base.map(|m| commit_json(&s.deploy.graph, &m.sha));
            json_reply(
                200,
                json!({ "status": c.relation.as_str(), "ahead_by": all.len(), "behind_by": c.behind_by,
                        "total_commits": all.len(), "merge_base_commit": mb, "base_commit": commit_json(&s.deploy.graph, &s.deploy.graph.resolve(b)?.sha),
                        "commits": chunk, "files": [] }),
            )
        }
        ("GET", ["commits", reference]) if reference.bytes().all(|b| b.is_ascii_hexdigit()) => {
            match s.deploy.graph.resolve(reference) {
                Some(c) => {
                    let sha = c.sha.clone();
                    with_etag(
                        &mut s.not_modified,
                        commit_json(&s.deploy.graph, &sha),
                        etag.clone(),
                    )
                }
                // What GitHub answers for a SHA it does not know.
                None => json_reply(
                    422,
                    json!({ "message": format!("No commit found for SHA: {reference}"), "documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit" }),
                ),
            }
        }
        // The pull requests associated with a commit: those whose head it is, those whose
        // commits include it, and merged ones whose merge commit it is.
        ("GET", ["commits", sha, "pulls"]) => {
            let full = s
                .deploy
                .graph
                .resolve(sha)
                .map_or(sha.to_string(), |c| c.sha.clone());
            let list: Vec<Value> = s
                .changes
                .iter()
                .filter(|c| c.is_pr)
                .filter_map(|c| {
                    let recorded = s
                        .deploy
                        .pull_commits
                        .iter()
                        .find(|(n, _, _)| *n == c.number);
                    let in_commits = recorded.is_some_and(|(_, cs, _)| cs.contains(&full));
                    let merge = recorded.and_then(|(_, _, m)| m.clone());
                    let hit = c.head == full || in_commits || merge.as_deref() == Some(&full);
                    hit.then(|| {
                        let mut v = super::change_json_as(c, false);
                        v["merge_commit_sha"] = json!(merge);
                        v
                    })
                })
                .collect();
            super::listing(&mut s.not_modified, list, etag.clone())
        }
        ("GET", ["environments", name, tail @ ..]) => {
            let Some(env) = s
                .deploy
                .environments
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(name))
            else {
                return Some(not_found());
            };
            match tail {
                [] => json_reply(
                    200,
                    json!({ "id": 161088068, "node_id": "EN_1", "name": env.name, "url": format!("{base}/repos/{repo}/environments/{}", env.name),
                            "html_url": format!("https://github.com/{repo}/deployments/activity_log?environments_filter={}", env.name),
                            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                            "can_admins_bypass": env.can_admins_bypass,
                            "protection_rules": [{ "id": 3736, "node_id": "GA_1", "type": "branch_policy" }],
                            "deployment_branch_policy": { "protected_branches": true, "custom_branch_policies": false } }),
                ),
                ["deployment_protection_rules"] => {
                    let rules: Vec<Value> = env
                        .custom_apps
                        .iter()
                        .enumerate()
                        .map(|(i, slug)| json!({ "id": 3515 + i, "node_id": format!("GA_{i}"), "enabled": true,
                                                "app": { "id": 100 + i, "slug": slug, "integration_url": format!("{base}/apps/{slug}"), "node_id": format!("A_{i}") } }))
                        .collect();
                    json_reply(
                        200,
                        json!({ "total_count": rules.len(), "custom_deployment_protection_rules": rules }),
                    )
                }
                _ => not_found(),
            }
        }
        // Newest first, filtered by the documented `sha`, `ref`, `environment`.
        ("GET", ["deployments"]) => {
            let list: Vec<Value> = s
                .deploy
                .deployments
                .iter()
                .rev()
                .filter(|d| query(q, "sha").is_none_or(|v| d.sha == v))
                .filter(|d| query(q, "ref").is_none_or(|v| d.git_ref == v))
                .filter(|d| {
                    query(q, "environment").is_none_or(|v| d.environment.eq_ignore_ascii_case(v))
                })
                .map(|d| s.deploy.deployment_json(&base, d))
                .collect();
            paged(
                &mut s.not_modified,
                list,
                q,
                &base,
                &format!("/repos/{repo}/deployments"),
                etag.clone(),
            )
        }
        ("GET", ["deployments", id, tail @ ..]) => {
            let Some(d) = s
                .deploy
                .deployments
                .iter()
                .find(|d| d.id.to_string() == *id)
            else {
                return Some(not_found());
            };
            match tail {
                [] => with_etag(
                    &mut s.not_modified,
                    s.deploy.deployment_json(&base, d),
                    etag.clone(),
                ),
                ["statuses"] => {
                    let list: Vec<Value> = d
                        .statuses
                        .iter()
                        .rev()
                        .map(|st| status_json(&base, d, st))
                        .collect();
                    paged(
                        &mut s.not_modified,
                        list,
                        q,
                        &base,
                        &format!("/repos/{repo}/deployments/{id}/statuses"),
                        etag.clone(),
                    )
                }
                _ => not_found(),
            }
        }
        // Both bodies GitHub's description allows: a state (`approved`/`rejected`, comment
        // optional) or a comment alone. GitHub documents only 204 for an answer.
        ("POST", ["actions", "runs", run, "deployment_protection_rule"]) => {
            let Ok(run_id) = run.parse::<u64>() else {
                return Some(not_found());
            };
            let env = body["environment_name"].as_str();
            let state = body.get("state").map(|v| v.as_str());
            let comment = body.get("comment").map(|v| v.as_str());
            let valid = env.is_some()
                && matches!(
                    (state, comment),
                    (Some(Some("approved" | "rejected")), None | Some(Some(_)))
                        | (None, Some(Some(_)))
                );
            if !valid {
                return Some(json_reply(
                    422,
                    json!({ "message": "Invalid request.", "documentation_url": "https://docs.github.com/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run" }),
                ));
            }
            s.deploy.answers.push(ProtectionAnswer {
                run_id,
                environment: env.unwrap_or_default().into(),
                state: state.flatten().map(str::to_string),
                comment: comment.flatten().map(str::to_string),
            });
            ResponseTemplate::new(204)
        }
        _ => return None,
    };
    Some(reply)
}
