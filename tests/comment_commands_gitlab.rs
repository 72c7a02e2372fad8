//! Comment commands end to end on the fake GitLab: Note Hooks (the corpus payload moved to
//! acme/platypus!3) through the real router, store and worker. GitLab sends no webhook when a
//! note is deleted: the next evaluation finds it.

mod common;

use common::gitlab_world::GitlabWorld;
use common::*;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const SHA2: &str = "2222222222222222222222222222222222222222";
const MANAGER: &str = "BT Integration Manager::Approved";

struct Setup {
    app: TestApp,
    gl: GitlabWorld,
}

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// acme/platypus!3 by alice, classified Minor (it needs the manager's approval); the bot's
/// clock and the fake's history run from the same time.
async fn minor() -> Setup {
    let gl = GitlabWorld::start().await;
    for (group, who) in [
        ("acme/business-owners", "olivia"),
        ("acme/integrations-team", "peter"),
        ("acme/integrations-team", "pam"),
        ("acme/integrations-team", "alice"),
        ("acme/bt-integration-managers", "mona"),
    ] {
        gl.member(group, who);
    }
    let now = "2026-02-10T09:00:00Z";
    gl.set_time(now);
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges_at(
        None,
        Some(&gl.url()),
        changegate::clock::Clock::manual(t(now)),
    )
    .await;
    let s = Setup { app, gl };
    s.gl.add_label(3, "CMT::Minor", "alice");
    s.mr_event("update", "alice", None).await;
    assert_eq!(s.state(SHA), "failed");
    s
}

impl Setup {
    async fn mr_event(&self, action: &str, actor: &str, oldrev: Option<&str>) {
        let body = self.gl.hook_of(3, action, actor, oldrev);
        let (status, _) = self
            .app
            .gitlab("Merge Request Hook", &delivery(), &body)
            .await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    async fn note_event(&self, id: u64, action: &str, actor: &str) {
        let body = self.gl.note_hook(3, id, action, actor);
        let (status, _) = self.app.gitlab("Note Hook", &delivery(), &body).await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// Delivers a Note Hook as given.
    async fn deliver_note(&self, hook: &serde_json::Value) {
        let body = serde_json::to_vec(hook).unwrap();
        let (status, _) = self.app.gitlab("Note Hook", &delivery(), &body).await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// `who` writes `body` on !3; the Note Hook follows.
    async fn say(&self, who: &str, body: &str) -> u64 {
        let id = self.gl.post_note(3, who, body);
        self.note_event(id, "create", who).await;
        id
    }

    fn state(&self, sha: &str) -> String {
        self.gl.status(sha).expect("a status").0
    }

    fn sticky(&self) -> String {
        self.gl
            .notes(3)
            .into_iter()
            .find(|n| n.starts_with(changegate::comment::MARKER))
            .expect("the sticky note")
    }

    async fn move_to(&self, now: &str) {
        self.app.clock.set(t(now));
        self.gl.set_time(now);
    }
}

fn delivery() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("note-{}", N.fetch_add(1, Ordering::Relaxed))
}

#[tokio::test]
async fn a_manager_approves_by_note_and_the_merge_request_passes() {
    let s = minor().await;
    let id = s
        .say("mona", "Fine by me.\n/changegate approve manager")
        .await;
    assert_eq!(s.state(SHA), "success", "{}", s.sticky());
    assert!(s.gl.labels(3).contains(&MANAGER.to_string()));
    assert_eq!(s.gl.awards(), vec![(id, "thumbsup".to_string())]);
    assert!(s.sticky().contains("(by comment)"));
}

#[tokio::test]
async fn the_authors_note_is_refused_with_the_reason() {
    let s = minor().await;
    s.say("alice", "/changegate approve manager").await;
    assert_eq!(s.state(SHA), "failed");
    assert!(
        s.sticky().contains("is the author of this change"),
        "{}",
        s.sticky()
    );
}

#[tokio::test]
async fn a_deleted_note_is_found_at_the_next_evaluation() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.state(SHA), "success");
    s.gl.delete_note(id);
    // No webhook for the deletion; the next event's evaluation reads the note back.
    s.gl.add_label(3, "bug", "alice");
    s.mr_event("update", "alice", None).await;
    assert_eq!(s.state(SHA), "failed", "{}", s.sticky());
    assert!(!s.gl.labels(3).contains(&MANAGER.to_string()));
}

