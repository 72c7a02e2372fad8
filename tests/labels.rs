//! `changegate labels`: lists every label the rules use against the repository's, changes
//! nothing without `--apply`, and with it creates the missing ones and corrects the others.

mod common;

use common::github_world::GithubWorld;
use std::process::Command;

async fn labels(world: &GithubWorld, apply: bool) -> (i32, String, String) {
    let url = world.url();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_changegate"));
        cmd.args(["labels", "--forge", "github", "--repo", "acme/platypus"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CHANGEGATE__GITHUB__API_URL", url)
            .env("CHANGEGATE__GITHUB__TOKEN", "gh-token")
            .env("CHANGEGATE__RULES__PATH", "rules.yaml");
        if apply {
            cmd.arg("--apply");
        }
        cmd.output().expect("binary runs")
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_listed_dry_and_synced_with_apply() {
    let world = GithubWorld::start().await;
    world.state.lock().unwrap().repo_labels = vec![
        ("cmt::minor".into(), "000000".into(), None),
        (
            "bug".into(),
            "d73a4a".into(),
            Some("Something isn't working".into()),
        ),
    ];
    let wanted = changegate::label_sync::wanted(
        &changegate::rules::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules.yaml"
        )))
        .unwrap(),
    );

    let (code, out, err) = labels(&world, false).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), wanted.len(), "{out}");
    assert!(out.contains("would update\tCMT::Minor\t#"), "{out}");
    assert!(
        out.contains("would create\tPeer Approval::Approved\t#"),
        "{out}"
    );
    assert!(err.contains("--apply"), "{err}");
    let calls = world.state.lock().unwrap().calls.clone();
    assert!(
        calls.iter().all(|c| c.starts_with("GET ")),
        "a dry run only reads: {calls:?}"
    );

    let (code, out, err) = labels(&world, true).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created\tPeer Approval::Approved"), "{out}");
    assert!(out.contains("updated\tCMT::Minor"), "{out}");
    let repo = world.state.lock().unwrap().repo_labels.clone();
    let minor = repo
        .iter()
        .find(|l| l.0 == "CMT::Minor")
        .expect("renamed to the rules' case");
    assert_eq!(minor.1, changegate::label_sync::scope_color("CMT"));
    assert_eq!(minor.2.as_deref(), Some("Change classification: Minor"));
    assert!(
        repo.iter().any(|l| l.0 == "bug"),
        "other labels are left alone"
    );
    assert_eq!(repo.len(), wanted.len() + 1);

    // In sync: a second run has nothing to do.
    let (code, out, _) = labels(&world, false).await;
    assert_eq!(code, 0);
    assert!(out.lines().all(|l| l.starts_with("ok\t")), "{out}");
}

#[test]
fn labels_without_a_token_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["labels", "--forge", "gitlab", "--repo", "g/p"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CHANGEGATE__GITLAB__TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no GitLab token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gitlab_labels_are_created_and_updated_by_id_and_group_labels_left_alone() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/acme%2Fplatypus/labels"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"id": 5, "name": "CMT::Minor", "color": "#000000", "description": null, "is_project_label": true},
            {"id": 6, "name": "Financially Significant", "color": "#ff0000", "description": null, "is_project_label": false}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/acme%2Fplatypus/labels"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v4/projects/acme%2Fplatypus/labels/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    let url = server.uri();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_changegate"))
            .args([
                "labels",
                "--forge",
                "gitlab",
                "--repo",
                "acme/platypus",
                "--apply",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CHANGEGATE__GITLAB__URL", url)
            .env("CHANGEGATE__GITLAB__TOKEN", "gl-token")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("updated\tCMT::Minor"), "{stdout}");
    assert!(
        stdout.contains("ok\tFinancially Significant") && stdout.contains("parent group"),
        "{stdout}"
    );
    let requests = server.received_requests().await.unwrap();
    let put = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .expect("an update");
    let body: serde_json::Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(
        body["color"],
        format!("#{}", changegate::label_sync::scope_color("CMT"))
    );
    let created: Vec<serde_json::Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(
        created
            .iter()
            .any(|b| b["name"] == "Peer Approval::Approved"
                && b["color"].as_str().unwrap().starts_with('#')),
        "{created:?}"
    );
    assert!(
        created
            .iter()
            .all(|b| b["name"] != "Financially Significant")
    );
}
