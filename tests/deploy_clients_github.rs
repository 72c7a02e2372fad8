//! The GitHub client's deployment calls (issue 23) against the fake GitHub: compare over a
//! commit graph (every relation, oldest first, paged), a commit's pull requests (merged
//! ones by their commits and merge commit), commit lookup, environments with their custom
//! protection rules, deployments with their latest status, the protection rule's answers,
//! and retries on 5xx.

mod common;

use changegate::forge::github::GithubClient;
use changegate::forge::{
    DeploymentAnswer, DeploymentTarget, Forge, ForgeError, RangeRelation, RetryPolicy,
};
use changegate::model::{ChangeState, DeploymentState, Repo, RepoPath};
use common::github_world::{GithubWorld, ProtectionAnswer};
use std::time::Duration;
use wiremock::ResponseTemplate;

fn repo() -> Repo {
    Repo {
        path: RepoPath::new("acme/platypus"),
        id: None,
    }
}

/// A full SHA whose first eight digits are `n` (short SHAs are unique).
fn sha(n: u32) -> String {
    format!("{n:08x}{:032x}", u128::from(n) * 7919)
}

async fn world() -> (GithubWorld, GithubClient) {
    let gh = GithubWorld::start().await;
    let retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(5),
        max_wait: Duration::from_secs(1),
    };
    let client = GithubClient::new(&gh.url(), "token", retry).expect("client");
    (gh, client)
}

/// main: b → c1 → c2 → m (merge of f1, branched from b).
fn history(gh: &GithubWorld) {
    gh.commit(&sha(0xb), &[], "alice");
    gh.commit(&sha(0xc1), &[&sha(0xb)], "alice");
    gh.commit(&sha(0xf1), &[&sha(0xb)], "bob");
    gh.commit(&sha(0xc2), &[&sha(0xc1)], "carol");
    gh.commit(&sha(0xe0), &[&sha(0xc2), &sha(0xf1)], "web-flow");
}

#[tokio::test]
async fn compare_says_how_head_relates_to_base_with_the_commits_oldest_first() {
    let (gh, client) = world().await;
    history(&gh);
    let ahead = client
        .compare(&repo(), &sha(0xb), &sha(0xe0))
        .await
        .unwrap();
    assert_eq!(ahead.relation, RangeRelation::Ahead);
    assert!(ahead.complete);
    let shas: Vec<&str> = ahead.commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [sha(0xc1), sha(0xf1), sha(0xc2), sha(0xe0)]);
    assert_eq!(ahead.commits[3].parents, [sha(0xc2), sha(0xf1)]);
    assert_eq!(
        ahead.commits[1]
            .author
            .as_ref()
            .and_then(|a| a.username.as_deref()),
        Some("bob")
    );
    let behind = client
        .compare(&repo(), &sha(0xe0), &sha(0xc1))
        .await
        .unwrap();
    assert_eq!(
        (behind.relation, behind.commits.len()),
        (RangeRelation::Behind, 0)
    );
    let same = client
        .compare(&repo(), &sha(0xc2), &sha(0xc2))
        .await
        .unwrap();
    assert_eq!(same.relation, RangeRelation::Identical);
    let diverged = client
        .compare(&repo(), &sha(0xc2), &sha(0xf1))
        .await
        .unwrap();
    assert_eq!(diverged.relation, RangeRelation::Diverged);
    let shas: Vec<&str> = diverged.commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [sha(0xf1)]);
    // A short SHA is a commit id too.
    let short = client
        .compare(&repo(), &sha(0xb)[..12], &sha(0xc1))
        .await
        .unwrap();
    assert_eq!(short.commits.len(), 1);
}

#[tokio::test]
async fn long_ranges_are_read_page_by_page_and_unknown_commits_are_not_found() {
    let (gh, client) = world().await;
    gh.commit(&sha(1), &[], "alice");
    for n in 2..=131 {
        gh.commit(&sha(n), &[&sha(n - 1)], "alice");
    }
    gh.clear_calls();
    let range = client.compare(&repo(), &sha(1), &sha(131)).await.unwrap();
    assert!(range.complete);
    assert_eq!(range.commits.len(), 130);
    assert_eq!(range.commits[0].sha, sha(2));
    assert_eq!(range.commits[129].sha, sha(131));
    assert_eq!(gh.calls().len(), 2, "two pages of 100: {:?}", gh.calls());
    let unknown = client.compare(&repo(), &sha(1), &sha(999)).await;
    assert!(
        matches!(unknown, Err(ForgeError::NotFound(_))),
        "{unknown:?}"
    );
    // A branch name is not a commit: no call at all.
    gh.clear_calls();
    let by_name = client.compare(&repo(), "main", &sha(2)).await;
    assert!(matches!(by_name, Err(ForgeError::NotFound(_))));
    assert!(gh.calls().is_empty());
}

