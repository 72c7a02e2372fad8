//! The deployment commands through the binary: operator records (audited), `simulate
//! --deploy` on a facts file, `check` of a deployments entry, `audit --deployments`.

use std::process::Command;

fn changegate(db: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(args)
        .env("CHANGEGATE__DATABASE__URL", db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SHA: &str = "cccccccccccccccccccccccccccccccccccccccc";

#[tokio::test]
async fn operators_record_baselines_and_accept_commits_with_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("state.db").display());
    let base = [
        "deployments",
        "baseline",
        "--forge",
        "github",
        "--repo",
        "acme/shop",
    ];
    let (code, out, err) = changegate(
        &db,
        &[
            &base[..],
            &["--environment", "production", "--sha", SHA, "--by", "oscar"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let accept = [
        "deployments",
        "accept",
        "--forge",
        "github",
        "--repo",
        "acme/shop",
        "--sha",
        SHA,
        "--by",
        "oscar",
    ];
    let (code, _, err) = changegate(&db, &[&accept[..], &["--reason", " "]].concat());
    assert_ne!(code, 0);
    assert!(err.contains("--reason cannot be empty"), "{err}");
    // A short SHA is refused by both (it could name another commit later).
    for args in [
        vec![
            "deployments",
            "accept",
            "--forge",
            "github",
            "--repo",
            "acme/shop",
            "--sha",
            "cccccccc",
            "--by",
            "oscar",
            "--reason",
            "x",
        ],
        vec![
            "deployments",
            "baseline",
            "--forge",
            "github",
            "--repo",
            "acme/shop",
            "--environment",
            "staging",
            "--sha",
            "cccccccc",
            "--by",
            "oscar",
        ],
    ] {
        let (code, _, err) = changegate(&db, &args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains("is not a full commit SHA"), "{err}");
    }
    let (code, out, err) = changegate(
        &db,
        &[&accept[..], &["--reason", "hotfix reviewed"]].concat(),
    );
    assert_eq!(code, 0, "{out}{err}");

    let store = changegate::store::Store::open(&db).await.unwrap();
    let forge = changegate::model::Forge::Github;
    let b = store
        .baseline(forge, "acme/shop", "production")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.sha, SHA);
    assert!(b.how.contains("recorded by `oscar`"), "{}", b.how);
    let a = store
        .accepted_commit(forge, "Acme/Shop", SHA)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.by.as_str(), a.reason.as_str()),
        ("oscar", "hotfix reviewed")
    );
    let kinds: Vec<String> = store
        .audit_rows("github", "acme/shop", None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        vec!["deployment_baseline", "deployment_accepted_commit"]
    );
    let (code, out, _) = changegate(
        &db,
        &[
            "audit",
            "--forge",
            "github",
            "--repo",
            "acme/shop",
            "--deployments",
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("id,decided_at,environment,sha"), "{out}");
}

#[test]
fn simulate_deploy_evaluates_a_facts_file_and_check_counts_the_gates() {
    let dir = tempfile::tempdir().unwrap();
    let facts = dir.path().join("facts.json");
    // Saturday 14 March 2026: outside OPS-01's business hours, nothing staged.
    let body = serde_json::json!({
        "forge": "github", "repo": "acme/shop", "environment": "production", "sha": SHA,
        "now": "2026-03-14T10:00:00Z",
        "baseline": { "sha": SHA, "how": "recorded" },
        "range": { "relation": "identical", "commits": [], "complete": true },
        "allowed_before": true
    });
    std::fs::write(&facts, body.to_string()).unwrap();
    let db = format!("sqlite://{}", dir.path().join("unused.db").display());
    let (code, out, err) = changegate(
        &db,
        &[
            "simulate",
            "--rules",
            "examples/ops-01.yaml",
            "--deploy",
            facts.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("decision: deny (entry production)"),
        "{out}"
    );
    assert!(
        out.contains("has not been deployed successfully to `staging`"),
        "{out}"
    );
    let (code, out, _) = changegate(&db, &["check", "examples/ops-01.yaml"]);
    assert_eq!(code, 0);
    // Production, and staging (gated so that its successes are evidence).
    assert!(out.trim_end().ends_with(", 2 deployment gates"), "{out}");
}

#[test]
fn check_warns_when_the_github_actions_bot_is_a_trusted_deployer() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        r#"version: 1
enforce: [{kind: merge_request}]
approver_groups:
  - {name: peers, users: {github: [peter]}}
approvals:
  - {name: peer, label: "Peer::Approved", approvers: peers}
rules:
  - name: reviewed
    require: [peer]
deployments:
  - name: production
    environments: [production]
    trusted_deployers:
      - release-bot
      - app:github-actions
"#,
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("unused.db").display());
    let (code, out, err) = changegate(&db, &["check", rules.to_str().unwrap()]);
    assert_eq!(code, 0, "a warning, not a refusal: {err}");
    assert!(out.contains(": ok: "), "{out}");
    let want = format!(
        "{}:15:9: warning: trusted deployer `app:github-actions` of `production`",
        rules.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("restrict the environment to protected branches"),
        "{err}"
    );
    assert_eq!(
        err.matches("warning:").count(),
        1,
        "release-bot is no warning: {err}"
    );
}

#[test]
fn simulate_deploy_without_a_default_branch_says_to_add_it() {
    let dir = tempfile::tempdir().unwrap();
    let facts = dir.path().join("facts.json");
    let body = serde_json::json!({
        "forge": "github", "repo": "acme/shop", "environment": "production", "sha": SHA,
        "git_ref": "main", "now": "2026-03-16T10:00:00Z",
        "baseline": { "sha": SHA, "how": "recorded" },
        "range": { "relation": "identical", "commits": [], "complete": true },
        "allowed_before": true
    });
    std::fs::write(&facts, body.to_string()).unwrap();
    let db = format!("sqlite://{}", dir.path().join("unused.db").display());
    let args = [
        "simulate",
        "--rules",
        "examples/ops-01.yaml",
        "--deploy",
        facts.to_str().unwrap(),
    ];
    let (code, out, err) = changegate(&db, &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("decision: deny"), "{out}");
    assert!(
        out.contains("or give the facts a `default_branch`"),
        "{out}"
    );
    // With it, the branch check passes (the rest of the facts decide).
    let mut with = body.clone();
    with["default_branch"] = serde_json::json!("main");
    std::fs::write(&facts, with.to_string()).unwrap();
    let (_, out, _) = changegate(&db, &args);
    assert!(!out.contains("default branch"), "{out}");
}
