//! Changes over REST: one change (when GraphQL cannot give it whole), the open ones, those a
//! commit heads, an issue's assignees and a pull request's files.

use super::GithubClient;
use super::client::enc;
use super::wire::{WireChange, WireUser};
use crate::forge::{ChangeRef, ForgeError};
use crate::model::{Change, ChangeKind, ChangedFiles, Repo, User};
use serde::Deserialize;

impl GithubClient {
    /// [`crate::forge::Forge::change`]: GraphQL's whole snapshot, else REST (`None` when gone).
    pub(super) async fn read_change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        // One query for the whole snapshot; REST when GraphQL cannot give it whole.
        if let Some(read) = self.change_by_graphql(r).await? {
            return Ok(read);
        }
        let path = match r.kind {
            ChangeKind::MergeRequest => format!("/pulls/{}", r.number),
            ChangeKind::Issue => format!("/issues/{}", r.number),
        };
        // Conditional: an unchanged change answers 304, which costs no rate limit.
        let reply = match self
            .get_conditional(&self.repo_url(r, &path), "read the change")
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let w: WireChange = reply.json()?;
        // `/issues/{n}` answers for pull requests too: such an answer is no issue.
        let kind = match &w.pull_request {
            Some(_) => ChangeKind::MergeRequest,
            None => r.kind,
        };
        Ok(Some(w.into_change(&r.repo, kind, r.number)))
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
        if let Some(a) = self.snapshot_part(r, |s| s.assignees.clone()) {
            return Ok(a);
        }
        let url = self.repo_url(r, &format!("/issues/{}", r.number));
        // The issue was just read: this answers 304 (free) unless it changed since.
        let a: Assigned = self
            .get_conditional(&url, "read the issue's assignees")
            .await?
            .json()?;
        Ok(a.assignees.iter().map(WireUser::user).collect())
    }

    /// [`crate::forge::Forge::open_changes`]: open pull requests, then open issues.
    pub(super) async fn list_open_changes(&self, repo: &Repo) -> Result<Vec<Change>, ForgeError> {
        let base = format!("{}/repos/{}", self.api, repo.path);
        let pulls: Vec<WireChange> = self
            .list_conditional(
                &format!("{base}/pulls?state=open"),
                "list open pull requests",
            )
            .await?;
        let issues: Vec<WireChange> = self
            .list_conditional(&format!("{base}/issues?state=open"), "list open issues")
            .await?;
        let to_change = |w: WireChange, kind| {
            let n = w.number.and_then(|n| u64::try_from(n).ok())?;
            Some(w.into_change(repo, kind, n))
        };
        let mut out: Vec<Change> = pulls
            .into_iter()
            .filter_map(|w| to_change(w, ChangeKind::MergeRequest))
            .collect();
        // The issues listing includes pull requests; they are listed above already.
        out.extend(
            issues
                .into_iter()
                .filter(|w| w.pull_request.is_none())
                .filter_map(|w| to_change(w, ChangeKind::Issue)),
        );
        Ok(out)
    }

    /// [`crate::forge::Forge::open_changes_with_head`].
    pub(super) async fn open_pulls_with_head(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<(u64, Option<String>)>, ForgeError> {
        if let Some(pulls) = self.head_pulls_from_snapshot(repo, sha) {
            return Ok(pulls);
        }
        // The pull requests associated with a commit include those that merely contain it
        // and merged ones: only open ones whose head it is share its status.
        let url = format!(
            "{}/repos/{}/commits/{}/pulls",
            self.api,
            repo.path,
            enc(sha)
        );
        let pulls: Vec<WireChange> = self
            .list_conditional(&url, "list the pull requests of a commit")
            .await?;
        Ok(pulls
            .into_iter()
            .filter(|w| w.state.as_deref() == Some("open"))
            .filter(|w| w.head.as_ref().and_then(|h| h.sha.as_deref()) == Some(sha))
            .filter_map(|w| {
                let n = w.number.and_then(|n| u64::try_from(n).ok())?;
                Some((n, w.base.and_then(|b| b.name)))
            })
            .collect())
    }

    /// [`crate::forge::Forge::changed_files`]: a pull request's files; none for an issue.
    pub(super) async fn pull_files(&self, r: &ChangeRef) -> Result<ChangedFiles, ForgeError> {
        #[derive(Deserialize)]
        struct WireFile {
            filename: String,
            previous_filename: Option<String>,
        }
        // GitHub lists at most 3,000 files of a pull request: a listing that long may be cut.
        const GITHUB_MAX_FILES: usize = 3000;
        if r.kind != ChangeKind::MergeRequest {
            return Ok(ChangedFiles::none());
        }
        if let Some(files) = self.snapshot_part(r, |s| s.files.clone()) {
            return Ok(files);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/files", r.number));
        let files: Vec<WireFile> = match self.list_conditional(&url, "read changed files").await {
            Err(ForgeError::TooLong(_)) => return Ok(ChangedFiles::cut()),
            other => other?,
        };
        let complete = files.len() < GITHUB_MAX_FILES;
        let paths = files
            .into_iter()
            .flat_map(|f| std::iter::once(f.filename).chain(f.previous_filename))
            .collect();
        Ok(ChangedFiles { paths, complete })
    }
}
