//! Merge requests and issues as GitLab shows them: one change, the open ones, those a commit
//! heads, an issue's assignees, a merge request's files and when its head was pushed.

use super::GitlabClient;
use super::client::enc;
use super::wire::{WireChange, WireUser, WireVersion};
use crate::forge::{ChangeRef, ForgeError};
use crate::model::{Change, ChangeKind, ChangedFiles, Repo, User};
use chrono::{DateTime, Utc};
use serde::Deserialize;

impl GitlabClient {
    /// [`crate::forge::Forge::change`]: `None` when gone; the project's path from the API.
    pub(super) async fn read_change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
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

    /// [`crate::forge::Forge::head_pushed_at`]: when the diff version of head `sha` was made.
    pub(super) async fn head_version_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(None);
        }
        // Newest first; the first page holds the current head.
        let url = format!("{}/versions?per_page=20", self.change_url(r));
        let Some(reply) = self.get_found(&url, "read diff versions").await? else {
            return Ok(None);
        };
        Ok(reply
            .json::<Vec<WireVersion>>()?
            .into_iter()
            .find(|v| v.head_commit_sha.as_deref() == Some(sha))
            .and_then(|v| v.created_at))
    }

    /// [`crate::forge::Forge::open_changes`]: open merge requests, then open issues.
    pub(super) async fn list_open_changes(&self, repo: &Repo) -> Result<Vec<Change>, ForgeError> {
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

    /// [`crate::forge::Forge::issue_assignees`].
    pub(super) async fn read_issue_assignees(
        &self,
        r: &ChangeRef,
    ) -> Result<Vec<User>, ForgeError> {
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

    /// [`crate::forge::Forge::open_changes_with_head`].
    pub(super) async fn open_mrs_with_head(
        &self,
        repo: &Repo,
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

    /// [`crate::forge::Forge::changed_files`]: a merge request's paths, each once.
    pub(super) async fn mr_changed_files(&self, r: &ChangeRef) -> Result<ChangedFiles, ForgeError> {
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
}
