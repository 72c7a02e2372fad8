//! Deployments, environments and commit ranges on GitLab.

use super::GitlabClient;
use crate::forge::{
    CommitRange, DeploymentAnswer, DeploymentTarget, EnvironmentSettings, ForgeDeployment,
    ForgeError,
};
use crate::model::{Change, Repo};

/// The interface lands before its implementation: every call refuses until it is written.
fn not_yet(what: &str) -> ForgeError {
    ForgeError::Refused {
        status: 501,
        message: format!("{what} is not implemented yet"),
    }
}

impl GitlabClient {
    pub(super) async fn compare_commits(
        &self,
        _repo: &Repo,
        _base: &str,
        _head: &str,
    ) -> Result<CommitRange, ForgeError> {
        Err(not_yet("compare"))
    }

    pub(super) async fn changes_containing(
        &self,
        _repo: &Repo,
        _sha: &str,
    ) -> Result<Vec<Change>, ForgeError> {
        Err(not_yet("the changes of a commit"))
    }

    pub(super) async fn full_sha(
        &self,
        _repo: &Repo,
        _sha: &str,
    ) -> Result<Option<String>, ForgeError> {
        Err(not_yet("reading a commit"))
    }

    pub(super) async fn environment_settings(
        &self,
        _repo: &Repo,
        _name: &str,
    ) -> Result<Option<EnvironmentSettings>, ForgeError> {
        Err(not_yet("reading an environment"))
    }

    pub(super) async fn one_deployment(
        &self,
        _repo: &Repo,
        _id: u64,
    ) -> Result<Option<ForgeDeployment>, ForgeError> {
        Err(not_yet("reading a deployment"))
    }

    pub(super) async fn list_deployments(
        &self,
        _repo: &Repo,
        _environment: &str,
        _sha: Option<&str>,
    ) -> Result<Vec<ForgeDeployment>, ForgeError> {
        Err(not_yet("listing deployments"))
    }

    pub(super) async fn list_blocked_deployments(
        &self,
        _repo: &Repo,
    ) -> Result<Vec<ForgeDeployment>, ForgeError> {
        Err(not_yet("listing blocked deployments"))
    }

    pub(super) async fn answer(
        &self,
        _repo: &Repo,
        _target: &DeploymentTarget,
        _answer: DeploymentAnswer,
        _comment: &str,
    ) -> Result<(), ForgeError> {
        Err(not_yet("answering a deployment"))
    }
}