#[tokio::test]
async fn a_commits_pull_requests_include_merged_ones_by_their_commits_and_merge_commit() {
    let (gh, client) = world().await;
    history(&gh);
    gh.open_pr(7, "bob", &sha(0xf1));
    gh.pull_commits(7, &[&sha(0xf1)]);
    gh.merge_as(7, &sha(0xe0), "2026-01-01T10:00:00Z");
    gh.open_pr(8, "dave", &sha(0xd1));
    for commit in [sha(0xf1), sha(0xe0)] {
        let changes = client.changes_with_commit(&repo(), &commit).await.unwrap();
        assert_eq!(changes.len(), 1, "{commit}");
        assert_eq!(changes[0].landed_as, vec![sha(0xe0)], "its merge commit");
        let pr = &changes[0].change;
        assert_eq!(pr.number, 7);
        assert_eq!(pr.state, ChangeState::Merged);
        assert_eq!(pr.target_branch.as_deref(), Some("main"));
        assert_eq!(pr.merged_at, Some("2026-01-01T10:00:00Z".parse().unwrap()));
    }
    // A direct push belongs to no pull request.
    assert!(
        client
            .changes_with_commit(&repo(), &sha(0xc2))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_commit_is_on_a_branch_when_the_branch_holds_it() {
    let (gh, client) = world().await;
    history(&gh);
    gh.branch("main", &sha(0xe0));
    gh.branch("feature", &sha(0xf1));
    // main holds the merge commit and everything before it, not a later side commit.
    for (commit, on) in [(0xe0, true), (0xc1, true), (0xf1, true), (0xb, true)] {
        assert_eq!(
            client
                .on_branch(&repo(), &sha(commit), "main")
                .await
                .unwrap(),
            on,
            "{commit:x}"
        );
    }
    assert!(
        !client
            .on_branch(&repo(), &sha(0xc2), "feature")
            .await
            .unwrap()
    );
    // A branch the fake does not know: not found, never "on it".
    assert!(client.on_branch(&repo(), &sha(0xc2), "gone").await.is_err());
    // A name git would not allow is refused before any call.
    let before = gh.calls().len();
    assert!(client.on_branch(&repo(), &sha(0xc2), "a..b").await.is_err());
    assert_eq!(gh.calls().len(), before);
}

#[tokio::test]
async fn commits_resolve_to_their_full_sha_or_to_none() {
    let (gh, client) = world().await;
    history(&gh);
    let full = client.commit_sha(&repo(), &sha(0xc1)[..10]).await.unwrap();
    assert_eq!(full, Some(sha(0xc1)));
    // GitHub answers 422 "No commit found" for a SHA it does not know.
    assert_eq!(client.commit_sha(&repo(), &sha(0x999)).await.unwrap(), None);
    gh.clear_calls();
    assert_eq!(client.commit_sha(&repo(), "main").await.unwrap(), None);
    assert!(gh.calls().is_empty(), "a branch name is never looked up");
}

#[tokio::test]
async fn environments_show_their_custom_rules_and_admin_bypass() {
    let (gh, client) = world().await;
    gh.environment("production", false, &["changegate"]);
    gh.environment("staging", true, &[]);
    // GitHub compares environment names without case.
    let prod = client
        .environment(&repo(), "Production")
        .await
        .unwrap()
        .expect("known");
    assert_eq!(prod.name, "production");
    assert_eq!(prod.custom_rule_apps, ["changegate"]);
    assert_eq!(prod.admins_can_bypass, Some(false));
    assert_eq!(prod.required_approvals, None);
    let staging = client
        .environment(&repo(), "staging")
        .await
        .unwrap()
        .unwrap();
    assert!(staging.custom_rule_apps.is_empty());
    assert_eq!(staging.admins_can_bypass, Some(true));
    assert_eq!(client.environment(&repo(), "qa").await.unwrap(), None);
    let rules = "GET /repos/acme/platypus/environments/Production/deployment_protection_rules";
    assert!(gh.calls().iter().any(|c| c == rules), "{:?}", gh.calls());
}

#[tokio::test]
async fn deployments_carry_their_latest_status_and_who_wrote_it() {
    let (gh, client) = world().await;
    let ours = gh.create_deployment(&sha(0xa), "main", "production", "github-actions[bot]");
    gh.deployment_status(ours, "in_progress", "github-actions[bot]");
    let done_at = gh.deployment_status(ours, "success", "github-actions[bot]");
    let theirs = gh.create_deployment(&sha(0xb), "main", "staging", "mallory");
    gh.deployment_status(theirs, "success", "mallory");
    let fresh = gh.create_deployment(&sha(0xa), "main", "production", "octocat");

    let d = client
        .deployment(&repo(), ours)
        .await
        .unwrap()
        .expect("known");
    assert_eq!(d.sha, sha(0xa));
    assert_eq!(d.environment, "production");
    assert_eq!(d.state, Some(DeploymentState::Success));
    assert_eq!(d.state_at, Some(done_at.parse().unwrap()));
    assert_eq!(
        d.state_creator.as_ref().and_then(|u| u.username.as_deref()),
        Some("github-actions[bot]")
    );
    assert_eq!(
        d.creator.as_ref().and_then(|u| u.username.as_deref()),
        Some("github-actions[bot]")
    );
    assert!(d.deployable);
    let none_yet = client.deployment(&repo(), fresh).await.unwrap().unwrap();
    assert_eq!(none_yet.state, None);
    assert_eq!(client.deployment(&repo(), 424242).await.unwrap(), None);

    let prod = client
        .deployments(&repo(), "production", None)
        .await
        .unwrap();
    let ids: Vec<u64> = prod.iter().map(|d| d.id).collect();
    assert_eq!(ids, [fresh, ours], "newest first");
    let of_sha = client
        .deployments(&repo(), "staging", Some(&sha(0xb)))
        .await
        .unwrap();
    assert_eq!(of_sha.len(), 1);
    assert_eq!(
        of_sha[0]
            .state_creator
            .as_ref()
            .and_then(|u| u.username.as_deref()),
        Some("mallory")
    );
    assert!(
        client
            .deployments(&repo(), "staging", Some(&sha(0xa)))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        client
            .blocked_deployments(&repo())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_latest_of_many_statuses_is_found_across_pages() {
    let (gh, client) = world().await;
    let id = gh.create_deployment(&sha(0xa), "main", "production", "github-actions[bot]");
    for _ in 0..120 {
        gh.deployment_status(id, "in_progress", "github-actions[bot]");
    }
    gh.deployment_status(id, "failure", "github-actions[bot]");
    let d = client.deployment(&repo(), id).await.unwrap().unwrap();
    assert_eq!(d.state, Some(DeploymentState::Failure));
}

#[tokio::test]
async fn protection_rule_answers_are_posted_on_the_run_changegate_was_asked_about() {
    let (gh, client) = world().await;
    let run = DeploymentTarget::GithubRun {
        run_id: 4242,
        environment: "production".into(),
    };
    client
        .answer_deployment(
            &repo(),
            &run,
            DeploymentAnswer::Report,
            "waiting for the window",
        )
        .await
        .unwrap();
    client
        .answer_deployment(&repo(), &run, DeploymentAnswer::Approve, "allowed")
        .await
        .unwrap();
    client
        .answer_deployment(&repo(), &run, DeploymentAnswer::Reject, "denied")
        .await
        .unwrap();
    let answer = |state: Option<&str>, comment: &str| ProtectionAnswer {
        run_id: 4242,
        environment: "production".into(),
        state: state.map(str::to_string),
        comment: Some(comment.into()),
    };
    assert_eq!(
        gh.protection_answers(),
        [
            answer(None, "waiting for the window"),
            answer(Some("approved"), "allowed"),
            answer(Some("rejected"), "denied"),
        ]
    );
    let wrong_forge = client
        .answer_deployment(
            &repo(),
            &DeploymentTarget::GitlabDeployment { deployment_id: 1 },
            DeploymentAnswer::Approve,
            "x",
        )
        .await;
    assert!(matches!(wrong_forge, Err(ForgeError::Refused { .. })));
    assert_eq!(gh.protection_answers().len(), 3, "nothing sent for GitLab");
}

#[tokio::test]
async fn server_errors_are_retried_and_reported_when_they_last() {
    let (gh, client) = world().await;
    history(&gh);
    gh.fail_next(
        "GET /repos/acme/platypus/compare",
        ResponseTemplate::new(502),
    );
    let range = client
        .compare(&repo(), &sha(0xb), &sha(0xc1))
        .await
        .unwrap();
    assert_eq!(range.commits.len(), 1);
    gh.fail_next(
        "POST /repos/acme/platypus/actions/runs/7/deployment_protection_rule",
        ResponseTemplate::new(503),
    );
    let run = DeploymentTarget::GithubRun {
        run_id: 7,
        environment: "production".into(),
    };
    client
        .answer_deployment(&repo(), &run, DeploymentAnswer::Approve, "ok")
        .await
        .unwrap();
    assert_eq!(gh.protection_answers().len(), 1, "answered once");
    for _ in 0..3 {
        gh.fail_next(
            "GET /repos/acme/platypus/deployments",
            ResponseTemplate::new(500),
        );
    }
    let down = client.deployments(&repo(), "production", None).await;
    assert!(matches!(down, Err(ForgeError::Transient(_))), "{down:?}");
    // A deployment whose statuses cannot be read is no deployment without a state.
    let id = gh.create_deployment(&sha(0xa), "main", "production", "x");
    for _ in 0..3 {
        gh.fail_next(
            &format!("GET /repos/acme/platypus/deployments/{id}/statuses"),
            ResponseTemplate::new(500),
        );
    }
    assert!(client.deployment(&repo(), id).await.is_err());
}
