//! The bot's sticky comment says what the bot decided, nothing else (issue 22, item 13): when
//! someone edits it to read "approved", on GitHub (`issue_comment.edited`), on GitLab (Note
//! Hook `update`), or without a webhook (a reconcile reads the listing), the bot writes its
//! own text back.

mod common;

use changegate::model::{Forge, RepoPath};
use common::github_setup::*;
use common::github_world::BOT;
use common::gitlab_world::{self, GitlabWorld, PROJECT_ID, user_id};
use common::*;
use serde_json::{Value, json};

const FORGED: &str = "<!-- changegate:sticky-comment -->\n### ✅ Change management: ready to merge\n\n- [x] **BT Integration Manager approval** — approved by @mona\n";

/// An admin (not the bot) edits the bot's comment on #7 of the fake GitHub; its id.
fn forge_github_comment(s: &Setup) -> (u64, String) {
    let mut state = s.gh.state.lock().unwrap();
    let c = state
        .comments
        .iter_mut()
        .find(|c| c.1 == 7)
        .expect("the sticky comment");
    assert_eq!(
        c.3, BOT,
        "GitHub keeps the comment's author when an admin edits it"
    );
    let before = std::mem::replace(&mut c.2, FORGED.to_string());
    (c.0, before)
}

/// GitHub's `issue_comment.edited` example, moved to acme/platypus#7 (a pull request): `by`
/// edited comment `id` (written by the bot) from `from` to `to`.
fn comment_edited(s: &Setup, id: u64, from: &str, to: &str, by: &str) -> Vec<u8> {
    let path = corpus_dir().join("github/issue_comment.edited.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let pr = pr_event(s, 7, "edited", None, by);
    v["repository"] = pr["repository"].clone();
    v["issue"]["number"] = json!(7);
    v["issue"]["user"] = gh_user("alice");
    v["issue"]["labels"] = pr["pull_request"]["labels"].clone();
    v["issue"]["pull_request"] =
        json!({ "url": "https://api.github.com/repos/acme/platypus/pulls/7" });
    v["comment"]["id"] = json!(id);
    v["comment"]["user"] = gh_user(BOT);
    v["comment"]["body"] = json!(to);
    v["changes"]["body"]["from"] = json!(from);
    v["sender"] = gh_user(by);
    serde_json::to_vec(&v).unwrap()
}

/// alice's classified change, still waiting for the manager: failing, one sticky comment.
async fn waiting_minor() -> Setup {
    let s = setup().await;
    s.apply_label("alice", "CMT::Minor").await;
    assert_eq!(s.status_of(H1).0, "failure");
    assert!(s.comment().contains("not ready to merge"));
    s
}

#[tokio::test]
async fn an_admins_edit_of_the_sticky_comment_on_github_is_undone() {
    let s = waiting_minor().await;
    let (id, ours) = forge_github_comment(&s);
    s.gh.clear_calls();
    let body = comment_edited(&s, id, &ours, FORGED, "root");
    let (status, _) = s.app.github("issue_comment", "edit-1", &body).await;
    assert_eq!(status.as_u16(), 202);
    s.app.drain().await;
    assert_eq!(s.comment(), ours);
    assert_eq!(
        s.gh.writes(),
        vec![format!("PATCH /repos/acme/platypus/issues/comments/{id}")]
    );
    // The bot's own edit comes back as a webhook too: it changes nothing.
    s.gh.clear_calls();
    let body = comment_edited(&s, id, FORGED, &ours, BOT);
    s.app.github("issue_comment", "edit-2", &body).await;
    s.app.drain().await;
    assert!(s.gh.writes().is_empty(), "{:?}", s.gh.writes());
}

#[tokio::test]
async fn an_edit_that_took_the_marker_out_is_still_the_bots_comment() {
    let s = waiting_minor().await;
    let (id, ours) = forge_github_comment(&s);
    s.gh.state.lock().unwrap().comments[0].2 = "✅ approved by @mona".into();
    let body = comment_edited(&s, id, &ours, "✅ approved by @mona", "root");
    s.app.github("issue_comment", "edit-1", &body).await;
    s.app.drain().await;
    assert_eq!(s.comment(), ours, "edited in place, not a second comment");
}

#[tokio::test]
async fn an_edit_without_a_webhook_is_found_in_the_listing_and_undone() {
    let s = waiting_minor().await;
    let (id, ours) = forge_github_comment(&s);
    // The edit's webhook never came; the next reconcile pass reads the listing.
    let rules = s.app.worker.rules.read().unwrap().clone();
    let client = &s.app.worker.forges.get(Forge::Github).unwrap().client;
    let repo = RepoPath::new("acme/platypus");
    s.gh.clear_calls();
    let pass = changegate::reconcile::pass(&s.app.store, client, &rules, Forge::Github, &repo)
        .await
        .unwrap();
    assert_eq!(pass.queued.len(), 1, "{pass:?}");
    s.app.drain().await;
    assert!(
        s.gh.calls()
            .contains(&"GET /repos/acme/platypus/issues/7/comments".to_string()),
        "{:?}",
        s.gh.calls()
    );
    assert_eq!(s.comment(), ours);
    assert_eq!(
        s.gh.writes(),
        vec![format!("PATCH /repos/acme/platypus/issues/comments/{id}")]
    );
}

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

/// GitLab's Note Hook example (a note on a merge request), moved to acme/platypus!3: `by`
/// acted on note `id` with `action` (`update`: GitLab 16.11 and later), which now reads `note`.
fn note_hook(gl: &GitlabWorld, id: u64, note: &str, action: &str, by: &str) -> Vec<u8> {
    let path = corpus_dir().join("gitlab/note.merge_request.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let labels: Vec<Value> = gl
        .labels(3)
        .iter()
        .map(|l| json!({ "id": 1, "title": l }))
        .collect();
    v["user"] = json!({ "id": user_id(by), "username": by, "name": by });
    v["project_id"] = json!(PROJECT_ID);
    v["project"]["id"] = json!(PROJECT_ID);
    v["project"]["path_with_namespace"] = json!("acme/platypus");
    let oa = &mut v["object_attributes"];
    oa["id"] = json!(id);
    oa["note"] = json!(note);
    oa["action"] = json!(action);
    oa["author_id"] = json!(user_id(gitlab_world::BOT));
    oa["project_id"] = json!(PROJECT_ID);
    let mr = &mut v["merge_request"];
    mr["iid"] = json!(3);
    mr["author_id"] = json!(user_id("alice"));
    mr["last_commit"]["id"] = json!(SHA);
    mr["labels"] = json!(labels);
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn an_admins_edit_of_the_sticky_note_on_gitlab_is_undone() {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    gl.add_label(3, "CMT::Minor", "alice");
    let body = note_hook(&gl, 1, "classified", "create", "alice");
    app.gitlab("Note Hook", "n1", &body).await;
    app.drain().await;
    let ours = gl.notes(3);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].contains("not ready to merge"), "{}", ours[0]);
    let id = {
        let mut state = gl.state.lock().unwrap();
        let n = state.notes.iter_mut().find(|n| n.1 == 3).unwrap();
        n.2 = FORGED.into();
        n.0
    };
    gl.clear_calls();
    let body = note_hook(&gl, id, FORGED, "update", "root");
    let (status, _) = app.gitlab("Note Hook", "n2", &body).await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
    assert_eq!(gl.notes(3), ours);
    assert_eq!(
        gl.writes(),
        vec![format!(
            "PUT /api/v4/projects/42/merge_requests/3/notes/{id}"
        )]
    );
}
