//! The fake GitLab's deployments (issue 23): a commit graph with compare, merge base and
//! commit lookup, the merge requests containing a commit, environments and protected
//! environments with approvals, deployments (blocked ones listed with `status=blocked`), and
//! the approval endpoint, whose answers tests read back. Shapes and codes as GitLab's
//! Deployments, Environments, Protected environments, Commits and Repositories API pages
//! give them.

use super::{GlState, PROJECT, change_json, not_found, reply, user};
use crate::common::commit_graph::CommitGraph;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

#[derive(Clone, Debug)]
pub struct GlDeployment {
    pub id: u64,
    pub iid: u64,
    pub sha: String,
    pub git_ref: String,
    pub environment: String,
    /// Who triggered it (the deployment's `user`).
    pub user: String,
    /// `created`, `running`, `success`, `failed`, `canceled`, `blocked`.
    pub status: String,
    /// The job; `None` for a deployment created through the API.
    pub deployable: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug)]
pub struct GlEnvironment {
    pub id: u64,
    pub name: String,
    /// Protected with this many required approvals; `None`: not protected.
    pub required_approvals: Option<u32>,
    /// Who may approve its deployments.
    pub approvers: Vec<String>,
}

/// An answer posted to `deployments/:id/approval`.
#[derive(Clone, Debug, PartialEq)]
pub struct GlApproval {
    pub deployment_id: u64,
    pub user: String,
    pub status: String,
    pub comment: Option<String>,
}

#[derive(Default)]
pub struct GlDeployState {
    pub graph: CommitGraph,
    pub deployments: Vec<GlDeployment>,
    pub environments: Vec<GlEnvironment>,
    /// Merge requests' commits and merge commits: (iid, commits, merge commit).
    pub mr_commits: Vec<(u64, Vec<String>, Option<String>)>,
    pub approvals: Vec<GlApproval>,
    /// The bot may not read protected environments (it is no Maintainer): 403.
    pub protection_hidden: bool,
    /// Commits the compare answer leaves out, as a capped or cut list would.
    pub compare_leaves_out: Vec<String>,
    /// The compare API answers its commits without `parent_ids` (as GitLab's doc example).
    pub compare_without_parents: bool,
    pub(super) next_id: u64,
}

fn commit_json(g: &CommitGraph, sha: &str) -> Value {
    let c = g.get(sha).expect("a commit of the graph");
    json!({
        "id": c.sha, "short_id": &c.sha[..8], "title": "work", "message": "work",
        "author_name": c.author, "author_email": format!("{}@example.com", c.author), "authored_date": c.at,
        "committer_name": c.author, "committer_email": format!("{}@example.com", c.author), "committed_date": c.at,
        "created_at": c.at, "parent_ids": c.parents,
        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/commit/{}", c.sha),
    })
}

fn deployment_json(d: &GlDeployment, env_id: u64) -> Value {
    let deployable = d.deployable.map(|id| {
        json!({ "id": id, "name": "deploy", "stage": "deploy", "status": if d.status == "blocked" { "manual" } else { "success" },
                "ref": d.git_ref, "tag": false, "user": user(&d.user) })
    });
    let finished = matches!(d.status.as_str(), "success" | "failed" | "canceled");
    json!({
        "id": d.id, "iid": d.iid, "ref": d.git_ref, "sha": d.sha, "created_at": d.created_at,
        "updated_at": d.updated_at, "finished_at": if finished { Some(&d.updated_at) } else { None },
        "status": d.status, "user": user(&d.user),
        "environment": { "id": env_id, "name": d.environment, "external_url": null },
        "deployable": deployable,
    })
}

