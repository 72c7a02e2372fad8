//! Test helpers of the fake GitHub's deployments: commits, pull requests' commits and merge
//! commits, environments, deployments and statuses created as a given account, the answers
//! the protection rule's callback received, and webhook bodies built from the fake's record.

use super::GithubWorld;
use super::deployments::{GhDeployment, GhDeploymentStatus, GhEnvironment, ProtectionAnswer};
use crate::common::deploy_hooks::GhDeploy;
use serde_json::Value;

impl GithubWorld {
    /// Branch `name` now holds `sha` (a push to it).
    pub fn branch(&self, name: &str, sha: &str) {
        self.state
            .lock()
            .unwrap()
            .deploy
            .graph
            .set_branch(name, sha);
    }

    /// `author` commits `sha` on top of `parents` (now, by the fake's clock).
    pub fn commit(&self, sha: &str, parents: &[&str], author: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.deploy.graph.add(sha, parents, author, &at);
    }

    /// Pull request `number` holds `commits` (for `commits/{sha}/pulls`).
    pub fn pull_commits(&self, number: u64, commits: &[&str]) {
        let mut s = self.state.lock().unwrap();
        let commits: Vec<String> = commits.iter().map(|c| c.to_string()).collect();
        match s
            .deploy
            .pull_commits
            .iter_mut()
            .find(|(n, _, _)| *n == number)
        {
            Some(entry) => entry.1 = commits,
            None => s.deploy.pull_commits.push((number, commits, None)),
        }
    }

    /// Pull request `number` is merged at `at` by merge commit `merge_sha` (which the test
    /// commits to the graph).
    pub fn merge_as(&self, number: u64, merge_sha: &str, at: &str) {
        self.merge(number, at);
        let mut s = self.state.lock().unwrap();
        // The target branch (main) now holds the merge commit.
        s.deploy.graph.set_branch("main", merge_sha);
        match s
            .deploy
            .pull_commits
            .iter_mut()
            .find(|(n, _, _)| *n == number)
        {
            Some(entry) => entry.2 = Some(merge_sha.into()),
            None => s
                .deploy
                .pull_commits
                .push((number, vec![], Some(merge_sha.into()))),
        }
    }

    /// An environment; `custom_apps` are the slugs of its custom protection rules' Apps.
    pub fn environment(&self, name: &str, can_admins_bypass: bool, custom_apps: &[&str]) {
        let mut s = self.state.lock().unwrap();
        s.deploy
            .environments
            .retain(|e| !e.name.eq_ignore_ascii_case(name));
        s.deploy.environments.push(GhEnvironment {
            name: name.into(),
            can_admins_bypass,
            custom_apps: custom_apps.iter().map(|a| a.to_string()).collect(),
        });
    }

    /// `creator` creates a deployment of `sha` (`git_ref`) to `environment`; its id.
    pub fn create_deployment(
        &self,
        sha: &str,
        git_ref: &str,
        environment: &str,
        creator: &str,
    ) -> u64 {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let id = s.deploy.next_id();
        s.deploy.deployments.push(GhDeployment {
            id,
            sha: sha.into(),
            git_ref: git_ref.into(),
            environment: environment.into(),
            creator: creator.into(),
            created_at: at,
            statuses: vec![],
        });
        id
    }

    /// Deployment `id` of `sha` (`git_ref`) to `environment`, created by `creator` at `at`
    /// with a status `state` by the same account at the same time.
    #[allow(clippy::too_many_arguments)]
    pub fn deployment_with_id(
        &self,
        id: u64,
        sha: &str,
        git_ref: &str,
        environment: &str,
        creator: &str,
        state: &str,
        at: &str,
    ) {
        let mut s = self.state.lock().unwrap();
        let status_id = s.deploy.next_id();
        s.deploy.deployments.push(GhDeployment {
            id,
            sha: sha.into(),
            git_ref: git_ref.into(),
            environment: environment.into(),
            creator: creator.into(),
            created_at: at.into(),
            statuses: vec![GhDeploymentStatus {
                id: status_id,
                state: state.into(),
                creator: creator.into(),
                at: at.into(),
            }],
        });
    }

    /// `creator` posts status `state` on deployment `id`; its time.
    pub fn deployment_status(&self, id: u64, state: &str, creator: &str) -> String {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let status_id = s.deploy.next_id();
        let d = s
            .deploy
            .deployments
            .iter_mut()
            .find(|d| d.id == id)
            .expect("a deployment of the fake");
        d.statuses.push(GhDeploymentStatus {
            id: status_id,
            state: state.into(),
            creator: creator.into(),
            at: at.clone(),
        });
        at
    }

    /// The answers posted to the custom protection rule's callback, oldest first.
    pub fn protection_answers(&self) -> Vec<ProtectionAnswer> {
        self.state.lock().unwrap().deploy.answers.clone()
    }

    /// What the webhook bodies of deployment `id` carry, from the fake's record.
    fn hook_of(&self, id: u64) -> (GhDeployment, String) {
        let s = self.state.lock().unwrap();
        let d = s
            .deploy
            .deployments
            .iter()
            .find(|d| d.id == id)
            .expect("a deployment of the fake")
            .clone();
        (d, super::REPO.to_string())
    }

    /// The `deployment_protection_rule` `requested` body GitHub sends when workflow run
    /// `run_id` reaches deployment `id`'s environment, sent by `sender`.
    pub fn protection_request_hook(
        &self,
        run_id: u64,
        id: u64,
        sender: &str,
        pulls: &[u64],
    ) -> Value {
        let (d, repo) = self.hook_of(id);
        GhDeploy {
            repo: &repo,
            environment: &d.environment,
            sha: &d.sha,
            git_ref: &d.git_ref,
            deployment_id: d.id,
            creator: &d.creator,
            default_branch: "main",
            sender,
        }
        .protection_request(run_id, pulls)
    }

    /// The `deployment_status` `created` body of deployment `id`'s latest status.
    pub fn deployment_status_hook(&self, id: u64) -> Value {
        let (d, repo) = self.hook_of(id);
        let st = d.statuses.last().expect("a status").clone();
        GhDeploy {
            repo: &repo,
            environment: &d.environment,
            sha: &d.sha,
            git_ref: &d.git_ref,
            deployment_id: d.id,
            creator: &d.creator,
            default_branch: "main",
            sender: &st.creator,
        }
        .status(&st.state, &st.creator, &st.at)
    }
}
