//! People's comments on the fake GitHub, as its REST and GraphQL APIs show them: one comment
//! (`GET /repos/{o}/{r}/issues/comments/{id}`, 404 once deleted), the listing's fields
//! (`created_at`, `updated_at`, `html_url`, `node_id`, `performed_via_github_app`), reactions
//! (`POST …/issues/comments/{id}/reactions`), a review (`GET …/pulls/{n}/reviews/{id}`), and
//! GraphQL's `node(id:)` with `createdViaEmail` / `isMinimized`. Plus the `issue_comment`
//! webhooks GitHub sends, built from the corpus payloads.
#![allow(dead_code)]

use super::corpus_dir;
use super::github_setup::{Setup, gh_user};
use super::github_world::{BOT, GhState, GithubWorld, json_reply, not_found, user};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// A comment as the REST API shows it.
pub fn comment_json(s: &GhState, c: &(u64, u64, String, String)) -> Value {
    let meta = s
        .comment_meta
        .iter()
        .find(|(id, _)| *id == c.0)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| json!({}));
    let mut author = user(&c.3);
    if let Some(kind) = meta["type"].as_str() {
        author["type"] = json!(kind);
    }
    let created = meta["created_at"].clone();
    json!({
        "id": c.0,
        "node_id": format!("IC_{}", c.0),
        "html_url": format!("https://github.com/acme/platypus/pull/{}#issuecomment-{}", c.1, c.0),
        "body": c.2,
        "user": author,
        "created_at": created,
        "updated_at": meta.get("updated_at").cloned().unwrap_or(created),
        "performed_via_github_app": meta.get("performed_via_github_app").cloned().unwrap_or(Value::Null),
    })
}

/// Answers the comment endpoints; `None` for any other request.
pub fn route(s: &mut GhState, method: &str, p: &[&str], body: &Value) -> Option<ResponseTemplate> {
    let num = |x: &str| x.parse::<u64>().unwrap_or(0);
    Some(match (method, p) {
        ("POST", ["graphql"]) => {
            let id = body["variables"]["id"].as_str().unwrap_or("");
            if let Some(review) = id.strip_prefix("PRR_").map(num) {
                let found = s
                    .reviews
                    .iter()
                    .any(|(_, v)| v["id"].as_u64() == Some(review));
                return Some(json_reply(
                    200,
                    if found {
                        json!({ "data": { "node": { "createdViaEmail": false } } })
                    } else {
                        json!({ "data": { "node": null }, "errors": [{ "type": "NOT_FOUND", "path": ["node"], "message": "Could not resolve to a node" }] })
                    },
                ));
            }
            let found = id
                .strip_prefix("IC_")
                .map(num)
                .and_then(|n| s.comments.iter().find(|c| c.0 == n).cloned());
            match found {
                Some(c) => {
                    let meta = s
                        .comment_meta
                        .iter()
                        .find(|(id, _)| *id == c.0)
                        .map(|(_, m)| m.clone())
                        .unwrap_or_else(|| json!({}));
                    json_reply(
                        200,
                        json!({ "data": { "node": {
                            "createdViaEmail": meta["createdViaEmail"].as_bool().unwrap_or(false),
                            "isMinimized": meta["isMinimized"].as_bool().unwrap_or(false),
                        } } }),
                    )
                }
                None => json_reply(
                    200,
                    json!({ "data": { "node": null }, "errors": [{ "type": "NOT_FOUND", "path": ["node"], "message": format!("Could not resolve to a node with the global id of '{id}'") }] }),
                ),
            }
        }
        ("GET", ["repos", "acme", "platypus", "issues", "comments", id]) => {
            match s.comments.iter().find(|c| c.0 == num(id)).cloned() {
                Some(c) => json_reply(200, comment_json(s, &c)),
                None => not_found(),
            }
        }
        (
            "POST",
            [
                "repos",
                "acme",
                "platypus",
                "issues",
                "comments",
                id,
                "reactions",
            ],
        ) => {
            let content = body["content"].as_str().unwrap_or("").to_string();
            if !s.comments.iter().any(|c| c.0 == num(id)) {
                return Some(not_found());
            }
            if content != "+1" {
                return Some(json_reply(422, json!({ "message": "Validation Failed" })));
            }
            s.reactions.push((num(id), content.clone()));
            json_reply(
                201,
                json!({ "id": s.reactions.len(), "content": content, "user": user(BOT) }),
            )
        }
        ("GET", ["repos", "acme", "platypus", "pulls", n, "reviews", id]) => {
            match s
                .reviews
                .iter()
                .find(|(k, v)| *k == num(n) && v["id"].as_u64() == Some(num(id)))
            {
                Some((_, v)) => json_reply(200, v.clone()),
                None => not_found(),
            }
        }
        _ => return None,
    })
}

