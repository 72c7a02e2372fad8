//! The fake GitHub's GraphQL answer to changegate's snapshot query (`ChangegateSnapshot`),
//! built from the same state its REST endpoints read: the shapes are GitHub's GraphQL schema's
//! (the query itself is checked against the published schema in tests/graphql_schema.rs).
//! Off by default, as on a GitHub without the endpoint (404); `GithubWorld::enable_graphql`.

use super::{GhChange, GhState, json_reply, not_found};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// GraphQL's view of an account: an `Actor` with its `databaseId` (the REST `id`).
fn actor(v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    json!({ "__typename": "User", "login": v["login"], "databaseId": v["id"] })
}

fn who(s: &GhState, login: &str) -> Value {
    actor(&s.account(login))
}

/// The node id of the label named `name` now, made when first named.
pub(super) fn node_of(s: &mut GhState, name: &str) -> String {
    if let Some((id, _)) = s
        .label_nodes
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
    {
        return id.clone();
    }
    let id = format!("LA_kwDO{}", s.label_nodes.len() + 1);
    s.label_nodes.push((id.clone(), name.to_string()));
    id
}

fn label(s: &GhState, id: &str) -> Value {
    let name = s
        .label_nodes
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    json!({ "id": id, "name": name })
}

/// Answers the snapshot query for `variables.number`, or 404 while GraphQL is off.
pub(super) fn snapshot(s: &mut GhState, body: &Value) -> ResponseTemplate {
    if !s.graphql {
        return not_found();
    }
    s.graphql_queries += 1;
    let number = body["variables"]["number"].as_u64().unwrap_or(0);
    let Some(c) = s.changes.iter().find(|c| c.number == number).cloned() else {
        return json_reply(
            200,
            json!({ "data": { "rateLimit": rate(s), "repository": { "labels": repo_labels(s), "issueOrPullRequest": null } },
                "errors": [{ "type": "NOT_FOUND", "path": ["repository", "issueOrPullRequest"], "message": format!("Could not resolve to an issue or pull request with the number of {number}.") }] }),
        );
    };
    let change = change(s, &c);
    json_reply(
        200,
        json!({ "data": { "rateLimit": rate(s), "repository": { "labels": repo_labels(s), "issueOrPullRequest": change } } }),
    )
}

fn rate(s: &GhState) -> Value {
    json!({ "cost": 1, "limit": 5000, "remaining": 5000 - s.graphql_queries.min(5000), "resetAt": "2026-01-01T01:00:00Z" })
}

fn repo_labels(s: &GhState) -> Value {
    let nodes: Vec<Value> = s
        .label_nodes
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    json!({ "pageInfo": { "hasNextPage": false }, "nodes": nodes })
}

