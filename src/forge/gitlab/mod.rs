//! GitLab REST API v4 through reqwest. Projects are addressed by numeric id when the webhook
//! gave one, else by URL-encoded full path; the project's path is always taken from the API.
//! `client.rs` holds the plumbing, `wire.rs` the answers' shapes; the [`Forge`] methods below
//! hand the longer reads and writes to the files named for them.

mod blocks;
mod changes;
mod client;
pub mod compare;
mod contents;
mod deployments;
mod history;
mod labels;
mod notes;
mod people;
mod pipelines;
mod project;
mod range;
mod statuses;
mod wire;

pub use blocks::{CheckResult, ExternalCheck, MergeSettings, MrPipeline, STATUS_CHECK_ROUTE};
pub use client::GitlabClient;
pub use pipelines::{GatePipeline, MrGate, ProjectAccess, project_repo};
pub use statuses::{NamedStatus, StatusText, state_name};

use super::{ChangeRef, Comment, Forge, ForgeError};
use crate::model::{Change, ChangedFiles, History, Label, Review, StatusState, TeamRef, User};
use chrono::{DateTime, Utc};
use client::enc;
use serde::Deserialize;
use serde_json::json;
use wire::*;

impl Forge for GitlabClient {
    fn gitlab(&self) -> Option<&GitlabClient> {
        Some(self)
    }