#[tokio::test]
async fn a_note_edited_by_someone_else_loses_its_approval() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.state(SHA), "success");
    s.gl.edit_note(id, "/changegate approve manager\nedited by an admin");
    s.note_event(id, "update", "peter").await;
    assert_eq!(s.state(SHA), "failed");
}

#[tokio::test]
async fn an_edit_whose_hook_was_lost_is_found_before_passing() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    s.gl.edit_note(id, "/changegate approve manager\nsomething else");
    s.gl.add_label(3, "bug", "alice");
    s.mr_event("update", "alice", None).await;
    assert_eq!(s.state(SHA), "failed");
}

#[tokio::test]
async fn a_push_resets_a_peer_approval_given_by_note() {
    let s = minor().await;
    s.gl.add_label(3, "CMT::Standard", "alice");
    s.mr_event("update", "alice", None).await;
    s.move_to("2026-02-10T09:30:00Z").await;
    s.say("pam", "/changegate approve peer").await;
    s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.state(SHA), "success", "{}", s.sticky());
    s.move_to("2026-02-10T10:00:00Z").await;
    s.gl.push(3, SHA2);
    s.mr_event("update", "alice", Some(SHA)).await;
    assert_eq!(s.state(SHA2), "failed", "{}", s.sticky());
    s.move_to("2026-02-10T10:30:00Z").await;
    s.say("pam", "/changegate approve peer").await;
    assert_eq!(s.state(SHA2), "success", "{}", s.sticky());
}

#[tokio::test]
async fn a_lost_note_hook_counts_after_reconcile() {
    let s = minor().await;
    s.gl.post_note(3, "mona", "/changegate approve manager");
    let rules = shipped_rules();
    let rules = rules.read().unwrap().clone();
    let client = changegate::forge::gitlab::GitlabClient::new(
        &s.gl.url(),
        "t",
        changegate::forge::RetryPolicy::default(),
    )
    .unwrap();
    changegate::reconcile::pass(
        &s.app.store,
        &client,
        &rules,
        changegate::model::Forge::Gitlab,
        &changegate::model::RepoPath::new("acme/platypus"),
    )
    .await
    .unwrap();
    s.app.drain().await;
    assert_eq!(s.state(SHA), "success", "{}", s.sticky());
}

#[tokio::test]
async fn system_notes_and_bot_users_are_ignored() {
    let s = minor().await;
    let id =
        s.gl.post_note(3, "project_42_bot_1a2b", "/changegate approve manager");
    s.note_event(id, "create", "project_42_bot_1a2b").await;
    assert_eq!(s.state(SHA), "failed");
    assert!(s.gl.awards().is_empty());
}

#[tokio::test]
async fn service_accounts_and_service_desk_emails_are_ignored_whatever_their_names() {
    let s = minor().await;
    s.gl.member("acme/bt-integration-managers", "release-robot");
    // A service account with a custom name: the Note Hook's `user` says `bot`.
    let id =
        s.gl.post_note(3, "release-robot", "/changegate approve manager");
    let mut hook: serde_json::Value =
        serde_json::from_slice(&s.gl.note_hook(3, id, "create", "release-robot")).unwrap();
    hook["user"]["bot"] = serde_json::json!(true);
    s.deliver_note(&hook).await;
    assert_eq!(s.state(SHA), "failed");
    assert!(s.gl.awards().is_empty());
    assert!(s.sticky().contains("a bot account"), "{}", s.sticky());
    // An e-mail through the Service Desk carrying a manager's command.
    let id = s.gl.post_note(3, "mona", "/changegate approve manager");
    let mut hook: serde_json::Value =
        serde_json::from_slice(&s.gl.note_hook(3, id, "create", "mona")).unwrap();
    hook["object_attributes"]["external_author"] = serde_json::json!("mona@example.com");
    s.deliver_note(&hook).await;
    assert_eq!(s.state(SHA), "failed");
    assert!(s.sticky().contains("Service Desk"), "{}", s.sticky());
    assert!(!s.gl.labels(3).contains(&MANAGER.to_string()));
}

