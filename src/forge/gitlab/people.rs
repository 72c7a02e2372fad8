//! Who stands behind a merge request, as GitLab says it: the approvals that stand, the accounts
//! of its commits' authors and committers, and direct membership of a group.

use super::GitlabClient;
use super::client::enc;
use super::wire::{WireApprovals, WireMember};
use crate::forge::{ChangeRef, ForgeError};
use crate::model::{ChangeKind, Review, TeamRef, User};
use chrono::Utc;
use serde::Deserialize;

impl GitlabClient {
    /// [`crate::forge::Forge::approvals`]: none for an issue, or where GitLab has none (Free).
    pub(super) async fn read_approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
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

    /// [`crate::forge::Forge::commit_authors`]: the accounts the commits' emails belong to.
    pub(super) async fn mr_commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
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
            crate::forge::empty_if_missing(self.list(&url, "read commits").await)?;
        let emails = commits
            .into_iter()
            .flat_map(|c| [c.author_email, c.committer_email])
            .flatten();
        self.users_by_email(emails).await
    }

    /// [`crate::forge::Forge::is_member`]: a direct member of the group, at the level asked.
    pub(super) async fn group_member(
        &self,
        team: &TeamRef,
        user: &User,
    ) -> Result<bool, ForgeError> {
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
}
