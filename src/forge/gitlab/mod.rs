//! GitLab REST API v4 through reqwest. Projects are addressed by numeric id when the webhook
//! gave one, else by URL-encoded full path; the project's path is always taken from the API.
//! `client.rs` holds the plumbing, `wire.rs` the answers' shapes.

mod blocks;
mod client;
pub mod compare;
mod deployments;
mod labels;
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
use crate::model::{
    Change, ChangeKind, ChangedFiles, History, Label, LabelEvent, Review, StatusState, TeamRef,
    User,
};
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
        let reply = match self
            .call(
                true,
                reqwest::Method::GET,
                &self.change_url(r),
                None,
                "read the change",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let w: WireChange = reply.json()?;
        // The payload's path is not signed by anything the project owns: the API says
        // which project this id is, and approver groups follow from that.
        let path = match w.project_path() {
            Some(p) => p,
            None => self.project_path(r).await?,
        };
        let repo = crate::model::Repo {
            path: crate::model::RepoPath::new(&path),
            id: r.repo.id,
        };
        Ok(Some(w.into_change(&repo, r.kind)))
    }

    async fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(None);
        }
        // Newest first; the first page holds the current head.
        let url = format!("{}/versions?per_page=20", self.change_url(r));
        let reply = match self
            .call(true, reqwest::Method::GET, &url, None, "read diff versions")
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        Ok(reply
            .json::<Vec<WireVersion>>()?
            .into_iter()
            .find(|v| v.head_commit_sha.as_deref() == Some(sha))
            .and_then(|v| v.created_at))
    }

    async fn repo_file(
        &self,
        repo: &crate::model::Repo,
        path: &str,
    ) -> Result<Option<super::RepoFile>, ForgeError> {
        #[derive(Deserialize)]
        struct File {
            content: String,
            blob_id: String,
        }
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        // `HEAD` is the default branch.
        let url = format!(
            "{}/repository/files/{}?ref=HEAD",
            self.project(&r),
            enc(path)
        );
        let reply = match self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the repository rules",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let f: File = reply.json()?;
        super::decode_file(&f.content, f.blob_id).map(Some)
    }

    async fn open_changes(&self, repo: &crate::model::Repo) -> Result<Vec<Change>, ForgeError> {
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        let project = self.project(&r);
        let mrs: Vec<WireChange> = self
            .list(
                &format!("{project}/merge_requests?state=opened"),
                "list open merge requests",
            )
            .await?;
        let issues: Vec<WireChange> = self
            .list(
                &format!("{project}/issues?state=opened"),
                "list open issues",
            )
            .await?;
        let mut out: Vec<Change> = mrs
            .into_iter()
            .map(|w| w.into_change(repo, ChangeKind::MergeRequest))
            .collect();
        out.extend(
            issues
                .into_iter()
                .map(|w| w.into_change(repo, ChangeKind::Issue)),
        );
        Ok(out)
    }

    async fn project_labels(
        &self,
        repo: &crate::model::Repo,
    ) -> Result<Vec<(String, u64)>, ForgeError> {
        #[derive(Deserialize)]
        struct WireProjectLabel {
            id: u64,
            name: String,
        }
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        // Group labels too: a project's merge requests may carry them.
        let url = format!("{}/labels?include_ancestor_groups=true", self.project(&r));
        let labels: Vec<WireProjectLabel> = self.list(&url, "list the project's labels").await?;
        Ok(labels.into_iter().map(|l| (l.name, l.id)).collect())
    }

    async fn issue_assignees(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        #[derive(Deserialize)]
        struct Assigned {
            #[serde(default)]
            assignees: Vec<WireUser>,
        }
        let a: Assigned = self
            .call(
                true,
                reqwest::Method::GET,
                &self.change_url(r),
                None,
                "read the issue's assignees",
            )
            .await?
            .json()?;
        Ok(a.assignees.iter().map(WireUser::user).collect())
    }

    async fn open_changes_with_head(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Vec<(u64, Option<String>)>, ForgeError> {
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        // Merge requests related to the commit: those containing it too, and merged ones.
        let url = format!(
            "{}/repository/commits/{}/merge_requests",
            self.project(&r),
            enc(sha)
        );
        let mrs: Vec<WireChange> = self
            .list(&url, "list the merge requests of a commit")
            .await?;
        Ok(mrs
            .into_iter()
            .filter(|w| w.state.as_deref() == Some("opened") && w.sha.as_deref() == Some(sha))
            .map(|w| (w.iid, w.target_branch))
            .collect())
    }

    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        let url = format!("{}/resource_label_events", self.change_url(r));
        let read = super::read_history(
            "label history",
            |n| self.page::<WireLabelEvent>(&url, n, "read label history"),
            |events| {
                crate::model::holds_latest(
                    current,
                    events
                        .iter()
                        .filter_map(|e| Some((e.label.as_ref()?.name.as_str(), e.action == "add"))),
                )
            },
        )
        .await;
        let (events, cut) = match read {
            Err(ForgeError::NotFound(_)) => (vec![], false),
            other => other?,
        };
        let mut gaps = super::cut_gap(cut, events.first().and_then(|e| e.created_at));
        // A deleted label's events name no label: what they applied or removed, and so the
        // labels at any time before them, cannot be told.
        let blank = events.iter().filter(|e| e.label.is_none()).count();
        if blank > 0 {
            gaps.push(crate::model::Gap {
                what: format!("{blank} label events of a deleted label"),
                before: None,
            });
        }
        let (labels, label_ids) = events
            .into_iter()
            .filter_map(|e| {
                // A deleted label's events have no label: nothing to attribute.
                let label = e.label?;
                let event = LabelEvent {
                    label: Label::new(&label.name),
                    added: e.action == "add",
                    actor: e.user.as_ref().map(WireUser::user).unwrap_or_default(),
                    at: e.created_at,
                };
                Some((event, label.id))
            })
            .unzip();
        // GitLab keeps no event for a retarget; the webhook and the bot's memory tell it.
        Ok(History {
            labels,
            retargeted_at: None,
            gaps,
            label_ids,
            label_node_ids: vec![],
            label_node_edited_at: vec![],
        })
    }

    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = format!("{}/approvals", self.change_url(r));
        let reply = match self
            .call(true, reqwest::Method::GET, &url, None, "read approvals")
            .await
        {
            // GitLab Free answers 404 where Premium has merge request approvals.
            Err(ForgeError::NotFound(_)) => return Ok(vec![]),
            other => other?,
        };
        // GitLab resets approvals on push when the project says so; the ones listed stand.
        Ok(reply
            .json::<WireApprovals>()?
            .approved_by
            .into_iter()
            .map(|a| Review {
                reviewer: a.user.user(),
                approved: true,
                commit_sha: None,
                submitted_at: a.approved_at,
            })
            .collect())
    }

    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        #[derive(Deserialize)]
        struct WireCommit {
            author_email: Option<String>,
            committer_email: Option<String>,
        }
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = format!("{}/commits", self.change_url(r));
        let commits: Vec<WireCommit> =
            super::empty_if_missing(self.list(&url, "read commits").await)?;
        let emails = commits
            .into_iter()
            .flat_map(|c| [c.author_email, c.committer_email])
            .flatten();
        self.users_by_email(emails).await
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
        #[derive(Deserialize)]
        struct WireDiff {
            old_path: Option<String>,
            new_path: Option<String>,
        }
        if r.kind != ChangeKind::MergeRequest {
            return Ok(ChangedFiles::none());
        }
        let url = format!("{}/diffs", self.change_url(r));
        let diffs: Vec<WireDiff> = match self.list(&url, "read changed files").await {
            Err(ForgeError::TooLong(_)) => return Ok(ChangedFiles::cut()),
            other => other?,
        };
        let mut paths: Vec<String> = vec![];
        for p in diffs
            .into_iter()
            .flat_map(|d| [d.new_path, d.old_path])
            .flatten()
        {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        Ok(ChangedFiles {
            paths,
            complete: true,
        })
    }

    async fn is_member(&self, team: &TeamRef, user: &User) -> Result<bool, ForgeError> {
        let TeamRef::GitlabGroup { path } = team else {
            return Ok(false);
        };
        let Some(id) = self.user_id(user).await? else {
            return Ok(false);
        };
        // Direct members only: `/members/all` would count everyone who inherits access from
        // a parent group (every member of `acme` in `acme/managers`).
        let url = format!("{}/groups/{}/members/{id}", self.api, enc(path));
        match self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read group membership",
            )
            .await
        {
            Ok(reply) => Ok(reply
                .json::<WireMember>()?
                .counts(self.min_access_level, Utc::now().date_naive())),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
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
        let url = format!("{}/notes?sort=asc&order_by=created_at", self.change_url(r));
        let notes: Vec<WireNote> = super::empty_if_missing(self.list(&url, "read notes").await)?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(WireNote::comment)
            .collect())
    }

    async fn comment(
        &self,
        r: &ChangeRef,
        _source: crate::model::CommentSource,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        let url = format!("{}/notes/{id}", self.change_url(r));
        match self
            .call(true, reqwest::Method::GET, &url, None, "read a note")
            .await
        {
            Ok(reply) => Ok(Some(reply.json::<WireNote>()?.comment())),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn react(
        &self,
        r: &ChangeRef,
        _source: crate::model::CommentSource,
        id: u64,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{id}/award_emoji", self.change_url(r));
        self.call(
            false,
            reqwest::Method::POST,
            &url,
            Some(json!({ "name": "thumbsup" })),
            "award an emoji to a note",
        )
        .await?;
        Ok(())
    }

    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        let url = format!("{}/notes", self.change_url(r));
        self.call(
            false,
            reqwest::Method::POST,
            &url,
            Some(json!({ "body": body })),
            "create the note",
        )
        .await?
        .json::<CreatedId>()
        .map(|c| u64::try_from(c.id).unwrap_or(0))
    }

    async fn update_comment(&self, r: &ChangeRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{id}", self.change_url(r));
        self.call(
            true,
            reqwest::Method::PUT,
            &url,
            Some(json!({ "body": body })),
            "update the note",
        )
        .await
        .map(drop)
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
        let reply = match self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the commit status",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
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