#[tokio::test]
async fn a_custom_named_service_account_is_found_through_the_notes_api() {
    let s = minor().await;
    s.gl.member("acme/bt-integration-managers", "release-automation");
    // The Note Hook's `user` has no `bot` or `user_type`; the notes API's `author` does.
    let id =
        s.gl.post_note(3, "release-automation", "/changegate approve manager");
    s.gl.note_by_service_account(id);
    s.note_event(id, "create", "release-automation").await;
    assert_eq!(s.state(SHA), "failed", "{}", s.sticky());
    assert!(!s.gl.labels(3).contains(&MANAGER.to_string()));
    assert!(s.sticky().contains("GitLab's API says"), "{}", s.sticky());
}

#[tokio::test]
async fn a_note_the_api_will_not_show_gives_nothing() {
    let s = minor().await;
    let id = s.gl.post_note(3, "mona", "/changegate approve manager");
    s.gl.fail_next(
        &format!("GET /api/v4/projects/42/merge_requests/3/notes/{id}"),
        wiremock::ResponseTemplate::new(403),
    );
    s.note_event(id, "create", "mona").await;
    assert_eq!(s.state(SHA), "failed", "{}", s.sticky());
    assert!(!s.gl.labels(3).contains(&MANAGER.to_string()));
    assert!(
        s.sticky()
            .contains("could not read the note through GitLab's API"),
        "{}",
        s.sticky()
    );
}

#[tokio::test]
async fn an_approval_whose_author_the_api_later_shows_as_a_service_account_is_withdrawn() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.state(SHA), "success", "{}", s.sticky());
    // What the API says of the note's author now: a service account.
    s.gl.note_by_service_account(id);
    s.mr_event("update", "alice", None).await;
    assert_eq!(s.state(SHA), "failed", "{}", s.sticky());
    assert!(!s.gl.labels(3).contains(&MANAGER.to_string()));
}

/// Whether `path` (no `/api/v4`) matches a line of the contract list: a template whose
/// `{…}` is one segment, optionally followed by one object id, or an object action.
fn in_contract_list(list: &str, path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let fits = |template: &str, segs: &[&str]| {
        let t: Vec<&str> = template.trim_matches('/').split('/').collect();
        t.len() == segs.len()
            && t.iter()
                .zip(segs)
                .all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
    };
    let templates: Vec<&str> = list.lines().filter_map(|l| l.strip_prefix("T ")).collect();
    let actions: Vec<&str> = list.lines().filter_map(|l| l.strip_prefix("A ")).collect();
    templates.iter().any(|t| {
        fits(t, &segs)
            || (segs.len() > 1 && fits(t, &segs[..segs.len() - 1]))
            || actions.iter().any(|a| {
                let n = a.split('/').count();
                segs.len() > n + 1
                    && segs[segs.len() - n..].join("/") == *a
                    && fits(t, &segs[..segs.len() - n - 1])
            })
    })
}

#[tokio::test]
async fn every_gitlab_call_is_in_the_contract_list() {
    // tests/fixtures/gitlab-paths.txt: the REST v4 paths python-gitlab knows (see
    // tests/fixtures/README.md).
    let list = std::fs::read_to_string(corpus_dir().join("gitlab-paths.txt")).unwrap();
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    s.gl.edit_note(id, "/changegate approve manager\n(edited)");
    s.note_event(id, "update", "mona").await;
    s.gl.add_label(3, "bug", "alice");
    s.mr_event("update", "alice", None).await;
    let calls = s.gl.calls();
    for needed in [
        "GET /api/v4/projects/42/merge_requests/3/notes/",
        "POST /api/v4/projects/42/merge_requests/3/notes/",
    ] {
        assert!(
            calls.iter().any(|c| c.starts_with(needed)),
            "{needed}: {calls:?}"
        );
    }
    // The fake records paths decoded: a group's full path (one encoded segment on the wire)
    // splits into several, so group calls are left to their own tests.
    for call in calls.iter().filter(|c| c.contains("/api/v4/projects/")) {
        let (method, path) = call.split_once(' ').unwrap();
        assert_ne!(method, "PATCH", "{call}");
        let path = path.strip_prefix("/api/v4").unwrap();
        assert!(
            in_contract_list(&list, path),
            "{call} is not in the contract list"
        );
    }
}
