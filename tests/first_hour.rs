//! A newcomer's trial: a dry run's statuses carry their details page's link (logged and on
//! record), and `changegate link` prints a fresh one that opens that page.

mod common;

use common::*;
use std::process::Command;
use std::sync::Arc;

#[tokio::test]
async fn a_dry_run_status_keeps_its_details_link_in_the_audit_record() {
    let mut app = TestApp::new().await;
    assert!(app.worker.dry_run);
    app.worker.links = Some(Arc::new(changegate::pages::links::Links::new(
        b"trial-key".to_vec(),
        90,
        "http://127.0.0.1:8080/",
    )));
    let body = std::fs::read(corpus_dir().join("github/pull_request.opened.1.json")).unwrap();
    let (status, _) = app.github("pull_request", "d1", &body).await;
    assert_eq!(status.as_u16(), 202);
    app.drain().await;
    let rows = app
        .store
        .audit_rows("github", "Codertocat/Hello-World", Some(2), 0)
        .await
        .unwrap();
    let status = rows
        .iter()
        .find(|r| r.kind == "action" && r.detail["planned"]["action"] == "set_status")
        .unwrap_or_else(|| panic!("no status action in {rows:#?}"));
    assert_eq!(status.detail["dry_run"], true);
    let url = status.detail["target_url"].as_str().expect("target_url");
    assert!(
        url.starts_with(
            "http://127.0.0.1:8080/changes/github/codertocat/hello-world/merge_request/2?token="
        ),
        "{url}"
    );
    // The comment a dry run would write says plainly that it is one.
    let comment = rows
        .iter()
        .find(|r| r.kind == "action" && r.detail["planned"]["action"] == "upsert_comment")
        .expect("a comment action");
    assert!(
        comment.detail["planned"]["body"]
            .as_str()
            .unwrap()
            .starts_with("> **Dry run**"),
        "{comment:?}"
    );
    // Actions that are not statuses link nothing.
    assert!(
        rows.iter()
            .filter(|r| r.kind == "action" && r.detail["planned"]["action"] != "set_status")
            .all(|r| r.detail.get("target_url").is_none())
    );
}

fn changegate(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(args)
        .current_dir(dir)
        .env(
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", dir.join("state.db").display()),
        )
        .envs(env.iter().copied())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn link_prints_a_signed_link_that_opens_the_page_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "link",
        "--forge",
        "github",
        "--repo",
        "Acme/Platypus",
        "--number",
        "21",
    ];
    // Without public_url there is no address to give.
    let (code, _, err) = changegate(dir.path(), &[], &args);
    assert_ne!(code, 0);
    assert!(err.contains("server.public_url"), "{err}");

    let env = [
        ("CHANGEGATE__SERVER__PUBLIC_URL", "https://cg.example.com"),
        ("CHANGEGATE__SERVER__LINK_KEY", "k3y"),
    ];
    let (code, out, err) = changegate(dir.path(), &env, &args);
    assert_eq!(code, 0, "{err}");
    let url = out.trim();
    let (path, token) = url
        .strip_prefix("https://cg.example.com")
        .and_then(|u| u.split_once("?token="))
        .unwrap_or_else(|| panic!("{url}"));
    assert_eq!(path, "/changes/github/acme/platypus/merge_request/21");
    let links = changegate::pages::links::Links::new(b"k3y".to_vec(), 90, "");
    let now = chrono::Utc::now();
    assert!(links.check(path, token, now));
    let issue = changegate::pages::links::page_path("github", "acme/platypus", "issue", 21);
    assert!(
        !links.check(&issue, token, now),
        "bound to the merge request"
    );
    assert!(
        !dir.path().join("state.db").exists(),
        "a configured key needs no database"
    );

    let mut with_issue = args.to_vec();
    with_issue.push("--issue");
    let (_, out, _) = changegate(dir.path(), &env, &with_issue);
    assert!(
        out.contains("/changes/github/acme/platypus/issue/21?token="),
        "{out}"
    );
}

