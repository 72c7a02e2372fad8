//! People's notes on the fake GitLab, as its REST API shows them: the listing's
//! `created_at` / `updated_at` / `system`, one note (`GET …/notes/:note_id`, 404 once deleted),
//! award emoji (`POST …/notes/:note_id/award_emoji`), and the Note Hook GitLab sends (the
//! corpus `note.merge_request.1.json`, moved to acme/platypus!3), `create` or `update` (GitLab
//! 16.11+, with `updated_by_id`). GitLab sends nothing when a note is deleted.
#![allow(dead_code)]

use super::gitlab_world::{
    BOT, GitlabWorld, GlState, PROJECT, PROJECT_ID, not_found, reply, user, user_id,
};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// A note as the REST API shows it.
pub fn note_json(s: &GlState, n: &(u64, u64, String, String)) -> Value {
    let meta = s
        .note_meta
        .iter()
        .find(|(id, _)| *id == n.0)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| json!({}));
    let created = meta
        .get("created_at")
        .cloned()
        .unwrap_or(json!("2026-01-01T00:00:00Z"));
    let mut author = user(&n.3);
    // A service account as the notes API shows it (the Note Hook's `user` does not).
    if meta["author_bot"].as_bool() == Some(true) {
        author["bot"] = json!(true);
        author["user_type"] = json!("service_account");
    }
    json!({
        "id": n.0,
        "body": n.2,
        "author": author,
        "system": meta["system"].as_bool().unwrap_or(false),
        "noteable_iid": n.1,
        "created_at": created,
        "updated_at": meta.get("updated_at").cloned().unwrap_or(created),
    })
}

/// Answers one note and its award emoji; `None` for any other request.
pub fn route(
    s: &mut GlState,
    method: &str,
    iid: u64,
    rest: &[&str],
    body: &Value,
) -> Option<ResponseTemplate> {
    let num = |x: &str| x.parse::<u64>().unwrap_or(0);
    Some(match (method, rest) {
        ("GET", ["notes", id]) => match s
            .notes
            .iter()
            .find(|n| n.0 == num(id) && n.1 == iid)
            .cloned()
        {
            Some(n) => reply(200, note_json(s, &n)),
            None => not_found(),
        },
        ("POST", ["notes", id, "award_emoji"]) => {
            let name = body["name"].as_str().unwrap_or("").to_string();
            if !s.notes.iter().any(|n| n.0 == num(id) && n.1 == iid) {
                return Some(not_found());
            }
            if s.awards.iter().any(|(n, e)| *n == num(id) && *e == name) {
                return Some(reply(
                    404,
                    json!({ "message": "404 Award Emoji Name has already been taken" }),
                ));
            }
            s.awards.push((num(id), name.clone()));
            reply(
                201,
                json!({ "id": s.awards.len(), "name": name, "user": user(BOT), "awardable_id": num(id), "awardable_type": "Note" }),
            )
        }
        _ => return None,
    })
}

impl GitlabWorld {
    /// `who` writes note `body` on `iid`; its id.
    pub fn post_note(&self, iid: u64, who: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let id = 7000 + s.notes.len() as u64;
        s.notes.push((id, iid, body.into(), who.into()));
        s.note_meta.push((id, json!({ "created_at": at })));
        if let Some(c) = s.changes.iter_mut().find(|c| c.iid == iid) {
            c.notes_written += 1;
        }
        id
    }

    /// Note `id` is edited to `body`.
    pub fn edit_note(&self, id: u64, body: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        if let Some(n) = s.notes.iter_mut().find(|n| n.0 == id) {
            n.2 = body.into();
        }
        if let Some((_, m)) = s.note_meta.iter_mut().find(|(i, _)| *i == id) {
            m["updated_at"] = json!(at);
        }
    }

    /// Note `id`'s author is a service account: the notes API says `bot: true` and
    /// `user_type: service_account` on its `author`.
    pub fn note_by_service_account(&self, id: u64) {
        let mut s = self.state.lock().unwrap();
        if let Some((_, m)) = s.note_meta.iter_mut().find(|(i, _)| *i == id) {
            m["author_bot"] = json!(true);
        }
    }

    /// Note `id` is deleted (GitLab sends no webhook).
    pub fn delete_note(&self, id: u64) {
        self.state.lock().unwrap().notes.retain(|n| n.0 != id);
    }

    pub fn awards(&self) -> Vec<(u64, String)> {
        self.state.lock().unwrap().awards.clone()
    }

    /// The Note Hook for note `id` on merge request `iid` (`create`, or `update` by `actor`).
    pub fn note_hook(&self, iid: u64, id: u64, action: &str, actor: &str) -> Vec<u8> {
        let path = super::corpus_dir().join("gitlab/note.merge_request.1.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let s = self.state.lock().unwrap();
        let n = s
            .notes
            .iter()
            .find(|n| n.0 == id)
            .cloned()
            .expect("the note exists");
        let shown = note_json(&s, &n);
        let c = s
            .changes
            .iter()
            .find(|c| c.iid == iid && c.is_mr)
            .cloned()
            .expect("the merge request exists");
        drop(s);
        let labels: Vec<Value> = c
            .labels
            .iter()
            .map(|l| json!({ "id": 1, "title": l }))
            .collect();
        v["user"] = json!({ "id": user_id(actor), "username": actor, "name": actor });
        v["project_id"] = json!(PROJECT_ID);
        v["project"]["id"] = json!(PROJECT_ID);
        v["project"]["path_with_namespace"] = json!(PROJECT);
        let oa = &mut v["object_attributes"];
        oa["id"] = json!(id);
        oa["note"] = json!(n.2);
        oa["author_id"] = json!(user_id(&n.3));
        oa["action"] = json!(action);
        oa["project_id"] = json!(PROJECT_ID);
        oa["url"] = json!(format!(
            "https://gitlab.example.com/{PROJECT}/-/merge_requests/{iid}#note_{id}"
        ));
        // Webhooks write times as `2026-01-01 00:01:00 UTC`.
        let web_time = |t: &Value| {
            chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap_or_default())
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        oa["created_at"] = json!(web_time(&shown["created_at"]));
        oa["updated_at"] = json!(web_time(&shown["updated_at"]));
        if action == "update" {
            oa["updated_by_id"] = json!(user_id(actor));
        }
        let mr = &mut v["merge_request"];
        mr["iid"] = json!(iid);
        mr["author_id"] = json!(user_id(&c.author));
        mr["last_commit"]["id"] = json!(c.sha);
        mr["target_branch"] = json!(c.target);
        mr["labels"] = json!(labels);
        mr["state"] = json!("opened");
        serde_json::to_vec(&v).unwrap()
    }
}
