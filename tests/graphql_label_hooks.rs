//! GitHub's `label` webhook records a label's node id (GitHub's own example payloads, moved to
//! acme/platypus): a label created before its first application counts through GraphQL with no
//! REST history read, and a rename binds the id to the name it had, never to the new one.

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

#[tokio::test]
async fn a_label_created_before_its_first_application_counts_through_graphql() {
    let s = seen_without_the_approval_label().await;
    // An admin creates the approval label; GitHub sends `label.created`.
    s.gh.state
        .lock()
        .unwrap()
        .label_nodes
        .push(("LA_created".into(), MANAGER.into()));
    let hook = label_hook("created", MANAGER, "LA_created");
    assert_eq!(send(&s, "l1", &hook).await, (202, "recorded".into()));
    assert!(
        recorded(&s)
            .await
            .contains(&(MANAGER.into(), "LA_created".into()))
    );
    move_to(&s, "2026-11-02T10:10:00Z").await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, MANAGER, "mona");
    s.gh.clear_calls();
    s.deliver("labeled", Some(MANAGER), "mona", "d1").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", s.comment());
    assert!(
        !s.gh.calls().iter().any(|c| c.contains("/issues/7/events")),
        "no REST history read: {:#?}",
        s.gh.calls()
    );
}

/// mona applied `docs`; an admin renames it to the approval label. The `label.edited` webhook
/// records the id by the name it had (`changes.name.from`): the old application approves
/// nothing, and neither a replayed `created` under the new name rebinds the id.
#[tokio::test]
async fn a_renamed_label_stays_bound_to_its_first_name() {
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
    let mut hook = label_hook("edited", MANAGER, &id);
    hook["changes"] = json!({ "name": { "from": "docs" } });
    assert_eq!(send(&s, "l1", &hook).await, (202, "recorded".into()));
    let created = label_hook("created", MANAGER, &id);
    assert_eq!(send(&s, "l2", &created).await, (202, "recorded".into()));
    let rows = recorded(&s).await;
    assert!(rows.contains(&("docs".into(), id.clone())), "{rows:?}");
    assert!(!rows.iter().any(|(n, _)| n == MANAGER), "{rows:?}");

    move_to(&s, "2026-11-02T10:10:00Z").await;
    s.gh.clear_calls();
    s.deliver("edited", None, "alice", "d1").await;
    assert_eq!(s.status_of(H1).0, "failure", "{}", s.comment());
    assert!(
        s.comment()
            .contains("was `docs` when changegate first saw it"),
        "{}",
        s.comment()
    );
}

#[tokio::test]
async fn a_deleted_label_records_nothing() {
    let s = seen_without_the_approval_label().await;
    let before = recorded(&s).await;
    let hook = label_hook("deleted", MANAGER, "LA_gone");
    assert_eq!(send(&s, "l1", &hook).await, (202, "ignored".into()));
    assert_eq!(recorded(&s).await, before);
}