#[test]
fn link_without_a_key_reads_the_one_serve_keeps_and_never_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("CHANGEGATE__SERVER__PUBLIC_URL", "https://cg.example.com")];
    let args = [
        "link", "--forge", "gitlab", "--repo", "g/p", "--number", "3",
    ];
    let (code, _, err) = changegate(dir.path(), &env, &args);
    assert_ne!(code, 0);
    assert!(err.contains("no database at"), "{err}");
    let (code, _, _) = changegate(dir.path(), &env, &["migrate"]);
    assert_eq!(code, 0);
    let (code, _, err) = changegate(dir.path(), &env, &args);
    assert_ne!(code, 0);
    assert!(err.contains("no link key yet"), "{err}");
}

/// Rules a trial can satisfy without the forge: the approver is an account id, not a team
/// (a login would need the forge to tell which account holds it).
const TRIAL_RULES: &str = r#"version: 1
enforce:
  - kind: merge_request
scopes:
  - name: CMT
    values: [Minor]
  - name: Peer Approval
    values: [Needs Approval, Approved]
approver_groups:
  - name: peers
    users:
      github_ids: [777]
approvals:
  - name: peer
    title: Peer review
    label: "Peer Approval::Approved"
    pending_label: "Peer Approval::Needs Approval"
    approvers: peers
rules:
  - name: classify
    when: {no_scope: [CMT]}
    block: true
  - name: minor
    when: {labels: ["CMT::Minor"]}
    require: [peer]
"#;

/// The corpus's `labeled` delivery (Codertocat/Hello-World#2), as `sender` adding `label` to
/// a pull request that then carries `labels`.
fn labeled(label: &str, sender: (&str, u64), labels: &[&str]) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(corpus_dir().join("github/pull_request.labeled.1.json")).unwrap(),
    )
    .unwrap();
    let template = body["label"].clone();
    let label_json = |name: &str| {
        let mut l = template.clone();
        l["name"] = name.into();
        l
    };
    body["label"] = label_json(label);
    body["sender"]["login"] = sender.0.into();
    body["sender"]["id"] = sender.1.into();
    body["pull_request"]["labels"] = labels.iter().map(|l| label_json(l)).collect();
    serde_json::to_vec(&body).unwrap()
}

async fn last_verdict(app: &TestApp) -> String {
    let rows = app
        .store
        .audit_rows("github", "Codertocat/Hello-World", Some(2), 0)
        .await
        .unwrap();
    rows.iter()
        .rev()
        .find(|r| r.kind == "decision")
        .map(|r| r.detail["verdict"].as_str().unwrap().to_string())
        .unwrap()
}

fn trial_rules() -> changegate::rules::SharedRules {
    Arc::new(std::sync::RwLock::new(Arc::new(
        changegate::rules::parse("trial.yaml", TRIAL_RULES).unwrap(),
    )))
}

#[tokio::test]
async fn a_dry_run_replaying_an_approval_sequence_shows_the_change_approved() {
    let mut app = TestApp::new().await;
    app.worker.rules = trial_rules();
    let author = ("Codertocat", 21031067);
    let opened = std::fs::read(corpus_dir().join("github/pull_request.opened.1.json")).unwrap();
    app.github("pull_request", "r1", &opened).await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "fail");
    app.github(
        "pull_request",
        "r2",
        &labeled("CMT::Minor", author, &["CMT::Minor"]),
    )
    .await;
    app.drain().await;
    assert_eq!(
        last_verdict(&app).await,
        "fail",
        "the peer has not approved"
    );
    app.github(
        "pull_request",
        "r3",
        &labeled(
            "Peer Approval::Approved",
            ("reviewer-one", 777),
            &["CMT::Minor", "Peer Approval::Approved"],
        ),
    )
    .await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "pass");
    // A later, unrelated delivery still knows who approved: the history is the record's.
    app.github(
        "pull_request",
        "r4",
        &labeled(
            "bug",
            author,
            &["CMT::Minor", "Peer Approval::Approved", "bug"],
        ),
    )
    .await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "pass");

    // The link `changegate link` prints opens a page that shows it approved, as a dry run.
    let links = Arc::new(changegate::pages::links::Links::new(
        b"trial-key".to_vec(),
        90,
        "",
    ));
    let url = links.url_for(
        changegate::model::Forge::Github,
        "Codertocat/Hello-World",
        changegate::model::ChangeKind::MergeRequest,
        2,
        app.clock.now(),
    );
    let pages = changegate::pages::router(changegate::pages::PagesState {
        store: app.store.clone(),
        links,
        audit_token: None,
        classification: "CMT".into(),
    });
    use tower::ServiceExt;
    let resp = pages
        .oneshot(
            axum::http::Request::get(url)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let html = String::from_utf8(
        http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("Ready to merge"), "{html}");
    assert!(html.contains("<strong>Dry run</strong>"), "{html}");
    assert!(
        html.contains("#777") || html.contains("reviewer-one"),
        "{html}"
    );
}

