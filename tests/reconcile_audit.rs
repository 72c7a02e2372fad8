//! Missed webhooks are caught by reconcile, and the audit export gives the evidence.

mod common;

use changegate::model::{Forge, RepoPath};
use changegate::reconcile;
use common::github_world::GithubWorld;
use common::gitlab_world::GitlabWorld;
use common::*;
use std::process::Command;

const H7: &str = "7777777777777777777777777777777777777777";
const H8: &str = "8888888888888888888888888888888888888888";

/// acme/platypus with changes whose webhooks were all missed.
async fn github_with_missed_webhooks() -> GithubWorld {
    let gh = GithubWorld::start().await;
    gh.member("bt-integration-managers", "mona");
    gh.open_pr(7, "alice", H7);
    gh.add_label(7, "CMT::Minor", "alice");
    gh.add_label(7, "BT Integration Manager::Approved", "mona");
    gh.open_pr(8, "alice", H8);
    gh.open_issue(9, "alice");
    gh.add_label(9, "CMT::Comprehensive", "alice");
    gh.open_issue(10, "bob");
    gh
}

#[tokio::test]
async fn reconcile_enforces_changes_whose_webhooks_were_missed() {
    let gh = github_with_missed_webhooks().await;
    let app = TestApp::with_forges(Some(&gh.url()), None).await;
    let rules = app.worker.rules.read().unwrap().clone();
    let client = &app
        .worker
        .forges
        .get(changegate::model::Forge::Github)
        .unwrap()
        .client;
    let repo = RepoPath::new("acme/platypus");
    let first = reconcile::pass(&app.store, client, &rules, Forge::Github, &repo)
        .await
        .unwrap();
    assert_eq!(
        (first.listed, first.checked, first.queued.len()),
        (4, 3, 3),
        "issue #10 has no CMT:: label"
    );
    app.drain().await;
    assert_eq!(gh.status(H7).unwrap().0, "success");
    assert_eq!(gh.status(H8).unwrap().0, "failure");
    assert!(
        gh.labels(9)
            .contains(&"Business Owner Approval::Needs Approval".to_string())
    );
    assert_eq!(gh.comments(7).len(), 1);
    // The bot's own writes changed the changes once more; that evaluation writes nothing.
    let second = reconcile::pass(&app.store, client, &rules, Forge::Github, &repo)
        .await
        .unwrap();
    app.drain().await;
    let jobs = app.store.jobs_by_id(&second.queued).await.unwrap();
    assert!(jobs.iter().all(|j| j.writes == 0), "{jobs:?}");
    // Now nothing changed: nothing is queued, and the listings were conditional (304).
    gh.clear_calls();
    let third = reconcile::pass(&app.store, client, &rules, Forge::Github, &repo)
        .await
        .unwrap();
    assert!(third.queued.is_empty(), "{third:?}");
    assert_eq!(
        gh.calls(),
        vec![
            "GET /repos/acme/platypus/pulls",
            "GET /repos/acme/platypus/issues"
        ]
    );
    // Webhook work goes first: a reconcile job waits behind a delivery.
    gh.add_label(8, "CMT::Emergency", "alice");
    let queued = reconcile::pass(&app.store, client, &rules, Forge::Github, &repo)
        .await
        .unwrap()
        .queued;
    assert_eq!(queued.len(), 1);
    let webhook = std::fs::read(corpus_dir().join("github/pull_request.opened.1.json")).unwrap();
    app.github("pull_request", "late", &webhook).await;
    let next = app
        .store
        .claim(std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next.event.event_name, "pull_request",
        "the webhook's job is claimed before reconcile's"
    );
}

#[tokio::test]
async fn reconcile_on_gitlab() {
    let gl = GitlabWorld::start().await;
    gl.open_mr(3, "alice", "abc");
    gl.open_issue(5, "alice");
    gl.add_issue_label(5, "CMT::Minor", "alice");
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    let rules = app.worker.rules.read().unwrap().clone();
    let client = &app
        .worker
        .forges
        .get(changegate::model::Forge::Gitlab)
        .unwrap()
        .client;
    let pass = reconcile::pass(
        &app.store,
        client,
        &rules,
        Forge::Gitlab,
        &RepoPath::new("acme/platypus"),
    )
    .await
    .unwrap();
    assert_eq!((pass.listed, pass.checked, pass.queued.len()), (2, 2, 2));
    assert!(
        gl.calls()
            .contains(&"GET /api/v4/projects/acme/platypus/merge_requests".to_string())
    );
    app.drain().await;
    assert_eq!(gl.status("abc").unwrap().0, "failed");
    assert_eq!(gl.notes(3).len(), 1);
}

