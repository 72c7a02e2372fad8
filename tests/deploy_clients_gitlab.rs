//! The GitLab client's deployment calls (issue 23) against the fake GitLab: compare and
//! merge base over a commit graph, a commit's merge requests, commit lookup, environments
//! and their protected-environment approvals, deployments (blocked ones listed), the
//! approval of a blocked deployment, retries on 5xx; every call in the GitLab contract list.

mod common;

use changegate::forge::gitlab::GitlabClient;
use changegate::forge::{
    DeploymentAnswer, DeploymentTarget, Forge, ForgeError, RangeRelation, RetryPolicy,
};
use changegate::model::{ChangeState, DeploymentState, Repo, RepoPath};
use common::gitlab_contract::assert_gitlab_calls_in_contract;
use common::gitlab_world::{BOT, GitlabWorld, GlApproval};
use std::time::Duration;
use wiremock::ResponseTemplate;

fn repo() -> Repo {
    Repo {
        path: RepoPath::new("acme/platypus"),
        id: Some(42),
    }
}

/// A full SHA whose first eight digits are `n` (short SHAs are unique).
fn sha(n: u32) -> String {
    format!("{n:08x}{:032x}", u128::from(n) * 7919)
}

async fn world() -> (GitlabWorld, GitlabClient) {
    let gl = GitlabWorld::start().await;
    let retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(5),
        max_wait: Duration::from_secs(1),
    };
    let client = GitlabClient::new(&gl.url(), "token", retry).expect("client");
    (gl, client)
}

/// main: b → c1 → c2 → m (merge of f1, branched from b).
fn history(gl: &GitlabWorld) {
    gl.commit(&sha(0xb), &[], "alice");
    gl.commit(&sha(0xc1), &[&sha(0xb)], "alice");
    gl.commit(&sha(0xf1), &[&sha(0xb)], "bob");
    gl.commit(&sha(0xc2), &[&sha(0xc1)], "carol");
    gl.commit(&sha(0xe0), &[&sha(0xc2), &sha(0xf1)], "alice");
}

#[tokio::test]
async fn compare_and_merge_base_say_how_head_relates_to_base() {
    let (gl, client) = world().await;
    history(&gl);
    let ahead = client
        .compare(&repo(), &sha(0xb), &sha(0xe0))
        .await
        .unwrap();
    assert_eq!(ahead.relation, RangeRelation::Ahead);
    assert!(ahead.complete);
    let shas: Vec<&str> = ahead.commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [sha(0xc1), sha(0xf1), sha(0xc2), sha(0xe0)]);
    assert_eq!(ahead.commits[3].parents, [sha(0xc2), sha(0xf1)]);
    // GitLab's compare links no account to a commit.
    assert!(ahead.commits.iter().all(|c| c.author.is_none()));
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
    assert_eq!(diverged.commits.len(), 1);
    let short = client
        .compare(&repo(), &sha(0xb)[..10], &sha(0xc1)[..10])
        .await
        .unwrap();
    assert_eq!(short.relation, RangeRelation::Ahead);
    let unknown = client.compare(&repo(), &sha(0xb), &sha(0x999)).await;
    assert!(
        matches!(unknown, Err(ForgeError::NotFound(_))),
        "{unknown:?}"
    );
    assert_gitlab_calls_in_contract(&gl.calls());
}

#[tokio::test]
async fn a_commit_is_on_a_branch_when_it_is_their_merge_base() {
    let (gl, client) = world().await;
    history(&gl);
    gl.branch("main", &sha(0xe0));
    gl.branch("feature", &sha(0xf1));
    for commit in [0xe0, 0xc1, 0xf1, 0xb] {
        assert!(
            client
                .on_branch(&repo(), &sha(commit), "main")
                .await
                .unwrap(),
            "{commit:x}"
        );
    }
    assert!(
        !client
            .on_branch(&repo(), &sha(0xc2), "feature")
            .await
            .unwrap()
    );
    assert!(client.on_branch(&repo(), &sha(0xc2), "gone").await.is_err());
    assert!(client.on_branch(&repo(), &sha(0xc2), "a..b").await.is_err());
    assert_gitlab_calls_in_contract(&gl.calls());
}