    async fn change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        self.read_change(r).await
    }

    async fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        self.head_version_pushed_at(r, sha).await
    }

    async fn repo_file(
        &self,
        repo: &crate::model::Repo,
        path: &str,
    ) -> Result<Option<super::RepoFile>, ForgeError> {
        self.read_repo_file(repo, path).await
    }

    async fn open_changes(&self, repo: &crate::model::Repo) -> Result<Vec<Change>, ForgeError> {
        self.list_open_changes(repo).await
    }

    async fn project_labels(
        &self,
        repo: &crate::model::Repo,
    ) -> Result<Vec<(String, u64)>, ForgeError> {
        self.project_label_ids(repo).await
    }

    async fn issue_assignees(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        self.read_issue_assignees(r).await
    }

    async fn open_changes_with_head(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Vec<(u64, Option<String>)>, ForgeError> {
        self.open_mrs_with_head(repo, sha).await
    }

    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        self.read_label_events(r, current).await
    }

    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        self.read_approvals(r).await
    }

    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        self.mr_commit_authors(r).await
    }

    async fn change_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<crate::diff::ChangeDiff, ForgeError> {
        self.compare_diff(r, base, head).await
    }

    async fn paths_between(
        &self,
        r: &ChangeRef,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, ForgeError> {
        self.compare_paths(r, from, to).await
    }

    async fn changed_files(&self, r: &ChangeRef) -> Result<ChangedFiles, ForgeError> {
        self.mr_changed_files(r).await
    }

    async fn is_member(&self, team: &TeamRef, user: &User) -> Result<bool, ForgeError> {
        self.group_member(team, user).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<u64>, ForgeError> {
        self.user_id(&User::named(login)).await
    }

    async fn current_user(&self) -> Result<User, ForgeError> {
        let reply = self
            .call(
                true,
                reqwest::Method::GET,
                &format!("{}/user", self.api),
                None,
                "read the bot's account",
            )
            .await?;
        Ok(reply.json::<WireUser>()?.user())
    }

    async fn comments(&self, r: &ChangeRef) -> Result<Vec<Comment>, ForgeError> {
        self.list_notes(r).await
    }

    async fn comment(
        &self,
        r: &ChangeRef,
        _source: crate::model::CommentSource,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        self.read_note(r, id).await
    }

    async fn react(
        &self,
        r: &ChangeRef,
        _source: crate::model::CommentSource,
        id: u64,
    ) -> Result<(), ForgeError> {
        self.award_thumbsup(r, id).await
    }

    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        self.create_note(r, body).await
    }

    async fn update_comment(&self, r: &ChangeRef, id: u64, body: &str) -> Result<(), ForgeError> {
        self.update_note(r, id, body).await
    }

    async fn add_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        let list: Vec<&str> = labels.iter().map(Label::as_str).collect();
        let body = json!({ "add_labels": list.join(",") });
        self.call(
            true,
            reqwest::Method::PUT,
            &self.change_url(r),
            Some(body),
            "add labels",
        )
        .await
        .map(drop)
    }

    async fn remove_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        let list: Vec<&str> = labels.iter().map(Label::as_str).collect();
        let body = json!({ "remove_labels": list.join(",") });
        self.call(
            true,
            reqwest::Method::PUT,
            &self.change_url(r),
            Some(body),
            "remove labels",
        )
        .await
        .map(drop)
    }

    async fn set_approval(
        &self,
        r: &ChangeRef,
        sha: &str,
        approve: bool,
    ) -> Result<(), ForgeError> {
        let (path, body, what) = if approve {
            (
                "approve",
                json!({ "sha": sha }),
                "approve the merge request",
            )
        } else {
            ("unapprove", json!({}), "withdraw the approval")
        };
        let url = format!("{}/{path}", self.change_url(r));
        self.call(true, reqwest::Method::POST, &url, Some(body), what)
            .await
            .map(drop)
    }

    async fn current_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        context: &str,
    ) -> Result<Option<(StatusState, String)>, ForgeError> {
        #[derive(Deserialize)]
        struct WireStatus {
            status: Option<String>,
            name: Option<String>,
            description: Option<String>,
        }
        let url = format!(
            "{}/repository/commits/{}/statuses?name={}",
            self.project(r),
            enc(sha),
            enc(context)
        );
        let Some(reply) = self.get_found(&url, "read the commit status").await? else {
            return Ok(None);
        };
        // Newest first; GitLab lists the latest status of each name unless `all` is asked.
        Ok(reply
            .json::<Vec<WireStatus>>()?
            .into_iter()
            .find(|s| s.name.as_deref() == Some(context))
            .and_then(|s| {
                let state = match s.status.as_deref() {
                    Some("success") => StatusState::Success,
                    Some("failed") => StatusState::Failure,
                    _ => return None,
                };
                Some((state, s.description.unwrap_or_default()))
            }))
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
        // The one status write (`statuses.rs`); without the bot's account a status GitLab will
        // not move is never taken for the bot's, and the wanted state is written through another.
        let status = (sha, state, context, description);
        self.set_status_in(&r.repo, status, more.target_url, None, None, None)
            .await
            .map(drop)
    }
    async fn compare(
        &self,
        repo: &crate::model::Repo,
        base: &str,
        head: &str,
    ) -> Result<super::CommitRange, ForgeError> {
        self.compare_commits(repo, base, head).await
    }
    async fn changes_with_commit(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Vec<super::CommitChange>, ForgeError> {
        self.changes_containing(repo, sha).await
    }
    async fn on_branch(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
        branch: &str,
    ) -> Result<bool, ForgeError> {
        self.branch_has(repo, sha, branch).await
    }
    async fn commit_sha(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Option<String>, ForgeError> {
        self.full_sha(repo, sha).await
    }
    async fn default_branch(
        &self,
        repo: &crate::model::Repo,
    ) -> Result<Option<String>, ForgeError> {
        self.project_default_branch(repo).await
    }
    async fn environment(
        &self,
        repo: &crate::model::Repo,
        name: &str,
    ) -> Result<Option<super::EnvironmentSettings>, ForgeError> {
        self.environment_settings(repo, name).await
    }
    async fn deployment(
        &self,
        repo: &crate::model::Repo,
        id: u64,
    ) -> Result<Option<super::ForgeDeployment>, ForgeError> {
        self.one_deployment(repo, id).await
    }
    async fn deployments(
        &self,
        repo: &crate::model::Repo,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<super::ForgeDeployment>, ForgeError> {
        self.list_deployments(repo, environment, sha).await
    }
    async fn blocked_deployments(
        &self,
        repo: &crate::model::Repo,
    ) -> Result<Vec<super::ForgeDeployment>, ForgeError> {
        self.list_blocked_deployments(repo).await
    }
    async fn answer_deployment(
        &self,
        repo: &crate::model::Repo,
        target: &super::DeploymentTarget,
        answer: super::DeploymentAnswer,
        comment: &str,
    ) -> Result<(), ForgeError> {
        self.answer(repo, target, answer, comment).await
    }
}
