//! GitLab label renames (issue 22, item 9): resource label events name a label by id and show
//! its current name, so renaming a label a manager once applied into the manager's approval
//! label must not approve. The fake GitLab renames labels as `PUT /projects/:id/labels/:label_id`
//! with `new_name` documents it.

mod common;

use common::gitlab_world::GitlabWorld;
use common::*;

const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const SHA4: &str = "4441560886d4f094c3e6c9ef40349f7d38b5d27d";
const APPROVED: &str = "BT Integration Manager::Approved";

async fn world() -> (TestApp, GitlabWorld) {
    let gl = GitlabWorld::start().await;
    gl.member("acme/bt-integration-managers", "mona");
    gl.open_mr(3, "alice", SHA);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    (app, gl)
}

async fn deliver(app: &TestApp, gl: &GitlabWorld, iid: u64, actor: &str, delivery: &str) {
    let (status, _) = app
        .gitlab(
            "Merge Request Hook",
            delivery,
            &gl.hook_of(iid, "update", actor, None),
        )
        .await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
}

/// Someone who may edit the project's labels renames one through the API.
async fn rename(gl: &GitlabWorld, from: &str, to: &str) {
    let id = gl.label_id(from);
    let reply = reqwest::Client::new()
        .put(format!("{}/api/v4/projects/42/labels/{id}", gl.url()))
        .header("private-token", "someone-with-label-rights")
        .json(&serde_json::json!({ "new_name": to }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
}

#[tokio::test]
async fn a_label_renamed_into_the_approval_label_does_not_approve() {
    let (app, gl) = world().await;
    gl.add_label(3, "CMT::Minor", "alice");
    // mona, a manager, applies an unrelated team label; changegate sees it.
    gl.add_label(3, "team::infra", "mona");
    deliver(&app, &gl, 3, "mona", "d1").await;
    assert_eq!(gl.status(SHA).unwrap().0, "failed");
    // The label is renamed: every event of it now reads as mona applying the approval.
    rename(&gl, "team::infra", APPROVED).await;
    assert!(gl.labels(3).contains(&APPROVED.to_string()));
    deliver(&app, &gl, 3, "alice", "d2").await;
    let (state, _, description) = gl.status(SHA).unwrap();
    assert_eq!(state, "failed", "{description}");
    let note = gl.notes(3).join("\n");
    assert!(
        note.contains(
            "was `team::infra` when changegate first saw it (id 101) and was renamed `BT Integration Manager::Approved` since"
        ),
        "{note}"
    );
    // The approval given again with the project's label counts.
    gl.remove_label(3, APPROVED, "alice");
    rename(&gl, APPROVED, "team::infra").await;
    gl.add_label(3, APPROVED, "mona");
    deliver(&app, &gl, 3, "mona", "d3").await;
    assert_eq!(gl.status(SHA).unwrap().0, "success");
}

#[tokio::test]
async fn another_label_given_the_approval_labels_name_does_not_approve() {
    let (app, gl) = world().await;
    // changegate knows the real approval label from !4.
    gl.open_mr(4, "bob", SHA4);
    gl.add_label(4, "CMT::Minor", "bob");
    gl.add_label(4, APPROVED, "mona");
    deliver(&app, &gl, 4, "mona", "d4").await;
    assert_eq!(gl.status(SHA4).unwrap().0, "success");
    // On !3, mona once applied a label changegate never saw under its old name.
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "team::infra", "mona");
    // The real label is renamed away, and the team label takes its name.
    rename(&gl, APPROVED, "BT Integration Manager::Approved (old)").await;
    rename(&gl, "team::infra", APPROVED).await;
    deliver(&app, &gl, 3, "alice", "d3").await;
    assert_eq!(gl.status(SHA).unwrap().0, "failed");
    let note = gl.notes(3).join("\n");
    assert!(
        note.contains(
            "but changegate first saw `BT Integration Manager::Approved` as label id 101"
        ),
        "{note}"
    );
}

#[tokio::test]
async fn a_label_renamed_before_any_event_showed_it_is_known_from_the_projects_labels() {
    let (app, gl) = world().await;
    // mona applies the team label on !3; changegate receives nothing for !3 yet.
    gl.add_label(3, "CMT::Minor", "alice");
    gl.add_label(3, "team::infra", "mona");
    // changegate first sees the project through !4: it remembers the project's labels.
    gl.open_mr(4, "bob", SHA4);
    deliver(&app, &gl, 4, "bob", "d4").await;
    rename(&gl, "team::infra", APPROVED).await;
    deliver(&app, &gl, 3, "alice", "d3").await;
    assert_eq!(gl.status(SHA).unwrap().0, "failed");
    let note = gl.notes(3).join("\n");
    assert!(
        note.contains("was `team::infra` when changegate first saw it"),
        "{note}"
    );
}
