//! One handle for either forge: the worker, reconcile and `explain` hold a `ForgeClient` and
//! never branch on which forge it is.

use super::github::GithubClient;
use super::gitlab::GitlabClient;
use super::{ChangeRef, Comment, Forge, ForgeError, RepoFile};
use crate::model::{Change, History, Label, Repo, Review, StatusState, TeamRef, User};
use chrono::{DateTime, Utc};

/// A configured forge client.
#[derive(Clone)]
pub enum ForgeClient {
    Github(GithubClient),
    Gitlab(GitlabClient),
}

/// Calls the same method on whichever client this is.
macro_rules! each {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            ForgeClient::Github($c) => $call.await,
            ForgeClient::Gitlab($c) => $call.await,
        }
    };
}

impl Forge for ForgeClient {
    fn gitlab(&self) -> Option<&GitlabClient> {
        match self {
            ForgeClient::Gitlab(c) => Some(c),
            ForgeClient::Github(_) => None,
        }
    }
    async fn change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        each!(self, c => c.change(r))
    }
    async fn repo_file(&self, repo: &Repo, path: &str) -> Result<Option<RepoFile>, ForgeError> {
        each!(self, c => c.repo_file(repo, path))
    }
    async fn open_changes(&self, repo: &Repo) -> Result<Vec<Change>, ForgeError> {
        each!(self, c => c.open_changes(repo))
    }
    async fn project_labels(&self, repo: &Repo) -> Result<Vec<(String, u64)>, ForgeError> {
        each!(self, c => c.project_labels(repo))
    }
    async fn are_members(&self, questions: &[(TeamRef, User)]) -> Result<Vec<bool>, ForgeError> {
        each!(self, c => c.are_members(questions))
    }
    async fn project_label_nodes(
        &self,
        r: &ChangeRef,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        each!(self, c => c.project_label_nodes(r))
    }
    async fn issue_assignees(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        each!(self, c => c.issue_assignees(r))
    }
    async fn open_changes_with_head(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<(u64, Option<String>)>, ForgeError> {
        each!(self, c => c.open_changes_with_head(repo, sha))
    }
    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        each!(self, c => c.label_events(r, current))
    }
    async fn label_events_as_applied(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> Result<History, ForgeError> {
        each!(self, c => c.label_events_as_applied(r, current))
    }
    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        each!(self, c => c.approvals(r))
    }
    async fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        each!(self, c => c.head_pushed_at(r, sha))
    }
    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        each!(self, c => c.commit_authors(r))
    }
    async fn changed_files(&self, r: &ChangeRef) -> Result<crate::model::ChangedFiles, ForgeError> {
        each!(self, c => c.changed_files(r))
    }
    async fn change_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<crate::diff::ChangeDiff, ForgeError> {
        each!(self, c => c.change_diff(r, base, head))
    }
    async fn paths_between(
        &self,
        r: &ChangeRef,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, ForgeError> {
        each!(self, c => c.paths_between(r, from, to))
    }
    async fn is_member(&self, team: &TeamRef, user: &User) -> Result<bool, ForgeError> {
        each!(self, c => c.is_member(team, user))
    }
    async fn user_by_login(&self, login: &str) -> Result<Option<u64>, ForgeError> {
        each!(self, c => c.user_by_login(login))
    }
    async fn current_user(&self) -> Result<User, ForgeError> {
        each!(self, c => c.current_user())
    }
    async fn comments(&self, r: &ChangeRef) -> Result<Vec<Comment>, ForgeError> {
        each!(self, c => c.comments(r))
    }
    async fn comment(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        each!(self, c => c.comment(r, source, id))
    }
    async fn comment_origin(
        &self,
        node_id: Option<&str>,
    ) -> Result<Option<super::CommentOrigin>, ForgeError> {
        each!(self, c => c.comment_origin(node_id))
    }
    async fn react(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> Result<(), ForgeError> {
        each!(self, c => c.react(r, source, id))
    }
    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        each!(self, c => c.create_comment(r, body))
    }
    async fn update_comment(&self, r: &ChangeRef, id: u64, body: &str) -> Result<(), ForgeError> {
        each!(self, c => c.update_comment(r, id, body))
    }
    async fn add_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        each!(self, c => c.add_labels(r, labels))
    }
    async fn remove_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        each!(self, c => c.remove_labels(r, labels))
    }
    async fn set_approval(
        &self,
        r: &ChangeRef,
        sha: &str,
        approve: bool,
    ) -> Result<(), ForgeError> {
        each!(self, c => c.set_approval(r, sha, approve))
    }
    async fn current_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        context: &str,
    ) -> Result<Option<(StatusState, String)>, ForgeError> {
        each!(self, c => c.current_status(r, sha, context))
    }
    async fn set_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        state: StatusState,
        context: &str,
        description: &str,
        more: &super::StatusLinks<'_>,
    ) -> Result<(), ForgeError> {
        each!(self, c => c.set_status(r, sha, state, context, description, more))
    }
    async fn compare(
        &self,
        repo: &Repo,
        base: &str,
        head: &str,
    ) -> Result<super::CommitRange, ForgeError> {
        each!(self, c => c.compare(repo, base, head))
    }
    async fn changes_with_commit(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<super::CommitChange>, ForgeError> {
        each!(self, c => c.changes_with_commit(repo, sha))
    }
    async fn on_branch(&self, repo: &Repo, sha: &str, branch: &str) -> Result<bool, ForgeError> {
        each!(self, c => c.on_branch(repo, sha, branch))
    }
    async fn commit_sha(&self, repo: &Repo, sha: &str) -> Result<Option<String>, ForgeError> {
        each!(self, c => c.commit_sha(repo, sha))
    }
    async fn default_branch(&self, repo: &Repo) -> Result<Option<String>, ForgeError> {
        each!(self, c => c.default_branch(repo))
    }
    async fn environment(
        &self,
        repo: &Repo,
        name: &str,
    ) -> Result<Option<super::EnvironmentSettings>, ForgeError> {
        each!(self, c => c.environment(repo, name))
    }
    async fn deployment(
        &self,
        repo: &Repo,
        id: u64,
    ) -> Result<Option<super::ForgeDeployment>, ForgeError> {
        each!(self, c => c.deployment(repo, id))
    }
    async fn deployments(
        &self,
        repo: &Repo,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<super::ForgeDeployment>, ForgeError> {
        each!(self, c => c.deployments(repo, environment, sha))
    }
    async fn blocked_deployments(
        &self,
        repo: &Repo,
    ) -> Result<Vec<super::ForgeDeployment>, ForgeError> {
        each!(self, c => c.blocked_deployments(repo))
    }
    async fn answer_deployment(
        &self,
        repo: &Repo,
        target: &super::DeploymentTarget,
        answer: super::DeploymentAnswer,
        comment: &str,
    ) -> Result<(), ForgeError> {
        each!(self, c => c.answer_deployment(repo, target, answer, comment))
    }
}
