//! GitHub App mode against the fake GitHub: a JWT as the App, installation tokens minted and
//! refreshed before they expire, check runs instead of commit statuses.

mod common;

use changegate::forge::{RetryPolicy, github::GithubClient};
use changegate::worker::ForgeClients;
use common::github_world::GithubWorld;
use common::*;
use std::process::Command;
use std::sync::Arc;

/// A throwaway RSA key for the test (never a real App's).
fn private_key() -> String {
    let out = Command::new("openssl")
        .args(["genrsa", "2048"])
        .output()
        .expect("openssl");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

async fn app_with(gh: &GithubWorld) -> TestApp {
    let mut app = TestApp::with_forges(None, None).await;
    let client = GithubClient::app(&gh.url(), 1, &private_key(), RetryPolicy::default())
        .expect("app client");
    app.worker.forges = Arc::new(ForgeClients::new(Some(client), None));
    app
}

fn payload(n: u64) -> Vec<u8> {
    let path = corpus_dir().join("github/pull_request.opened.1.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["repository"]["full_name"] = serde_json::json!("acme/platypus");
    v["pull_request"]["number"] = serde_json::json!(n);
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn app_mode_uses_installation_tokens_and_check_runs() {
    let gh = GithubWorld::start().await;
    gh.open_pr(7, "alice", &"1".repeat(40));
    let app = app_with(&gh).await;
    app.github("pull_request", "a1", &payload(7)).await;
    app.drain().await;
    let s = gh.state.lock().unwrap();
    assert_eq!(s.check_runs.len(), 1, "a check run, not a status");
    assert!(s.statuses.is_empty());
    let run = &s.check_runs[0];
    assert_eq!(run["name"], "changegate");
    assert_eq!(run["conclusion"], "failure");
    assert_eq!(run["output"]["title"], "Missing: Classify the change");
    assert!(
        run["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("- [ ] **Classify the change**"),
        "the checklist"
    );
    assert_eq!(s.tokens_minted, 1);
    drop(s);
    for (call, auth) in gh.authorized_calls() {
        if call.starts_with("GET /app")
            || call.starts_with("POST /app/")
            || call.ends_with("/installation")
        {
            assert_eq!(
                auth.matches('.').count(),
                2,
                "{call} is signed as the App (JWT): {auth}"
            );
        } else {
            assert!(
                auth.ends_with("ghs_1"),
                "{call} uses the installation token: {auth}"
            );
        }
    }
    assert!(
        gh.calls().contains(&"GET /app".to_string()),
        "the bot account is the App's"
    );
}

#[tokio::test]
async fn installation_tokens_are_refreshed_before_they_expire() {
    let gh = GithubWorld::start().await;
    gh.open_pr(7, "alice", &"1".repeat(40));
    gh.open_pr(8, "alice", &"2".repeat(40));
    // Tokens that expire within octocrab's safety margin are minted again for later calls.
    gh.state.lock().unwrap().token_lifetime = 20;
    let app = app_with(&gh).await;
    app.github("pull_request", "b1", &payload(7)).await;
    app.drain().await;
    let first = gh.state.lock().unwrap().tokens_minted;
    app.github("pull_request", "b2", &payload(8)).await;
    app.drain().await;
    let second = gh.state.lock().unwrap().tokens_minted;
    assert!(
        second > first && first >= 1,
        "a token about to expire is replaced: {first} then {second}"
    );
    // Long-lived tokens are reused.
    let gh2 = GithubWorld::start().await;
    gh2.open_pr(7, "alice", &"1".repeat(40));
    gh2.open_pr(8, "alice", &"2".repeat(40));
    let app2 = app_with(&gh2).await;
    app2.github("pull_request", "c1", &payload(7)).await;
    app2.github("pull_request", "c2", &payload(8)).await;
    app2.drain().await;
    assert_eq!(gh2.state.lock().unwrap().tokens_minted, 1);
}
