//! The fake GitHub's GraphQL answer to changegate's snapshot query (`ChangegateSnapshot`),
//! built from the same state its REST endpoints read: the shapes are GitHub's GraphQL schema's
//! (the query itself is checked against the published schema in tests/graphql_schema.rs).
//! Off by default, as on a GitHub without the endpoint (404); `GithubWorld::enable_graphql`.

use super::{GhChange, GhState, json_reply, not_found};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// GraphQL's view of an account: an `Actor` with its `databaseId` (the REST `id`). An App's
/// account is a `Bot` whose login has no `[bot]` suffix (REST's `name[bot]` is `name`).
fn actor(v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    let login = v["login"].as_str().unwrap_or("");
    if v["type"] == "Bot" {
        let name = login.strip_suffix("[bot]").unwrap_or(login);
        return json!({ "__typename": "Bot", "login": name, "databaseId": v["id"] });
    }
    json!({ "__typename": "User", "login": login, "databaseId": v["id"] })
}

fn who(s: &GhState, login: &str) -> Value {
    actor(&s.account(login))
}

/// When labels never edited were made: before any test's history.
pub const LABELS_MADE_AT: &str = "2020-01-01T00:00:00Z";

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
    let edited = s
        .label_edited
        .iter()
        .find(|(i, _)| i == id)
        .map_or(LABELS_MADE_AT, |(_, at)| at.as_str());
    json!({ "id": id, "name": name, "updatedAt": edited })
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

/// An opaque cursor naming item `i` of a connection (GitHub's are base64 too).
fn cursor(i: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{i}"))
}

fn index_of(cursor: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("cursor:v2:")?
        .parse()
        .ok()
}

/// The 100 items after `after` (`first: 100, after:`), with GitHub's page info.
fn forward(nodes: &[Value], after: Option<&str>) -> Value {
    let start = after
        .and_then(index_of)
        .map_or(0, |i| i + 1)
        .min(nodes.len());
    let end = (start + 100).min(nodes.len());
    page(nodes, start, end)
}

/// The 100 items before `before` (`last: 100, before:`), with GitHub's page info.
fn backward(nodes: &[Value], before: Option<&str>) -> Value {
    let end = before
        .and_then(index_of)
        .unwrap_or(nodes.len())
        .min(nodes.len());
    let start = end.saturating_sub(100);
    page(nodes, start, end)
}

fn page(nodes: &[Value], start: usize, end: usize) -> Value {
    let (first, last) = if start < end {
        (json!(cursor(start)), json!(cursor(end - 1)))
    } else {
        (Value::Null, Value::Null)
    };
    json!({
        "pageInfo": { "hasNextPage": end < nodes.len(), "endCursor": last, "hasPreviousPage": start > 0, "startCursor": first },
        "nodes": nodes[start..end].to_vec(),
    })
}

fn rate(s: &GhState) -> Value {
    json!({ "cost": 1, "limit": 5000, "remaining": 5000 - s.graphql_queries.min(5000), "resetAt": "2026-01-01T01:00:00Z" })
}

fn repo_labels(s: &GhState) -> Value {
    forward(&repo_label_nodes(s), None)
}

fn repo_label_nodes(s: &GhState) -> Vec<Value> {
    s.label_nodes
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect()
}

/// Every item of each paged connection of a change, in GitHub's order (oldest first).
struct Lists {
    labels: Vec<Value>,
    assignees: Vec<Value>,
    timeline: Vec<Value>,
    reviews: Vec<Value>,
    commits: Vec<Value>,
    files: Vec<Value>,
}

fn lists(s: &mut GhState, c: &GhChange) -> Lists {
    let labels: Vec<Value> = c
        .labels
        .clone()
        .iter()
        .map(|l| {
            let id = node_of(s, l);
            label(s, &id)
        })
        .collect();
    let timeline: Vec<Value> = s
        .events
        .iter()
        .filter(|(n, _)| *n == c.number)
        .filter_map(|(_, e)| timeline_item(s, e, c.is_pr))
        .collect();
    let reviews: Vec<Value> = s
        .reviews
        .iter()
        .filter(|(n, _)| *n == c.number)
        .map(|(_, r)| json!({ "state": r["state"], "submittedAt": r["submitted_at"], "author": actor(&r["user"]), "commit": r["commit_id"].as_str().map(|oid| json!({ "oid": oid })) }))
        .collect();
    // GitHub lists at most 250 commits of a pull request (`totalCount` says how many).
    let commits: Vec<Value> = c
        .commits
        .iter()
        .enumerate()
        .take(250)
        .map(|(i, (a, m))| json!({ "commit": { "oid": format!("{i:040x}"), "author": { "user": { "login": a, "databaseId": s.account(a)["id"] } }, "committer": { "user": { "login": m, "databaseId": s.account(m)["id"] } } } }))
        .collect();
    let files: Vec<Value> = c
        .files
        .iter()
        .map(|(p, old)| json!({ "path": p, "changeType": if old.is_some() { "RENAMED" } else { "MODIFIED" } }))
        .collect();
    Lists {
        labels,
        assignees: c
            .assignees
            .iter()
            .map(|a| json!({ "login": a, "databaseId": s.account(a)["id"] }))
            .collect(),
        timeline,
        reviews,
        commits,
        files,
    }
}