/// One page of a GitLab listing (`per_page`, `page`) with `x-next-page`/`x-total-pages`.
fn paged(items: Vec<Value>, q: &[(String, String)]) -> ResponseTemplate {
    let num = |k: &str, d: usize| {
        q.iter()
            .find(|(x, _)| x == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(d)
    };
    let per_page = num("per_page", 20).clamp(1, 100);
    let page = num("page", 1).max(1);
    let total = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < total {
        (page + 1).to_string()
    } else {
        String::new()
    };
    reply(200, json!(chunk))
        .insert_header("x-total-pages", total.to_string().as_str())
        .insert_header("x-next-page", next.as_str())
        .insert_header("x-page", page.to_string().as_str())
}

fn query<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The deployment routes under `/projects/42/`; `None` for anything else.
pub(super) fn route(
    s: &mut GlState,
    method: &str,
    tail: &[&str],
    body: &Value,
    q: &[(String, String)],
) -> Option<ResponseTemplate> {
    // A test that put a real repository behind the compare API reads its diffs from there.
    if s.compares.repo.is_some() && tail == ["repository", "compare"] {
        return None;
    }
    let d = &mut s.deploy;
    let out = match (method, tail) {
        ("GET", ["repository", "compare"]) => {
            let (Some(from), Some(to)) = (query(q, "from"), query(q, "to")) else {
                return Some(reply(400, json!({ "error": "from, to are missing" })));
            };
            if query(q, "straight") == Some("true") {
                return Some(reply(
                    400,
                    json!({ "error": "the fake compares from...to only" }),
                ));
            }
            let Some(c) = d.graph.compare(from, to) else {
                return Some(reply(404, json!({ "message": "404 Ref Not Found" })));
            };
            let head = d.graph.resolve(to)?.sha.clone();
            let commits: Vec<Value> = c
                .ahead
                .iter()
                .filter(|x| !d.compare_leaves_out.contains(&x.sha))
                .map(|x| {
                    let mut v = commit_json(&d.graph, &x.sha);
                    if d.compare_without_parents {
                        v.as_object_mut().map(|o| o.remove("parent_ids"));
                    }
                    v
                })
                .collect();
            reply(
                200,
                json!({ "commit": commit_json(&d.graph, &head), "commits": commits, "diffs": [],
                        "compare_timeout": false, "compare_same_ref": false,
                        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/compare/{from}...{to}") }),
            )
        }
        ("GET", ["repository", "merge_base"]) => {
            let refs: Vec<&str> = q
                .iter()
                .filter(|(k, _)| k == "refs[]")
                .map(|(_, v)| v.as_str())
                .collect();
            let [a, b] = refs[..] else {
                return Some(reply(400, json!({ "message": "Provide at least 2 refs" })));
            };
            match d.graph.compare(a, b) {
                Some(c) => match c.merge_base {
                    Some(m) => reply(200, commit_json(&d.graph, &m.sha)),
                    None => reply(404, json!({ "message": "404 Merge Base Not Found" })),
                },
                None => reply(404, json!({ "message": "404 Commit Not Found" })),
            }
        }
        ("GET", ["repository", "commits", sha]) => match d.graph.resolve(sha) {
            Some(c) => {
                let sha = c.sha.clone();
                reply(200, commit_json(&d.graph, &sha))
            }
            None => reply(404, json!({ "message": "404 Commit Not Found" })),
        },
        // Every merge request with the commit: its head, one of its commits, or its merge
        // commit, merged ones included.
        ("GET", ["repository", "commits", sha, "merge_requests"]) => {
            let full = d
                .graph
                .resolve(sha)
                .map_or(sha.to_string(), |c| c.sha.clone());
            let list: Vec<Value> = s
                .changes
                .iter()
                .filter(|c| c.is_mr)
                .filter_map(|c| {
                    let recorded = s.deploy.mr_commits.iter().find(|(i, _, _)| *i == c.iid);
                    let merge = recorded.and_then(|(_, _, m)| m.clone());
                    let hit = c.sha == full
                        || recorded.is_some_and(|(_, cs, _)| cs.contains(&full))
                        || merge.as_deref() == Some(&full);
                    hit.then(|| {
                        let mut v = change_json(c);
                        v["merge_commit_sha"] = json!(merge);
                        v
                    })
                })
                .collect();
            reply(200, json!(list))
        }
        // `name` filters by exact name (`search` would match parts).
        ("GET", ["environments"]) => {
            let list: Vec<Value> = d
                .environments
                .iter()
                .filter(|e| query(q, "name").is_none_or(|n| e.name == n))
                .map(|e| json!({ "id": e.id, "name": e.name, "slug": e.name, "external_url": null, "state": "available", "tier": "production" }))
                .collect();
            paged(list, q)
        }
        ("GET", ["protected_environments", name]) => {
            if d.protection_hidden {
                return Some(reply(403, json!({ "message": "403 Forbidden" })));
            }
            match d
                .environments
                .iter()
                .find(|e| e.name == *name && e.required_approvals.is_some())
            {
                Some(e) => {
                    let required = e.required_approvals.unwrap_or(0);
                    reply(
                        200,
                        json!({ "name": e.name, "deploy_access_levels": [{ "access_level": 40, "access_level_description": "Maintainers", "user_id": null, "group_id": null }],
                                "required_approval_count": 0,
                                "approval_rules": [{ "id": 1, "user_id": null, "group_id": 10, "access_level": null,
                                                     "access_level_description": "release-managers", "required_approvals": required, "group_inheritance_type": 0 }] }),
                    )
                }
                None => reply(404, json!({ "message": "404 Not found" })),
            }
        }
        ("GET", ["deployments"]) => {
            let mut list: Vec<&GlDeployment> = d
                .deployments
                .iter()
                .filter(|x| query(q, "environment").is_none_or(|e| x.environment == e))
                .filter(|x| query(q, "status").is_none_or(|st| x.status == st))
                .collect();
            if query(q, "sort") == Some("desc") {
                list.reverse();
            }
            let items = list
                .into_iter()
                .map(|x| deployment_json(x, env_id(&d.environments, &x.environment)))
                .collect();
            paged(items, q)
        }
        ("GET", ["deployments", id]) => {
            match d.deployments.iter().find(|x| x.id.to_string() == *id) {
                Some(x) => reply(
                    200,
                    deployment_json(x, env_id(&d.environments, &x.environment)),
                ),
                None => not_found(),
            }
        }
        ("POST", ["deployments", id, "approval"]) => {
            let Some(i) = d.deployments.iter().position(|x| x.id.to_string() == *id) else {
                return Some(not_found());
            };
            let status = body["status"].as_str().unwrap_or("");
            if !["approved", "rejected"].contains(&status) {
                return Some(reply(
                    400,
                    json!({ "error": "status does not have a valid value" }),
                ));
            }
            let dep = d.deployments[i].clone();
            let env = d.environments.iter().find(|e| e.name == dep.environment);
            if !env.is_some_and(|e| e.approvers.iter().any(|a| a == super::BOT)) {
                return Some(reply(403, json!({ "message": "403 Forbidden" })));
            }
            if dep.status != "blocked" {
                return Some(reply(
                    400,
                    json!({ "message": "This deployment is not waiting for approvals." }),
                ));
            }
            if dep.user == super::BOT {
                return Some(reply(
                    400,
                    json!({ "message": "Deployment cannot be approved by the user who triggered it." }),
                ));
            }
            let comment = body["comment"].as_str().map(str::to_string);
            d.approvals.push(GlApproval {
                deployment_id: dep.id,
                user: super::BOT.into(),
                status: status.into(),
                comment: comment.clone(),
            });
            let required = env.and_then(|e| e.required_approvals).unwrap_or(0) as usize;
            let given = d
                .approvals
                .iter()
                .filter(|a| a.deployment_id == dep.id && a.status == "approved")
                .count();
            // A rejection fails the job; the last required approval starts it.
            if status == "rejected" {
                d.deployments[i].status = "failed".into();
            } else if given >= required {
                d.deployments[i].status = "running".into();
            }
            reply(
                201,
                json!({ "user": user(super::BOT), "status": status, "created_at": "2026-01-01T00:00:00Z", "comment": comment }),
            )
        }
        _ => return None,
    };
    Some(out)
}

fn env_id(envs: &[GlEnvironment], name: &str) -> u64 {
    envs.iter().find(|e| e.name == name).map_or(0, |e| e.id)
}
