//! Test helpers of the fake GitLab's deployments: commits, merge requests' commits and merge
//! commits, environments with their approvers, deployments created as a given user, the
//! approvals the bot posted, and Deployment Hooks built from the fake's record.

use super::deployments::{GlApproval, GlDeployment, GlEnvironment};
use super::{GitlabWorld, PROJECT, PROJECT_ID};
use crate::common::deploy_hooks::GlDeploy;
use serde_json::Value;

impl GitlabWorld {
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

    /// Merge request `iid` holds `commits` (for `repository/commits/:sha/merge_requests`).
    pub fn mr_commits(&self, iid: u64, commits: &[&str]) {
        let mut s = self.state.lock().unwrap();
        let commits: Vec<String> = commits.iter().map(|c| c.to_string()).collect();
        match s.deploy.mr_commits.iter_mut().find(|(i, _, _)| *i == iid) {
            Some(e) => e.1 = commits,
            None => s.deploy.mr_commits.push((iid, commits, None)),
        }
    }

    /// Merge request `iid` is merged at `at` by merge commit `merge_sha`.
    pub fn merge_as(&self, iid: u64, merge_sha: &str, at: &str) {
        self.merge(iid, at);
        let mut s = self.state.lock().unwrap();
        // The target branch (main) now holds the merge commit.
        s.deploy.graph.set_branch("main", merge_sha);
        match s.deploy.mr_commits.iter_mut().find(|(i, _, _)| *i == iid) {
            Some(e) => e.2 = Some(merge_sha.into()),
            None => s
                .deploy
                .mr_commits
                .push((iid, vec![], Some(merge_sha.into()))),
        }
    }

    /// An environment, protected with `required_approvals` (none: unprotected); `approvers`
    /// may approve its deployments.
    pub fn environment(&self, name: &str, required_approvals: Option<u32>, approvers: &[&str]) {
        let mut s = self.state.lock().unwrap();
        s.deploy.environments.retain(|e| e.name != name);
        let id = 200 + s.deploy.environments.len() as u64;
        s.deploy.environments.push(GlEnvironment {
            id,
            name: name.into(),
            required_approvals,
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
        });
    }

    /// The compare API leaves `sha` out of its commits (a capped or cut list).
    pub fn compare_leaves_out(&self, sha: &str) {
        self.state
            .lock()
            .unwrap()
            .deploy
            .compare_leaves_out
            .push(sha.into());
    }

    /// The bot's token may not read protected environments (403).
    pub fn hide_protection(&self) {
        self.state.lock().unwrap().deploy.protection_hidden = true;
    }

    /// `user` deploys `sha` to `environment` in state `status`; `job`: its pipeline job
    /// (`None`: created through the API). Its id.
    pub fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        user: &str,
        status: &str,
        job: Option<u64>,
    ) -> u64 {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.deploy.next_id += 1;
        let n = s.deploy.next_id;
        s.deploy.deployments.push(GlDeployment {
            id: 5000 + n,
            iid: n,
            sha: sha.into(),
            git_ref: "main".into(),
            environment: environment.into(),
            user: user.into(),
            status: status.into(),
            deployable: job,
            created_at: at.clone(),
            updated_at: at,
        });
        5000 + n
    }

    /// Deployment `id` moves to `status` (now).
    pub fn set_deployment_status(&self, id: u64, status: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let d = s
            .deploy
            .deployments
            .iter_mut()
            .find(|d| d.id == id)
            .expect("a deployment");
        d.status = status.into();
        d.updated_at = at;
    }

    /// Deployment `id`'s status now.
    pub fn deployment_state(&self, id: u64) -> String {
        let s = self.state.lock().unwrap();
        s.deploy
            .deployments
            .iter()
            .find(|d| d.id == id)
            .expect("a deployment")
            .status
            .clone()
    }

    /// The approvals posted, oldest first.
    pub fn deployment_approvals(&self) -> Vec<GlApproval> {
        self.state.lock().unwrap().deploy.approvals.clone()
    }

    /// The Deployment Hook GitLab sends for deployment `id` as it is now.
    pub fn deployment_hook(&self, id: u64) -> Value {
        let s = self.state.lock().unwrap();
        let d = s
            .deploy
            .deployments
            .iter()
            .find(|d| d.id == id)
            .expect("a deployment")
            .clone();
        drop(s);
        GlDeploy {
            project: PROJECT,
            project_id: PROJECT_ID,
            environment: &d.environment,
            sha: &d.sha,
            git_ref: &d.git_ref,
            deployment_id: d.id,
            deployable_id: d.deployable,
            user: &d.user,
            user_id: super::user_id(&d.user),
        }
        .hook(&d.status, &d.updated_at)
    }
}
