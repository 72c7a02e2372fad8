//! The deployed branch as a line of commits on the fake GitHub, for the end-to-end gate
//! tests (with the gate's rules and a merged, reviewed change to deploy): a thin layer over the fake's own deployments (`github_world/deployments.rs`, which
//! serves compare, commits, environments, deployments, statuses and the protection rule's
//! callback as GitHub's REST docs describe them), so that one fake serves every test.
#![allow(dead_code)]

use super::deploy_hooks::GhDeploy;
use super::github_setup::{H1, Setup, at, t};
use super::github_world::GithubWorld;
use axum::http::StatusCode;
use changegate::model::Forge;
use std::sync::{Arc, Mutex};

/// The App slug of changegate's own custom protection rule.
pub const APP: &str = "changegate-bot";

#[derive(Clone)]
pub struct DeployWorld {
    gh: GithubWorld,
    /// The newest commit of `main`.
    tip: Arc<Mutex<Option<String>>>,
}

impl DeployWorld {
    pub async fn mount(gh: &GithubWorld) -> Self {
        DeployWorld {
            gh: gh.clone(),
            tip: Arc::default(),
        }
    }

    fn gh(&self) -> &GithubWorld {
        &self.gh
    }

    /// A commit pushed onto `main` (its parent: main's newest commit).
    pub fn commit(&self, sha: &str) {
        let mut tip = self.tip.lock().unwrap();
        let parents: Vec<&str> = tip.as_deref().into_iter().collect();
        self.gh().commit(sha, &parents, "alice");
        self.gh().branch("main", sha);
        *tip = Some(sha.to_string());
    }

    /// An environment; `changegate_rule`: changegate's App is among its custom rules.
    pub fn environment(&self, name: &str, changegate_rule: bool, admins_bypass: bool) {
        let apps: &[&str] = if changegate_rule { &[APP] } else { &[] };
        self.gh().environment(name, admins_bypass, apps);
    }

    /// Deployment `id` created by `creator`, with a status `state` at `at` by the same account.
    pub fn deployment(&self, id: u64, sha: &str, env: &str, creator: &str, state: &str, at: &str) {
        self.gh()
            .deployment_with_id(id, sha, "main", env, creator, state, at);
    }

    /// The protection rule's answers: (run id, environment_name, state or none, comment).
    pub fn answers(&self) -> Vec<(u64, String, Option<String>, String)> {
        self.gh()
            .protection_answers()
            .into_iter()
            .map(|a| {
                (
                    a.run_id,
                    a.environment,
                    a.state,
                    a.comment.unwrap_or_default(),
                )
            })
            .collect()
    }
}

pub const BASE: &str = "b000000000000000000000000000000000000000";
pub const PUSHED: &str = "d000000000000000000000000000000000000000";

pub const RULES: &str = r#"
version: 1
enforce: [{kind: merge_request}]
approver_groups:
  - {name: peers, users: {github: [peter, pam]}}
  - {name: ops, users: {github: [olga]}}
  - {name: managers, users: {github: [mona]}}
approvals:
  - {name: peer, label: "Peer::Approved", approvers: peers}
  - {name: ops-impact, label: "Ops Impact::Approved", approvers: ops}
  - {name: ops-manager, label: "Ops Manager::Approved", approvers: managers}
rules:
  - name: reviewed
    require: [peer]
  - name: emergency
    when: {labels: [EMERGENCY]}
    after_merge: {require: [ops-manager], within: 7d}
blocked_periods:
  - name: quarter-close
    from: 2026-03-23
    to: 2026-04-01
    exception: [ops-manager]
deployments:
  - name: production
    environments: [production]
    windows:
      - name: business hours
        weekdays: [Mon, Tue, Wed, Thu, Fri]
        hours: "09:00-17:00"
        timezone: Europe/London
    after: {environment: staging, succeeded_for: 30m}
    exception:
      require: [ops-impact, ops-manager]
      confirm: requester
  - name: staging
    environments: [staging]
"#;

pub struct Gate {
    pub s: Setup,
    pub d: DeployWorld,
}

