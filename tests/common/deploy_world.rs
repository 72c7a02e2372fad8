//! The deployed branch as a line of commits on the fake GitHub, for the end-to-end gate
//! tests: a thin layer over the fake's own deployments (`github_world/deployments.rs`, which
//! serves compare, commits, environments, deployments, statuses and the protection rule's
//! callback as GitHub's REST docs describe them), so that one fake serves every test.
#![allow(dead_code)]

use super::github_world::GithubWorld;
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