#[tokio::test]
async fn a_commits_merge_requests_include_merged_ones_and_commits_resolve() {
    let (gl, client) = world().await;
    history(&gl);
    gl.open_mr(7, "bob", &sha(0xf1));
    gl.mr_commits(7, &[&sha(0xf1)]);
    gl.merge_as(7, &sha(0xe0), "2026-01-01T10:00:00Z");
    for commit in [sha(0xf1), sha(0xe0)] {
        let changes = client.changes_with_commit(&repo(), &commit).await.unwrap();
        assert_eq!(changes.len(), 1, "{commit}");
        assert_eq!(changes[0].landed_as, vec![sha(0xe0)], "its merge commit");
        let mr = &changes[0].change;
        assert_eq!(mr.number, 7);
        assert_eq!(mr.state, ChangeState::Merged);
        assert_eq!(mr.target_branch.as_deref(), Some("main"));
    }
    assert!(
        client
            .changes_with_commit(&repo(), &sha(0xc2))
            .await
            .unwrap()
            .is_empty(),
        "a direct push belongs to no merge request"
    );
    assert_eq!(
        client.commit_sha(&repo(), &sha(0xc1)[..9]).await.unwrap(),
        Some(sha(0xc1))
    );
    assert_eq!(client.commit_sha(&repo(), &sha(0x999)).await.unwrap(), None);
    assert_eq!(client.commit_sha(&repo(), "main").await.unwrap(), None);
    assert_gitlab_calls_in_contract(&gl.calls());
}

#[tokio::test]
async fn environments_show_their_required_approvals_where_the_bot_may_read_them() {
    let (gl, client) = world().await;
    gl.environment("production", Some(2), &[BOT]);
    gl.environment("staging", None, &[]);
    let prod = client
        .environment(&repo(), "production")
        .await
        .unwrap()
        .expect("known");
    assert_eq!(prod.required_approvals, Some(2));
    assert_eq!(prod.admins_can_bypass, None);
    let staging = client
        .environment(&repo(), "staging")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(staging.required_approvals, Some(0), "unprotected");
    // GitLab compares environment names exactly.
    assert_eq!(
        client.environment(&repo(), "Production").await.unwrap(),
        None
    );
    gl.hide_protection();
    let hidden = client
        .environment(&repo(), "production")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hidden.required_approvals, None, "unknown, not zero");
    assert_gitlab_calls_in_contract(&gl.calls());
}

#[tokio::test]
async fn deployments_are_read_with_their_job_and_blocked_ones_are_listed() {
    let (gl, client) = world().await;
    gl.environment("production", Some(1), &[BOT]);
    let old = gl.create_deployment(&sha(0xa), "production", "deployer", "success", Some(11));
    let api = gl.create_deployment(&sha(0xa), "staging", "dev", "success", None);
    let blocked = gl.create_deployment(&sha(0xb), "production", "deployer", "blocked", Some(12));

    let d = client
        .deployment(&repo(), old)
        .await
        .unwrap()
        .expect("known");
    assert_eq!(d.sha, sha(0xa));
    assert_eq!(d.environment, "production");
    assert_eq!(d.state, Some(DeploymentState::Success));
    assert!(d.deployable);
    assert!(d.state_at.is_some());
    assert_eq!(
        d.creator.as_ref().and_then(|u| u.username.as_deref()),
        Some("deployer")
    );
    let d = client.deployment(&repo(), api).await.unwrap().unwrap();
    assert!(!d.deployable, "created through the API, without a job");
    assert_eq!(client.deployment(&repo(), 1).await.unwrap(), None);

    let listed = client.blocked_deployments(&repo()).await.unwrap();
    let ids: Vec<u64> = listed.iter().map(|d| d.id).collect();
    assert_eq!(ids, [blocked]);
    assert_eq!(listed[0].state, Some(DeploymentState::Blocked));

    let prod = client
        .deployments(&repo(), "production", None)
        .await
        .unwrap();
    let ids: Vec<u64> = prod.iter().map(|d| d.id).collect();
    assert_eq!(ids, [blocked, old], "newest first");
    let of_sha = client
        .deployments(&repo(), "production", Some(&sha(0xa)[..10]))
        .await
        .unwrap();
    assert_eq!(of_sha.len(), 1);
    assert_eq!(of_sha[0].id, old);
    assert_gitlab_calls_in_contract(&gl.calls());
}

#[tokio::test]
async fn deployments_of_a_sha_are_found_past_the_first_page() {
    let (gl, client) = world().await;
    let first = gl.create_deployment(&sha(0xa), "production", "deployer", "success", Some(1));
    for n in 0..150 {
        gl.create_deployment(
            &sha(0x100 + n),
            "production",
            "deployer",
            "success",
            Some(2),
        );
    }
    let found = client
        .deployments(&repo(), "production", Some(&sha(0xa)))
        .await
        .unwrap();
    assert_eq!(found.iter().map(|d| d.id).collect::<Vec<_>>(), [first]);
    assert_eq!(
        client
            .deployments(&repo(), "production", None)
            .await
            .unwrap()
            .len(),
        30,
        "without a SHA, the newest few"
    );
}