/// A connection with its `totalCount`.
fn counted(mut conn: Value, total: usize) -> Value {
    conn["totalCount"] = json!(total);
    conn
}

fn change(s: &mut GhState, c: &GhChange) -> Value {
    let rest = super::change_json(c);
    let l = lists(s, c);
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
        "labels": forward(&l.labels, None),
        "assignees": forward(&l.assignees, None),
        "comments": { "totalCount": s.comments.iter().filter(|m| m.1 == c.number).count() },
        "timelineItems": backward(&l.timeline, None),
    });
    if !c.is_pr {
        return v;
    }
    let base_sha = match &s.compares.repo {
        Some(repo) => json!(repo.sha(&c.base)),
        None => rest["base"]["sha"].clone(),
    };
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
            contexts.push(json!({ "context": st["context"], "state": st["state"].as_str().unwrap_or("").to_uppercase(), "description": st["description"], "creator": who(s, &s.bot()) }));
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
    let extra = json!({
        "isDraft": false,
        "merged": c.merged_at.is_some(),
        "mergedAt": c.merged_at,
        "headRefName": "feature",
        "headRefOid": c.head,
        "baseRefName": c.base,
        "baseRefOid": base_sha,
        "reviews": forward(&l.reviews, None),
        "commits": counted(forward(&l.commits, None), l.commits.len()),
        "head": { "nodes": [{ "commit": { "oid": c.head, "checkSuites": { "nodes": suites }, "status": status, "associatedPullRequests": { "pageInfo": { "hasNextPage": false }, "nodes": pulls } } }] },
        "files": counted(forward(&l.files, None), l.files.len()),
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

/// Answers a page query (`ChangegatePage…`): one page of one connection after (the
/// timeline: before) `variables.cursor`.
pub(super) fn page_of(s: &mut GhState, body: &Value) -> ResponseTemplate {
    if !s.graphql {
        return not_found();
    }
    s.graphql_queries += 1;
    s.graphql_pages += 1;
    if let Some(bad) = &s.bad_pages {
        return json_reply(200, bad.clone());
    }
    let query = body["query"].as_str().unwrap_or("");
    let name = query
        .split_once("ChangegatePage")
        .map(|(_, rest)| rest.split('(').next().unwrap_or(""))
        .unwrap_or("");
    let at = body["variables"]["cursor"].as_str();
    if name == "RepoLabels" {
        let labels = forward(&repo_label_nodes(s), at);
        return json_reply(
            200,
            json!({ "data": { "rateLimit": rate(s), "repository": { "labels": labels } } }),
        );
    }
    let number = body["variables"]["number"].as_u64().unwrap_or(0);
    let Some(c) = s.changes.iter().find(|c| c.number == number).cloned() else {
        return json_reply(
            200,
            json!({ "data": { "rateLimit": rate(s), "repository": { "issueOrPullRequest": null } },
                "errors": [{ "type": "NOT_FOUND", "path": ["repository", "issueOrPullRequest"], "message": format!("Could not resolve to an issue or pull request with the number of {number}.") }] }),
        );
    };
    let l = lists(s, &c);
    let (field, conn) = match name {
        "Labels" => ("labels", forward(&l.labels, at)),
        "Assignees" => ("assignees", forward(&l.assignees, at)),
        "Timeline" => ("timelineItems", backward(&l.timeline, at)),
        "Reviews" if c.is_pr => ("reviews", forward(&l.reviews, at)),
        "Commits" if c.is_pr => ("commits", counted(forward(&l.commits, at), l.commits.len())),
        "Files" if c.is_pr => ("files", counted(forward(&l.files, at), l.files.len())),
        _ => {
            return json_reply(
                200,
                json!({ "errors": [{ "message": format!("the fake does not know page query {name}") }] }),
            );
        }
    };
    let typename = if c.is_pr { "PullRequest" } else { "Issue" };
    json_reply(
        200,
        json!({ "data": { "rateLimit": rate(s), "repository": { "issueOrPullRequest": { "__typename": typename, field: conn } } } }),
    )
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
