//! Whether GitLab's compare listed every commit of a range. GitLab gives no count (GitHub's
//! `total_commits`), so the list is checked against the commits' own parents: a parent named
//! outside the list must be the merge base or one of its ancestors, else the list has a gap.

use super::GitlabClient;
use super::client::enc;
use crate::forge::{ForgeError, RangeCommit, deployments::parents_outside};
use crate::model::Repo;
use reqwest::Method;
use serde::Deserialize;

/// The most parents outside a range asked about (one call each); more: not verified. Each
/// merge request branched before the baseline and merged with a merge commit adds one.
const MAX_OUTSIDE: usize = 100;

impl GitlabClient {
    /// Whether `commits` (the compare of `base...head`, merge base `merge_base`) are the whole
    /// range: head among them unless it is the merge base, and every parent outside them an
    /// ancestor of `base` (`GET …/repository/merge_base?refs[]=parent&refs[]=base` is it).
    pub(super) async fn range_is_whole(
        &self,
        repo: &Repo,
        commits: &[RangeCommit],
        base: &str,
        head: &str,
        merge_base: &str,
    ) -> Result<bool, ForgeError> {
        #[derive(Deserialize)]
        struct MergeBase {
            id: Option<String>,
        }
        let Some(outside) = parents_outside(commits, head, merge_base) else {
            return Ok(false);
        };
        if outside.len() > MAX_OUTSIDE {
            return Ok(false);
        }
        for p in outside {
            if p.len() < 40 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(false);
            }
            let url = format!(
                "{}/repository/merge_base?refs[]={}&refs[]={}",
                self.project_of(repo),
                enc(&p),
                enc(base)
            );
            let mb: MergeBase = self
                .call(true, Method::GET, &url, None, "read a merge base")
                .await?
                .json()?;
            let ancestor = mb.id.is_some_and(|id| id.eq_ignore_ascii_case(&p));
            if !ancestor {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