/// acme/platypus#7 (head H1, by alice) reviewed by peter and merged into main at `now`
/// (a weekday in business hours unless said otherwise); main is BASE then H1; production's
/// baseline is BASE.
pub async fn merged(now: &str, rules: &str, extra_label: Option<&str>) -> Gate {
    let s = at(now).await;
    *s.app.worker.rules.write().unwrap() =
        Arc::new(changegate::rules::parse("rules.yaml", rules).expect("valid rules"));
    let d = DeployWorld::mount(&s.gh).await;
    d.commit(BASE);
    d.commit(H1);
    d.environment("production", true, false);
    d.environment("staging", false, false);
    if let Some(l) = extra_label {
        s.apply_label("alice", l).await;
    }
    s.apply_label("peter", "Peer::Approved").await;
    // Merged by fast-forward: main's newest commit is the change's head.
    s.gh.merge_as(7, H1, now);
    s.deliver("closed", None, "alice", &format!("merge-{now}"))
        .await;
    baselines(&s, now, &["production", "staging"]).await;
    Gate { s, d }
}

/// BASE recorded by an operator as the baseline of `envs` at `now`.
pub async fn baselines(s: &Setup, now: &str, envs: &[&str]) {
    for env in envs {
        s.app
            .store
            .record_success(
                Forge::Github,
                "acme/platypus",
                env,
                BASE,
                -1,
                "operator",
                Some("oscar"),
                t(now),
                "recorded by `oscar`",
            )
            .await
            .unwrap();
    }
}

impl Gate {
    /// A protection-rule request for `sha` to `env` (run `run`, deployment `run + 1000`).
    pub async fn ask(&self, env: &str, sha: &str, run: u64) -> (Option<String>, String) {
        self.ask_from("main", env, sha, run).await
    }

    /// [`Gate::ask`] for a deployment of branch `git_ref`.
    pub async fn ask_from(
        &self,
        git_ref: &str,
        env: &str,
        sha: &str,
        run: u64,
    ) -> (Option<String>, String) {
        let body = GhDeploy {
            environment: env,
            sha,
            git_ref,
            deployment_id: run + 1000,
            ..Default::default()
        }
        .protection_request(run, &[7]);
        let (status, _) = self
            .s
            .app
            .github(
                "deployment_protection_rule",
                &format!("ask-{env}-{run}-{sha}"),
                &serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        self.s.app.drain().await;
        self.last(run)
    }

    /// The last answer to run `run`: (state, comment).
    pub fn last(&self, run: u64) -> (Option<String>, String) {
        let a = self.d.answers();
        let last = a.iter().rev().find(|x| x.0 == run).expect("an answer");
        (last.2.clone(), last.3.clone())
    }

    /// A `success` status of deployment `id` (of `sha` to `env`) created by `creator` at `when`.
    pub async fn succeeded(&self, env: &str, sha: &str, id: u64, creator: &str, when: &str) {
        self.reported(env, sha, id, creator, creator, when).await;
    }

    /// A `success` status of deployment `id` (created by `creator`), written and sent by
    /// `reporter` at `when`.
    pub async fn reported(
        &self,
        env: &str,
        sha: &str,
        id: u64,
        creator: &str,
        reporter: &str,
        when: &str,
    ) {
        let body = GhDeploy {
            environment: env,
            sha,
            deployment_id: id,
            creator,
            sender: reporter,
            ..Default::default()
        }
        .status("success", reporter, when);
        let (status, _) = self
            .s
            .app
            .github(
                "deployment_status",
                &format!("ok-{id}-{reporter}-{when}"),
                &serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        self.s.app.drain().await;
    }

    /// Staging: changegate allows H1 there (its own entry) and sees it succeed at `when`.
    pub async fn staged(&self, when: &str) {
        let (state, _) = self.ask("staging", H1, 1).await;
        assert_eq!(state.as_deref(), Some("approved"));
        self.succeeded("staging", H1, 1001, "github-actions[bot]", when)
            .await;
    }
}

pub fn approved(a: &(Option<String>, String)) -> bool {
    a.0.as_deref() == Some("approved")
}