/// The received history is kept between runs and only the deliveries since are read: a removal
/// in a later run, and several deliveries folded into one run, count as if every delivery of
/// the change were read again.
#[tokio::test]
async fn a_dry_run_history_kept_between_runs_counts_later_removals_and_folded_runs() {
    let mut app = TestApp::new().await;
    app.worker.rules = trial_rules();
    let author = ("Codertocat", 21031067);
    let peer = ("reviewer-one", 777);
    let both = ["CMT::Minor", "Peer Approval::Approved"];
    app.github(
        "pull_request",
        "h1",
        &labeled("CMT::Minor", author, &["CMT::Minor"]),
    )
    .await;
    app.github(
        "pull_request",
        "h2",
        &labeled("Peer Approval::Approved", peer, &both),
    )
    .await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "pass");
    // The peer's approval removed, then applied again by the author: in one run.
    let mut removed: serde_json::Value =
        serde_json::from_slice(&labeled("Peer Approval::Approved", peer, &["CMT::Minor"])).unwrap();
    removed["action"] = "unlabeled".into();
    app.github("pull_request", "h3", &serde_json::to_vec(&removed).unwrap())
        .await;
    app.github(
        "pull_request",
        "h4",
        &labeled("Peer Approval::Approved", author, &both),
    )
    .await;
    app.drain().await;
    assert_eq!(
        last_verdict(&app).await,
        "fail",
        "the author's own approval does not count"
    );
    // Applied by the peer again, in a run of its own.
    app.github(
        "pull_request",
        "h5",
        &labeled("Peer Approval::Approved", peer, &both),
    )
    .await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "pass");
}

#[tokio::test]
async fn a_dry_run_does_not_take_an_approval_from_the_author_or_from_nowhere() {
    let mut app = TestApp::new().await;
    app.worker.rules = trial_rules();
    let author = ("Codertocat", 21031067);
    // The author applies the approval label: it does not count.
    app.github(
        "pull_request",
        "a1",
        &labeled(
            "Peer Approval::Approved",
            author,
            &["CMT::Minor", "Peer Approval::Approved"],
        ),
    )
    .await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "fail");

    // A label the payload lists but no received delivery added: who applied it is unknown.
    let app = {
        let mut a = TestApp::new().await;
        a.worker.rules = trial_rules();
        a
    };
    app.github(
        "pull_request",
        "b1",
        &labeled(
            "bug",
            author,
            &["CMT::Minor", "Peer Approval::Approved", "bug"],
        ),
    )
    .await;
    app.drain().await;
    assert_eq!(last_verdict(&app).await, "fail");
}

#[tokio::test]
async fn a_wrong_gitlab_token_is_called_a_token() {
    let app = TestApp::new().await;
    let body = std::fs::read(corpus_dir().join("gitlab/merge_request.open.1.json")).unwrap();
    let (status, answer) = app
        .send(gitlab_request(
            "Merge Request Hook",
            "g1",
            &body,
            "not-the-token",
        ))
        .await;
    assert_eq!(status.as_u16(), 401);
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("X-Gitlab-Token"), "{error}");
    assert!(!error.contains("signature"), "{error}");
}

/// The README's first rule is a valid rules file, and the pages it links exist (but the ones
/// other work adds).
#[test]
fn the_readme_first_rule_is_valid_and_its_docs_exist() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let first = readme
        .split_once("## A first rule")
        .unwrap()
        .1
        .split_once("```yaml\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    let rules = changegate::rules::parse("README.md", first).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules.rules.len(), 2);
    for page in [
        "rules",
        "settings",
        "operating",
        "upgrades",
        "threat-model",
        "performance",
        "architecture",
    ] {
        let path = format!("docs/{page}.md");
        assert!(readme.contains(&format!("]({path})")), "{path} not linked");
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(&path)
                .exists(),
            "{path} missing"
        );
    }
    assert!(readme.contains("cargo run --release -- serve") && readme.contains("cargo test"));
    assert!(!readme.contains("this session"));
}