impl GithubWorld {
    /// `who` submits a review (`APPROVED`, `COMMENTED`, `CHANGES_REQUESTED`) with `body` on
    /// `number`'s head; its id.
    pub fn post_review(&self, number: u64, who: &str, state: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let id = 300 + s.reviews.len() as u64;
        let head = s.change(number).map(|c| c.head.clone()).unwrap_or_default();
        s.reviews.push((
            number,
            json!({ "id": id, "node_id": format!("PRR_{id}"), "user": user(who), "state": state, "commit_id": head, "submitted_at": at, "body": body,
                    "html_url": format!("https://github.com/acme/platypus/pull/{number}#pullrequestreview-{id}") }),
        ));
        id
    }

    /// Review `id` is dismissed.
    pub fn dismiss_review(&self, id: u64) {
        let mut s = self.state.lock().unwrap();
        if let Some((_, v)) = s
            .reviews
            .iter_mut()
            .find(|(_, v)| v["id"].as_u64() == Some(id))
        {
            v["state"] = json!("DISMISSED");
        }
    }

    /// `who` comments `body` on `number`; its id.
    pub fn post_comment(&self, number: u64, who: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let id = 5000 + s.comments.len() as u64;
        s.comments.push((id, number, body.into(), who.into()));
        s.comment_meta.push((id, json!({ "created_at": at })));
        if let Some(c) = s.change(number) {
            c.updated += 1;
        }
        id
    }

    /// Sets extra fields of comment `id` (`type`, `performed_via_github_app`,
    /// `createdViaEmail`, `isMinimized`).
    pub fn set_comment_meta(&self, id: u64, key: &str, value: Value) {
        let mut s = self.state.lock().unwrap();
        if let Some((_, m)) = s.comment_meta.iter_mut().find(|(i, _)| *i == id) {
            m[key] = value;
        }
    }

    /// Someone edits comment `id` to `body`.
    pub fn edit_comment(&self, id: u64, body: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        if let Some(c) = s.comments.iter_mut().find(|c| c.0 == id) {
            c.2 = body.into();
        }
        if let Some((_, m)) = s.comment_meta.iter_mut().find(|(i, _)| *i == id) {
            m["updated_at"] = json!(at);
        }
    }

    /// Comment `id` is deleted.
    pub fn delete_comment(&self, id: u64) {
        let mut s = self.state.lock().unwrap();
        s.comments.retain(|c| c.0 != id);
    }

    /// The reactions the bot made.
    pub fn reactions(&self) -> Vec<(u64, String)> {
        self.state.lock().unwrap().reactions.clone()
    }
}

impl Setup {
    /// The corpus `issue_comment` payload (`issue_comment.<action>.N.json`), moved to
    /// acme/platypus#7 (a pull request) and comment `id` as the fake shows it, sent by `sender`.
    pub fn comment_event(&self, action: &str, id: u64, sender: &str) -> Value {
        self.comment_event_on(7, action, id, sender)
    }