fn changegate(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_changegate"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CHANGEGATE_LOG", "warn")
        .env("CHANGEGATE__RULES__PATH", common::undated_rules());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_and_audit_commands() {
    let gh = github_with_missed_webhooks().await;
    gh.add_label(8, "CMT::Standard", "alice");
    gh.add_label(8, "Peer Approval::Approved", "alice");
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        ),
        ("CHANGEGATE__GITHUB__TOKEN", "test-token".to_string()),
        ("CHANGEGATE__GITHUB__API_URL", gh.url()),
    ];
    let (code, out, err) = tokio::task::spawn_blocking({
        let env = env.clone();
        move || {
            changegate(
                &["reconcile", "--forge", "github", "--repo", "acme/platypus"],
                &env,
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    // Quiet on stdout: the summary and the logs are on stderr.
    assert_eq!(out, "", "reconcile printed on stdout");
    assert!(
        err.contains(
            "GitHub acme/platypus: 4 open changes, 3 checked, 3 evaluated again, 3 changed, 0 failed"
        ),
        "{err}"
    );
    assert!(
        gh.labels(8)
            .contains(&"Peer Approval::Needs Approval".to_string()),
        "the author's approval was removed"
    );

    let (code, out, err) = changegate(
        &["audit", "--forge", "github", "--repo", "acme/platypus"],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let records: serde_json::Value = serde_json::from_str(&out).unwrap();
    let by_number = |n: u64| {
        records
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["number"] == n)
            .cloned()
            .unwrap()
    };
    let seven = by_number(7);
    assert_eq!(seven["classification"], "CMT::Minor");
    assert_eq!(seven["final_verdict"], "pass");
    assert_eq!(seven["approvals"][0]["approver"], "@mona");
    assert_eq!(seven["approvals"][0]["role"], "manager");
    assert!(
        seven["approvals"][0]["at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T00:0")
    );
    let eight = by_number(8);
    assert_eq!(eight["final_verdict"], "fail");
    assert!(
        eight["removed_approvals"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("@alice applied `Peer Approval::Approved` but is the author")
    );
    assert_eq!(eight["removed_approvals"][0]["removed_by"], "changegate");
    assert!(eight["decisions"][0]["rules_hash"].as_str().unwrap().len() == 64);
    // What triggered it: changegate's own reconcile, never the change's last actor.
    assert_eq!(eight["decisions"][0]["event"], "reconcile (changegate)");
    assert!(eight["decisions"][0].get("actor").is_none(), "{eight}");
    assert_eq!(by_number(9)["kind"], "issue");

    let (code, csv, _) = changegate(
        &[
            "audit",
            "--forge",
            "github",
            "--repo",
            "acme/platypus",
            "--format",
            "csv",
            "--since",
            "2000-01-01",
        ],
        &env,
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("number,kind,title,state,classification,final_verdict"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("7,merge_request,Change,open,CMT::Minor,pass,")),
        "{csv}"
    );
    let (_, none, _) = changegate(
        &[
            "audit",
            "--forge",
            "github",
            "--repo",
            "acme/platypus",
            "--format",
            "csv",
            "--since",
            "2999-01-01",
        ],
        &env,
    );
    assert_eq!(none.lines().count(), 1, "only the header");
    let (code, _, err) = changegate(
        &[
            "audit",
            "--forge",
            "github",
            "--repo",
            "acme/platypus",
            "--since",
            "soon",
        ],
        &env,
    );
    assert_ne!(code, 0);
    assert!(err.contains("--since `soon`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_prints_each_rules_verdict_and_why() {
    let gh = github_with_missed_webhooks().await;
    gh.add_label(8, "CMT::Standard", "alice");
    gh.add_label(8, "Peer Approval::Approved", "alice");
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        ),
        ("CHANGEGATE__GITHUB__TOKEN", "test-token".to_string()),
        ("CHANGEGATE__GITHUB__API_URL", gh.url()),
    ];
    gh.clear_calls();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        // explain only reads: the database it reads must exist (serve or migrate makes it).
        let (code, _, err) = changegate(&["migrate"], &env);
        assert_eq!(code, 0, "{err}");
        changegate(
            &[
                "explain",
                "--forge",
                "github",
                "--repo",
                "acme/platypus",
                "--number",
                "8",
            ],
            &env,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("verdict: Fail — Missing: Peer review; BT Integration Manager approval"),
        "{out}"
    );
    assert!(out.contains("  applies  standard-change"), "{out}");
    assert!(
        out.contains("  -        minor-change: label `CMT::Minor` is missing"),
        "{out}"
    );
    assert!(out.contains("would remove `Peer Approval::Approved`: @alice applied `Peer Approval::Approved` but is the author"), "{out}");
    assert!(
        gh.writes().is_empty(),
        "explain writes nothing: {:?}",
        gh.writes()
    );
}