#[tokio::test]
async fn blocked_deployments_are_approved_or_rejected_with_a_comment() {
    let (gl, client) = world().await;
    gl.environment("production", Some(1), &[BOT]);
    let a = gl.create_deployment(&sha(0xa), "production", "deployer", "blocked", Some(1));
    let b = gl.create_deployment(&sha(0xb), "production", "deployer", "blocked", Some(2));
    let approve = DeploymentTarget::GitlabDeployment { deployment_id: a };
    let reject = DeploymentTarget::GitlabDeployment { deployment_id: b };
    // A report is no call on GitLab.
    client
        .answer_deployment(&repo(), &approve, DeploymentAnswer::Report, "waiting")
        .await
        .unwrap();
    assert!(gl.deployment_approvals().is_empty());
    client
        .answer_deployment(
            &repo(),
            &approve,
            DeploymentAnswer::Approve,
            "every change passed",
        )
        .await
        .unwrap();
    client
        .answer_deployment(
            &repo(),
            &reject,
            DeploymentAnswer::Reject,
            "outside the window",
        )
        .await
        .unwrap();
    assert_eq!(
        gl.deployment_approvals(),
        [
            GlApproval {
                deployment_id: a,
                user: BOT.into(),
                status: "approved".into(),
                comment: Some("every change passed".into()),
            },
            GlApproval {
                deployment_id: b,
                user: BOT.into(),
                status: "rejected".into(),
                comment: Some("outside the window".into()),
            },
        ]
    );
    assert_eq!(gl.deployment_state(a), "running");
    assert_eq!(gl.deployment_state(b), "failed");
    // No longer blocked: GitLab refuses a second answer.
    let again = client
        .answer_deployment(&repo(), &approve, DeploymentAnswer::Approve, "again")
        .await;
    assert!(
        matches!(again, Err(ForgeError::Refused { status: 400, .. })),
        "{again:?}"
    );
    assert_gitlab_calls_in_contract(&gl.calls());
}

#[tokio::test]
async fn an_answer_the_bot_may_not_give_is_refused_not_retried() {
    let (gl, client) = world().await;
    gl.environment("production", Some(1), &["release-manager"]);
    let id = gl.create_deployment(&sha(0xa), "production", "deployer", "blocked", Some(1));
    let target = DeploymentTarget::GitlabDeployment { deployment_id: id };
    gl.clear_calls();
    let refused = client
        .answer_deployment(&repo(), &target, DeploymentAnswer::Approve, "x")
        .await;
    assert!(
        matches!(refused, Err(ForgeError::Refused { status: 403, .. })),
        "{refused:?}"
    );
    assert_eq!(gl.calls().len(), 1);
    let github = client
        .answer_deployment(
            &repo(),
            &DeploymentTarget::GithubRun {
                run_id: 1,
                environment: "production".into(),
            },
            DeploymentAnswer::Approve,
            "x",
        )
        .await;
    assert!(matches!(github, Err(ForgeError::Refused { .. })));
    assert_eq!(gl.calls().len(), 1, "nothing sent for GitHub");
    assert_eq!(gl.deployment_state(id), "blocked");
}

#[tokio::test]
async fn server_errors_are_retried_and_reported_when_they_last() {
    let (gl, client) = world().await;
    history(&gl);
    gl.environment("production", Some(1), &[BOT]);
    gl.fail_next(
        "GET /api/v4/projects/42/repository/merge_base",
        ResponseTemplate::new(502),
    );
    let range = client
        .compare(&repo(), &sha(0xb), &sha(0xc1))
        .await
        .unwrap();
    assert_eq!(range.relation, RangeRelation::Ahead);
    let id = gl.create_deployment(&sha(0xa), "production", "deployer", "blocked", Some(1));
    gl.fail_next(
        &format!("POST /api/v4/projects/42/deployments/{id}/approval"),
        ResponseTemplate::new(503),
    );
    client
        .answer_deployment(
            &repo(),
            &DeploymentTarget::GitlabDeployment { deployment_id: id },
            DeploymentAnswer::Approve,
            "ok",
        )
        .await
        .unwrap();
    assert_eq!(gl.deployment_approvals().len(), 1, "approved once");
    for _ in 0..3 {
        gl.fail_next(
            "GET /api/v4/projects/42/deployments",
            ResponseTemplate::new(500),
        );
    }
    let down = client.blocked_deployments(&repo()).await;
    assert!(matches!(down, Err(ForgeError::Transient(_))), "{down:?}");
}