    /// [`Self::comment_event`] on `number` (a pull request or an issue, as the fake has it).
    pub fn comment_event_on(&self, number: u64, action: &str, id: u64, sender: &str) -> Value {
        let file = match action {
            "created" => "github/issue_comment.created.2.json",
            "edited" => "github/issue_comment.edited.1.json",
            _ => "github/issue_comment.deleted.1.json",
        };
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(corpus_dir().join(file)).unwrap()).unwrap();
        let s = self.gh.state.lock().unwrap();
        let change = s
            .changes
            .iter()
            .find(|c| c.number == number)
            .cloned()
            .expect("the change exists on the fake");
        let c = s.comments.iter().find(|c| c.0 == id).cloned().unwrap_or((
            id,
            number,
            String::new(),
            sender.into(),
        ));
        let shown = comment_json(&s, &c);
        drop(s);
        v["action"] = json!(action);
        v["repository"]["full_name"] = json!("acme/platypus");
        v["repository"]["owner"]["login"] = json!("acme");
        v["issue"]["number"] = json!(number);
        v["issue"]["user"] = gh_user(&change.author);
        v["issue"]["labels"] = json!(
            change
                .labels
                .iter()
                .map(|l| json!({ "name": l }))
                .collect::<Vec<_>>()
        );
        v["issue"]["state"] = json!("open");
        if change.is_pr {
            v["issue"]["pull_request"] = json!({
                "url": format!("https://api.github.com/repos/acme/platypus/pulls/{number}")
            });
        } else if let Some(o) = v["issue"].as_object_mut() {
            o.remove("pull_request");
        }
        for key in [
            "id",
            "node_id",
            "html_url",
            "body",
            "user",
            "created_at",
            "updated_at",
            "performed_via_github_app",
        ] {
            v["comment"][key] = shown[key].clone();
        }
        v["sender"] = gh_user(sender);
        v
    }

    /// Delivers a `pull_request_review` webhook (`submitted`, `dismissed`) for review `id` as
    /// the fake shows it: the corpus payload moved to #7.
    pub async fn deliver_review(&self, action: &str, id: u64, sender: &str) {
        let file = match action {
            "dismissed" => "github/pull_request_review.dismissed.1.json",
            _ => "github/pull_request_review.submitted.2.json",
        };
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(corpus_dir().join(file)).unwrap()).unwrap();
        let pr = super::github_setup::pr_event(self, 7, "labeled", None, sender);
        let review = self
            .gh
            .state
            .lock()
            .unwrap()
            .reviews
            .iter()
            .find(|(_, r)| r["id"].as_u64() == Some(id))
            .map(|(_, r)| r.clone())
            .expect("the review exists");
        v["action"] = json!(action);
        v["pull_request"] = pr["pull_request"].clone();
        v["repository"] = pr["repository"].clone();
        for key in [
            "id",
            "node_id",
            "html_url",
            "body",
            "user",
            "commit_id",
            "submitted_at",
        ] {
            v["review"][key] = review[key].clone();
        }
        v["review"]["state"] = json!(review["state"].as_str().unwrap_or("").to_lowercase());
        v["sender"] = gh_user(sender);
        let delivery = format!("review-{action}-{id}-{}", next());
        let (status, _) = self
            .app
            .github(
                "pull_request_review",
                &delivery,
                &serde_json::to_vec(&v).unwrap(),
            )
            .await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// Delivers an `issue_comment` webhook for comment `id` and runs the queue.
    pub async fn deliver_comment(&self, action: &str, id: u64, sender: &str) {
        self.deliver_comment_on(7, action, id, sender).await
    }

    /// [`Self::deliver_comment`] on `number`.
    pub async fn deliver_comment_on(&self, number: u64, action: &str, id: u64, sender: &str) {
        let v = self.comment_event_on(number, action, id, sender);
        let delivery = format!("comment-{action}-{id}-{sender}-{}", next());
        let (status, _) = self
            .app
            .github("issue_comment", &delivery, &serde_json::to_vec(&v).unwrap())
            .await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// `who` comments `body` on #7; the `created` webhook follows. The comment's id.
    pub async fn say(&self, who: &str, body: &str) -> u64 {
        let id = self.gh.post_comment(7, who, body);
        self.deliver_comment("created", id, who).await;
        id
    }
}

fn next() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}
