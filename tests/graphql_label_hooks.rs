//! GitHub's `label` webhook (GitHub's own example payloads, moved to acme/platypus) records
//! nothing: a signed payload never binds a name to a label node id, nor keeps changegate from
//! recording a repository's labels from the API when it first sees it.

mod common;

use common::github_setup::*;
use serde_json::{Value, json};

const MANAGER: &str = "BT Integration Manager::Approved";

/// GitHub's `label` example for `action`, naming label `name` (node id `id`) of acme/platypus.
fn label_hook(action: &str, name: &str, id: &str) -> Value {
    let file = format!("github/label.{action}.1.json");
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(common::corpus_dir().join(file)).unwrap()).unwrap();
    v["label"]["name"] = json!(name);
    v["label"]["node_id"] = json!(id);
    v["repository"]["full_name"] = json!("acme/platypus");
    v["repository"]["name"] = json!("platypus");
    v
}

async fn send(s: &Setup, delivery: &str, hook: &Value) -> (u16, String) {
    let (status, body) = s
        .app
        .github("label", delivery, &serde_json::to_vec(hook).unwrap())
        .await;
    (
        status.as_u16(),
        body["status"].as_str().unwrap_or("").to_string(),
    )
}

/// A repository changegate already saw, whose labels then did not include the approval label.
async fn seen_without_the_approval_label() -> Setup {
    let s = at("2026-11-02T10:00:00Z").await;
    s.gh.enable_graphql();
    s.gh.add_label(7, "team::docs", "alice");
    s.deliver("labeled", Some("team::docs"), "alice", "d0")
        .await;
    move_to(&s, "2026-11-02T10:05:00Z").await;
    s
}

async fn recorded(s: &Setup) -> Vec<(String, String)> {
    s.app
        .store
        .seen_label_nodes("github:acme/platypus")
        .await
        .unwrap()
}

/// Someone holding the webhook secret signs a `created` hook binding the approval label's name
/// to another label's node id, in a repository changegate has not seen: nothing is recorded,
/// and the first sight still records the repository's labels as GitHub names them.
#[tokio::test]
async fn a_signed_label_hook_binds_nothing_and_the_first_sight_still_happens() {
    let s = at("2026-11-02T10:00:00Z").await;
    s.gh.enable_graphql();
    s.gh.state.lock().unwrap().label_nodes.extend([
        ("LA_real".into(), MANAGER.into()),
        ("LA_docs".into(), "docs".into()),
    ]);
    let hook = label_hook("created", MANAGER, "LA_docs");
    assert_eq!(send(&s, "l1", &hook).await, (202, "ignored".into()));
    assert_eq!(recorded(&s).await, vec![]);
    s.gh.add_label(7, "team::docs", "alice");
    s.deliver("labeled", Some("team::docs"), "alice", "d0")
        .await;
    let rows = recorded(&s).await;
    assert!(
        rows.contains(&(MANAGER.into(), "LA_real".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("docs".into(), "LA_docs".into())),
        "{rows:?}"
    );
}

/// A label created after changegate first saw the repository: the hook records nothing; the
/// first application is judged from REST's history (names as applied) and counts.
#[tokio::test]
async fn a_label_created_later_counts_from_the_history_as_applied() {
    let s = seen_without_the_approval_label().await;
    s.gh.state
        .lock()
        .unwrap()
        .label_nodes
        .push(("LA_created".into(), MANAGER.into()));
    let hook = label_hook("created", MANAGER, "LA_created");
    assert_eq!(send(&s, "l1", &hook).await, (202, "ignored".into()));
    assert!(!recorded(&s).await.iter().any(|(n, _)| n == MANAGER));
    move_to(&s, "2026-11-02T10:10:00Z").await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, MANAGER, "mona");
    s.gh.clear_calls();
    s.deliver("labeled", Some(MANAGER), "mona", "d1").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    assert!(
        s.gh.calls().iter().any(|c| c.contains("/issues/7/events")),
        "the history as applied was read: {:#?}",
        s.gh.calls()
    );
}

/// mona applied `docs`; an admin renames it to the approval label. Neither the `edited` hook
/// nor a signed `created` under the new name records anything, and mona's application of
/// `docs` approves nothing.
#[tokio::test]
async fn a_renamed_label_hook_records_nothing_and_the_old_application_does_not_approve() {
    let s = seen_without_the_approval_label().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "docs", "mona");
    let id =
        s.gh.state
            .lock()
            .unwrap()
            .label_nodes
            .iter()
            .find(|(_, n)| n == "docs")
            .map(|(i, _)| i.clone())
            .unwrap();
    s.gh.rename_label("docs", MANAGER);
    let before = recorded(&s).await;
    let mut hook = label_hook("edited", MANAGER, &id);
    hook["changes"] = json!({ "name": { "from": "docs" } });
    assert_eq!(send(&s, "l1", &hook).await, (202, "ignored".into()));
    let created = label_hook("created", MANAGER, &id);
    assert_eq!(send(&s, "l2", &created).await, (202, "ignored".into()));
    assert_eq!(recorded(&s).await, before);

    move_to(&s, "2026-11-02T10:10:00Z").await;
    s.deliver("edited", None, "alice", "d1").await;
    assert_eq!(s.status_of(H1).0, "failure", "{}", s.comment());
}

#[tokio::test]
async fn a_deleted_label_records_nothing() {
    let s = seen_without_the_approval_label().await;
    let before = recorded(&s).await;
    let hook = label_hook("deleted", MANAGER, "LA_gone");
    assert_eq!(send(&s, "l1", &hook).await, (202, "ignored".into()));
    assert_eq!(recorded(&s).await, before);
}
