//! What the commits of a pull request say: who authored them (all of them, past the 250 that
//! GitHub lists for a pull request) and when the head was pushed (its check suites).

use super::GithubClient;
use super::wire::{WireChange, WireUser, time};
use crate::forge::{ChangeRef, ForgeError, MAX_PAGES, PER_PAGE};
use crate::model::{ChangeKind, User};
use ::http::Method;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// GitHub lists at most this many commits of a pull request (`/pulls/{n}/commits`).
const PULL_COMMITS_CAP: usize = 250;

#[derive(Deserialize)]
struct WireCommit {
    author: Option<WireUser>,
    committer: Option<WireUser>,
}

impl GithubClient {
    /// The accounts that authored or committed the pull request's commits: its commit list,
    /// or when that is cut at GitHub's 250, every commit between the base and the head (the
    /// compare API, paged); `TooLong` when they cannot all be read.
    pub(super) async fn all_commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/commits", r.number));
        let listed: Vec<WireCommit> =
            crate::forge::empty_if_missing(self.list_conditional(&url, "read commits").await)?;
        let commits = if listed.len() < PULL_COMMITS_CAP {
            listed
        } else {
            self.compared_commits(r).await?
        };
        let mut out: Vec<User> = vec![];
        for u in commits
            .iter()
            .flat_map(|c| [&c.author, &c.committer])
            .flatten()
            .map(WireUser::user)
        {
            // `web-flow` commits what people do in GitHub's web interface: not a person.
            let web_flow = u.username.as_deref() == Some("web-flow");
            if !web_flow && !out.iter().any(|o| o.same_as(&u) == Some(true)) {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Every commit reachable from the head and not from the base, page by page; all of
    /// them, as many as `total_commits` says, or `TooLong`.
    async fn compared_commits(&self, r: &ChangeRef) -> Result<Vec<WireCommit>, ForgeError> {
        #[derive(Deserialize)]
        struct Compare {
            total_commits: Option<usize>,
            #[serde(default)]
            commits: Vec<WireCommit>,
        }
        const WHAT: &str = "commit list";
        let pr: WireChange = self
            .get_conditional(
                &self.repo_url(r, &format!("/pulls/{}", r.number)),
                "read the change",
            )
            .await?
            .json()?;
        let base = pr.base.and_then(|b| b.sha).filter(|s| is_sha(s));
        let head = pr.head.and_then(|h| h.sha).filter(|s| is_sha(s));
        let (Some(base), Some(head)) = (base, head) else {
            return Err(ForgeError::TooLong(WHAT.into()));
        };
        let url = self.repo_url(r, &format!("/compare/{base}...{head}"));
        let mut out = vec![];
        for page in 1..=MAX_PAGES {
            let reply = match self
                .call(
                    true,
                    Method::GET,
                    &format!("{url}?per_page={PER_PAGE}&page={page}"),
                    None,
                    "compare the pull request's commits",
                )
                .await
            {
                // A comparison GitHub will not make: the commits cannot all be read.
                Err(ForgeError::NotFound(_)) | Err(ForgeError::Refused { .. }) => break,
                other => other?,
            };
            let c: Compare = reply.json()?;
            let Some(total) = c.total_commits else {
                return Err(ForgeError::TooLong(WHAT.into()));
            };
            let empty = c.commits.is_empty();
            out.extend(c.commits);
            if out.len() >= total {
                return Ok(out);
            }
            if empty {
                break;
            }
        }
        // Fewer commits than the comparison counts: never judged on part of them.
        Err(ForgeError::TooLong(WHAT.into()))
    }

    /// When GitHub created the head's first check suite: it creates them when the commit is
    /// pushed. `None` when there is none, or the token may not read them.
    pub(super) async fn first_check_suite(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        #[derive(Deserialize)]
        struct Suite {
            head_sha: Option<String>,
            created_at: Option<String>,
        }
        #[derive(Deserialize)]
        struct Suites {
            #[serde(default)]
            check_suites: Vec<Suite>,
        }
        if r.kind != ChangeKind::MergeRequest || !is_sha(sha) {
            return Ok(None);
        }
        // The first page is enough: a later suite than the first only makes the estimate
        // later, which counts fewer approvals, never more.
        let url = self.repo_url(
            r,
            &format!("/commits/{sha}/check-suites?per_page={PER_PAGE}"),
        );
        // Conditional: asked again while there is none, an unchanged answer costs nothing.
        let reply = match self.get_conditional(&url, "read check suites").await {
            Err(ForgeError::NotFound(_)) | Err(ForgeError::Refused { .. }) => return Ok(None),
            other => other?,
        };
        Ok(reply
            .json::<Suites>()?
            .check_suites
            .into_iter()
            .filter(|s| s.head_sha.as_deref() == Some(sha))
            .filter_map(|s| time(&s.created_at))
            .min())
    }
}

/// A full commit id: the only thing put in these paths.
fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
