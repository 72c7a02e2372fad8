//! GitHub REST API through octocrab (token auth, or a GitHub App's installation tokens).
//! Requests are paths on `github.api_url`, so GitHub Enterprise (`https://HOST/api/v3`) and test
//! fakes work alike. `client.rs` holds the plumbing, `wire.rs` the answers' shapes; the
//! [`Forge`] methods below hand the longer reads and writes to the files named for them.

mod changes;
mod client;
mod comments;
mod commits;
pub mod compare;
mod contents;
mod deployments;
pub mod graphql;
mod history;
mod labels;
mod members;
mod repository;
mod snapshot;
mod statuses;
mod wire;

pub use client::GithubClient;

use super::{ChangeRef, Comment, Forge, ForgeError};
use crate::model::{
    Change, ChangeKind, ChangedFiles, History, Label, Review, StatusState, TeamRef, User,
};
use ::http::Method;
use client::enc;
use serde_json::json;
use wire::*;

impl Forge for GithubClient {
    async fn change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        self.read_change(r).await
    }

    async fn project_label_nodes(
        &self,
        r: &ChangeRef,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        self.repo_label_nodes(r).await
    }

    async fn issue_assignees(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        self.read_issue_assignees(r).await
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

    async fn open_changes_with_head(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Vec<(u64, Option<String>)>, ForgeError> {
        self.open_pulls_with_head(repo, sha).await
    }

    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        // GraphQL shows a label as it is named now: the worker counts its applications by
        // the label's node id (`label_node_ids`).
        if let Some(history) = self.snapshot_part(r, |s| s.history.clone()) {
            return Ok(history);
        }
        self.label_events_as_applied(r, current).await
    }

    async fn label_events_as_applied(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> Result<History, ForgeError> {
        self.issue_label_events(r, current).await
    }

    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        if let Some(reviews) = self.snapshot_part(r, |s| s.reviews.clone()) {
            return Ok(reviews);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/reviews", r.number));
        let reviews: Vec<WireReview> =
            super::empty_if_missing(self.list_conditional(&url, "read reviews").await)?;
        Ok(standing_approvals(reviews))
    }

    async fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, ForgeError> {
        let read = self.snapshot_part(r, |s| s.head.clone().filter(|(head, _)| head == sha));
        if let Some((_, at)) = read.filter(|_| r.kind == ChangeKind::MergeRequest) {
            return Ok(at);
        }
        self.first_check_suite(r, sha).await
    }

    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        if r.kind == ChangeKind::MergeRequest
            && let Some(authors) = self.snapshot_part(r, |s| s.commit_authors.clone())
        {
            return Ok(authors);
        }
        self.all_commit_authors(r).await
    }

    async fn changed_files(&self, r: &ChangeRef) -> Result<ChangedFiles, ForgeError> {
        self.pull_files(r).await
    }

    async fn change_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<crate::diff::ChangeDiff, ForgeError> {
        self.compare_diff(r, base, head).await
    }

    async fn is_member(&self, team: &TeamRef, user: &User) -> Result<bool, ForgeError> {
        let (TeamRef::GithubTeam { org, slug }, Some(login)) = (team, user.username.as_deref())
        else {
            return Ok(false);
        };
        let url = format!(
            "{}/orgs/{}/teams/{}/memberships/{}",
            self.api,
            enc(org),
            enc(slug),
            enc(login)
        );
        match self
            .call(true, Method::GET, &url, None, "read team membership")
            .await
        {
            Ok(reply) => Ok(reply.json::<WireMembership>()?.state.as_deref() == Some("active")),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn are_members(&self, questions: &[(TeamRef, User)]) -> Result<Vec<bool>, ForgeError> {
        self.members(questions).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<u64>, ForgeError> {
        let url = format!("{}/users/{}", self.api, enc(login));
        match self
            .call(true, Method::GET, &url, None, "find a user")
            .await
        {
            Ok(reply) => Ok(reply.json::<WireUser>()?.user().id),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn current_user(&self) -> Result<User, ForgeError> {
        if let Some(app) = &self.app {
            return app.bot().await;
        }
        let reply = self
            .call(
                true,
                Method::GET,
                &format!("{}/user", self.api),
                None,
                "read the bot's account",
            )
            .await?;
        Ok(reply.json::<WireUser>()?.user())
    }

    async fn comments(&self, r: &ChangeRef) -> Result<Vec<Comment>, ForgeError> {
        let url = self.repo_url(r, &format!("/issues/{}/comments", r.number));
        let list: Vec<WireComment> =
            super::empty_if_missing(self.list_conditional(&url, "read comments").await)?;
        Ok(list.into_iter().filter_map(comments::comment).collect())
    }

    async fn comment(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        self.read_comment(r, source, id).await
    }

    async fn comment_origin(
        &self,
        node_id: Option<&str>,
    ) -> Result<Option<super::CommentOrigin>, ForgeError> {
        match node_id {
            Some(id) => self.origin(id).await.map(Some),
            None => Ok(None),
        }
    }

    async fn react(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> Result<(), ForgeError> {
        self.react_to(r, source, id).await
    }

    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        self.snapshots.forget(r);
        let url = self.repo_url(r, &format!("/issues/{}/comments", r.number));
        self.call(
            false,
            Method::POST,
            &url,
            Some(json!({ "body": body })),
            "create the comment",
        )
        .await?
        .json::<CreatedId>()
        .map(|c| u64::try_from(c.id).unwrap_or(0))
    }

    async fn update_comment(&self, r: &ChangeRef, id: u64, body: &str) -> Result<(), ForgeError> {
        self.snapshots.forget(r);
        // PATCH, as the API documents (octocrab's update_comment sends POST).
        let url = self.repo_url(r, &format!("/issues/comments/{id}"));
        self.call(
            true,
            Method::PATCH,
            &url,
            Some(json!({ "body": body })),
            "update the comment",
        )
        .await
        .map(drop)
    }

    async fn add_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        self.snapshots.forget(r);
        let url = self.repo_url(r, &format!("/issues/{}/labels", r.number));
        let names: Vec<&str> = labels.iter().map(Label::as_str).collect();
        self.call(
            true,
            Method::POST,
            &url,
            Some(json!({ "labels": names })),
            "add labels",
        )
        .await
        .map(drop)
    }

    async fn remove_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        self.snapshots.forget(r);
        for label in labels {
            let url = self.repo_url(
                r,
                &format!("/issues/{}/labels/{}", r.number, enc(label.as_str())),
            );
            match self
                .call(true, Method::DELETE, &url, None, "remove a label")
                .await
            {
                // Already gone: the goal is reached.
                Ok(_) | Err(ForgeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn current_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        context: &str,
    ) -> Result<Option<(StatusState, String)>, ForgeError> {
        self.read_status(r, sha, context).await
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
        self.write_status(r, sha, state, context, description, more)
            .await
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
        self.repository_default_branch(repo).await
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
