//! People by id (issue 22, item 11): static approvers are accounts, not logins. A login is
//! resolved to its account's id when changegate first reads the rules naming it and kept; an
//! id is matched whatever the account's login. End to end on the fake GitHub.

mod common;

use common::github_setup::*;
use std::sync::{Arc, RwLock};

/// A minor change needs a manager: `managers` lists pam by login and dana by id.
const RULES: &str = r#"version: 1
enforce:
  - {}
scopes:
  - name: CMT
    values: [Minor]
approver_groups:
  - name: managers
    users: {github: [pam, ghost], github_ids: [202]}
approvals:
  - name: manager
    title: Manager approval
    label: "Manager::Approved"
    approvers: managers
rules:
  - name: classify
    when: {no_scope: [CMT]}
    block: true
  - name: minor
    when: {labels: ["CMT::Minor"]}
    require: [manager]
"#;

async fn managed() -> Setup {
    let mut s = setup().await;
    s.app.worker.rules = Arc::new(RwLock::new(Arc::new(
        changegate::rules::parse("rules.yaml", RULES).expect("valid rules"),
    )));
    {
        let mut state = s.gh.state.lock().unwrap();
        state.accounts.push(("pam".into(), Some(101)));
        state.accounts.push(("dana".into(), Some(202)));
        state.accounts.push(("ghost".into(), None));
    }
    // The rules are read (pam resolves to 101, ghost to no account) at the first evaluation.
    s.apply_label("alice", "CMT::Minor").await;
    assert!(
        s.gh.calls().contains(&"GET /users/pam".to_string()),
        "{:?}",
        s.gh.calls()
    );
    assert_eq!(s.status_of(H1).0, "failure");
    s
}

/// `login`, once `from`, is account `id` from now on.
fn rename(s: &Setup, from: Option<&str>, login: &str, id: u64) {
    let mut state = s.gh.state.lock().unwrap();
    if let Some(from) = from {
        state.accounts.push((from.into(), None));
    }
    state.accounts.push((login.into(), Some(id)));
}

#[tokio::test]
async fn a_login_taken_over_by_another_account_approves_nothing() {
    let s = managed().await;
    // pam renames herself pam-old; account 999 renames itself pam and applies the label.
    rename(&s, Some("pam"), "pam-old", 101);
    rename(&s, None, "pam", 999);
    s.gh.clear_calls();
    s.apply_label("pam", "Manager::Approved").await;
    assert!(
        !s.gh.calls().iter().any(|c| c.starts_with("GET /users/")),
        "the login is not resolved again: {:?}",
        s.gh.calls()
    );
    assert_eq!(s.status_of(H1).0, "failure");
    let c = s.comment();
    assert!(
        c.contains("@pam applied `Manager::Approved` but is not in the approver group `managers`"),
        "{c}"
    );
    // The account the rules meant approves under its new login.
    s.remove_label("alice", "Manager::Approved").await;
    s.apply_label("pam-old", "Manager::Approved").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
}

#[tokio::test]
async fn an_account_listed_by_id_approves_after_a_rename() {
    let s = managed().await;
    rename(&s, Some("dana"), "dana-renamed", 202);
    s.apply_label("dana-renamed", "Manager::Approved").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
}

#[tokio::test]
async fn a_login_no_account_has_approves_nothing_and_the_comment_says_so() {
    let s = managed().await;
    let c = s.comment();
    assert!(
        c.contains(
            "The rules list `ghost` as an approver, but no GitHub account had that username"
        ),
        "{c}"
    );
    // Someone registers `ghost` later: still nothing.
    rename(&s, None, "ghost", 303);
    s.apply_label("ghost", "Manager::Approved").await;
    assert_eq!(s.status_of(H1).0, "failure");
}

#[tokio::test]
async fn logins_are_bound_when_the_rules_load_before_any_change_needs_them() {
    let mut s = setup().await;
    s.app.worker.rules = Arc::new(RwLock::new(Arc::new(
        changegate::rules::parse("rules.yaml", RULES).expect("valid rules"),
    )));
    s.gh.state
        .lock()
        .unwrap()
        .accounts
        .push(("pam".into(), Some(101)));
    let binder = tokio::spawn(
        s.app
            .worker
            .clone()
            .bind_rules_logins(std::time::Duration::from_millis(10)),
    );
    let start = std::time::Instant::now();
    let resolved = loop {
        let known = s
            .app
            .store
            .resolved_logins(changegate::model::Forge::Github)
            .await
            .unwrap();
        if known.len() == 2 || start.elapsed() > std::time::Duration::from_secs(10) {
            break known;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    binder.abort();
    assert_eq!(resolved.get("pam"), Some(&Some(101)), "{resolved:?}");
    // Before any change was evaluated, pam's login passed to account 999.
    rename(&s, Some("pam"), "pam-old", 101);
    rename(&s, None, "pam", 999);
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.apply_label("pam", "Manager::Approved").await;
    assert_eq!(s.status_of(H1).0, "failure", "{}", s.comment());
}

#[tokio::test]
async fn on_gitlab_a_listed_username_is_resolved_by_the_users_api_and_matched_by_id() {
    use common::gitlab_world::{GitlabWorld, user_id};
    const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    let gl = GitlabWorld::start().await;
    gl.open_mr(3, "alice", SHA);
    let mut app = common::TestApp::with_forges(None, Some(&gl.url())).await;
    app.worker.rules = Arc::new(RwLock::new(Arc::new(
        changegate::rules::parse(
            "rules.yaml",
            &RULES.replace("github: [pam, ghost]", "gitlab: [pam]"),
        )
        .expect("valid rules"),
    )));
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "Manager::Approved", "pam");
    let path = common::corpus_dir().join("gitlab/merge_request.update.1.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["user"] = serde_json::json!({ "id": user_id("pam"), "username": "pam", "name": "pam" });
    v["project"]["id"] = serde_json::json!(common::gitlab_world::PROJECT_ID);
    v["project"]["path_with_namespace"] = serde_json::json!("acme/platypus");
    let oa = &mut v["object_attributes"];
    oa["iid"] = serde_json::json!(3);
    oa["author_id"] = serde_json::json!(user_id("alice"));
    oa["last_commit"]["id"] = serde_json::json!(SHA);
    app.gitlab("Merge Request Hook", "u1", &serde_json::to_vec(&v).unwrap())
        .await;
    app.drain().await;
    assert!(
        gl.calls().iter().any(|c| c == "GET /api/v4/users"),
        "{:?}",
        gl.calls()
    );
    let resolved = app
        .store
        .resolved_logins(changegate::model::Forge::Gitlab)
        .await
        .unwrap();
    assert_eq!(resolved.get("pam"), Some(&Some(user_id("pam"))));
    assert_eq!(gl.status(SHA).unwrap().0, "success");
}