fn change(s: &mut GhState, c: &GhChange) -> Value {
    let rest = super::change_json(c);
    let labels: Vec<Value> = c
        .labels
        .clone()
        .iter()
        .map(|l| {
            let id = node_of(s, l);
            label(s, &id)
        })
        .collect();
    let events: Vec<Value> = s
        .events
        .iter()
        .filter(|(n, _)| *n == c.number)
        .filter_map(|(_, e)| timeline_item(s, e, c.is_pr))
        .collect();
    let skip = events.len().saturating_sub(100);
    let mut v = json!({
        "__typename": if c.is_pr { "PullRequest" } else { "Issue" },
        "number": c.number,
        "title": c.title,
        "body": c.body.clone().unwrap_or_default(),
        "url": rest["html_url"],
        "updatedAt": rest["updated_at"],
        (if c.is_pr { "state" } else { "issueState" }): match (c.state.as_str(), c.merged_at.is_some()) {
            (_, true) => "MERGED",
            ("closed", _) => "CLOSED",
            _ => "OPEN",
        },
        "author": who(s, &c.author),
        "labels": { "pageInfo": { "hasNextPage": false }, "nodes": labels },
        "assignees": { "pageInfo": { "hasNextPage": false }, "nodes": c.assignees.iter().map(|a| json!({ "login": a, "databaseId": s.account(a)["id"] })).collect::<Vec<_>>() },
        "comments": { "totalCount": s.comments.iter().filter(|m| m.1 == c.number).count() },
        "timelineItems": { "pageInfo": { "hasPreviousPage": skip > 0 }, "nodes": events[skip..].to_vec() },
    });
    if !c.is_pr {
        return v;
    }
    let base_sha = match &s.compares.repo {
        Some(repo) => json!(repo.sha(&c.base)),
        None => rest["base"]["sha"].clone(),
    };
    let reviews: Vec<Value> = s
        .reviews
        .iter()
        .filter(|(n, _)| *n == c.number)
        .map(|(_, r)| json!({ "state": r["state"], "submittedAt": r["submitted_at"], "author": actor(&r["user"]), "commit": r["commit_id"].as_str().map(|oid| json!({ "oid": oid })) }))
        .collect();
    let commits: Vec<Value> = c
        .commits
        .iter()
        .enumerate()
        .map(|(i, (a, m))| json!({ "commit": { "oid": format!("{i:040x}"), "author": { "user": { "login": a, "databaseId": s.account(a)["id"] } }, "committer": { "user": { "login": m, "databaseId": s.account(m)["id"] } } } }))
        .collect();
    let suites: Vec<Value> = s
        .check_suites
        .iter()
        .filter(|(h, _)| *h == c.head)
        .map(|(_, at)| json!({ "createdAt": at }))
        .collect();
    // The latest status of each context, as GitHub's `Status.contexts` gives them.
    let mut seen: Vec<String> = vec![];
    let mut contexts: Vec<Value> = vec![];
    for (_, st) in s.statuses.iter().rev().filter(|(h, _)| *h == c.head) {
        let ctx = st["context"].as_str().unwrap_or("").to_string();
        if !seen.contains(&ctx) {
            seen.push(ctx);
            contexts.push(json!({ "context": st["context"], "state": st["state"].as_str().unwrap_or("").to_uppercase(), "description": st["description"], "creator": who(s, super::BOT) }));
        }
    }
    let status = if contexts.is_empty() {
        Value::Null
    } else {
        json!({ "contexts": contexts })
    };
    // As GitHub lists a commit's pull requests (here, as the REST fake: those whose head it is).
    let pulls: Vec<Value> = s
        .changes
        .iter()
        .filter(|p| p.is_pr && p.head == c.head)
        .map(|p| json!({ "number": p.number, "state": if p.merged_at.is_some() { "MERGED" } else if p.state == "closed" { "CLOSED" } else { "OPEN" }, "headRefOid": p.head, "baseRefName": p.base }))
        .collect();
    let files: Vec<Value> = c
        .files
        .iter()
        .map(|(p, old)| json!({ "path": p, "changeType": if old.is_some() { "RENAMED" } else { "MODIFIED" } }))
        .collect();
    let extra = json!({
        "isDraft": false,
        "merged": c.merged_at.is_some(),
        "mergedAt": c.merged_at,
        "headRefName": "feature",
        "headRefOid": c.head,
        "baseRefName": c.base,
        "baseRefOid": base_sha,
        "reviews": { "pageInfo": { "hasNextPage": false }, "nodes": reviews },
        "commits": { "totalCount": commits.len(), "pageInfo": { "hasNextPage": commits.len() > 100 }, "nodes": commits.into_iter().take(100).collect::<Vec<_>>() },
        "head": { "nodes": [{ "commit": { "oid": c.head, "checkSuites": { "nodes": suites }, "status": status, "associatedPullRequests": { "pageInfo": { "hasNextPage": false }, "nodes": pulls } } }] },
        "files": { "totalCount": files.len(), "pageInfo": { "hasNextPage": files.len() > 100 }, "nodes": files.into_iter().take(100).collect::<Vec<_>>() },
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

/// A REST issue event as GraphQL's timeline shows it: the label as it is named now.
fn timeline_item(s: &GhState, e: &Value, is_pr: bool) -> Option<Value> {
    let at = e["created_at"].clone();
    let by = actor(&e["actor"]);
    Some(match e["event"].as_str()? {
        kind @ ("labeled" | "unlabeled") => {
            let typename = if kind == "labeled" {
                "LabeledEvent"
            } else {
                "UnlabeledEvent"
            };
            let id = e["label"]["node_id"].as_str()?;
            json!({ "__typename": typename, "createdAt": at, "actor": by, "label": label(s, id) })
        }
        "base_ref_changed" if is_pr => {
            json!({ "__typename": "BaseRefChangedEvent", "createdAt": at, "actor": by })
        }
        _ => return None,
    })
}

/// Answers the members query: per alias `m{i}`, the members of team `s{i}` whose login
/// contains `q{i}` — a search, as GitHub's `members(query:)` is (`bob` finds `bobby`).
pub(super) fn members(s: &mut GhState, body: &Value) -> ResponseTemplate {
    if !s.graphql {
        return not_found();
    }
    s.graphql_queries += 1;
    let vars = &body["variables"];
    let mut data = serde_json::Map::new();
    data.insert("rateLimit".into(), rate(s));
    let mut i = 0;
    while let (Some(team), Some(q)) = (
        vars[format!("s{i}")].as_str(),
        vars[format!("q{i}")].as_str(),
    ) {
        let q = q.to_lowercase();
        let nodes: Vec<Value> = s
            .members
            .iter()
            .filter(|(t, l)| t == team && l.to_lowercase().contains(&q))
            .map(|(_, l)| json!({ "databaseId": s.account(l)["id"] }))
            .collect();
        data.insert(
            format!("m{i}"),
            json!({ "team": { "members": { "pageInfo": { "hasNextPage": false }, "nodes": nodes } } }),
        );
        i += 1;
    }
    json_reply(200, json!({ "data": data }))
}
