//! A change's reads through one GraphQL query: `change()` asks it, and the reads that follow
//! in the same evaluation (label history, reviews, commit authors, push time, statuses, files,
//! assignees) answer from it. Where GraphQL is not available (a 404, an older schema) the
//! client says so once per installation and reads REST at once; where it answers errors or
//! nulls it is asked once more, then REST reads the change — never "none".

use super::GithubClient;
use super::graphql::{self, GqlError, GqlSnapshot};
use crate::forge::http::Reply;
use crate::forge::{ChangeRef, ForgeError};
use crate::model::{Change, ChangeKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an installation whose GraphQL could not answer the query reads REST only (ms).
const UNAVAILABLE_FOR_MS: i64 = 3_600_000;
/// Snapshots kept at most (one per change being evaluated; older ones are dropped).
const KEPT: usize = 256;

/// How long a snapshot stands for reads outside a job run (a command run once).
const FRESH: Duration = Duration::from_secs(30);

/// A snapshot and the run that read it: only that run's reads answer from it, so that a
/// later job never takes an earlier job's view of the change.
struct Kept {
    run: Option<u64>,
    at: Instant,
    snap: Arc<GqlSnapshot>,
}

/// Why a snapshot was not read whole through GraphQL.
enum Outcome {
    Gql(GqlError),
    /// A page could not be asked (the request failed after its retries).
    Failed(ForgeError),
}

/// The snapshots of changes being evaluated, and the installations without GraphQL.
#[derive(Default, Clone)]
pub(crate) struct Snapshots {
    kept: Arc<Mutex<HashMap<String, Kept>>>,
    /// Since when (ms, [`Self::clock`]) each installation reads REST only.
    unavailable: Arc<Mutex<HashMap<String, i64>>>,
    /// Off by setting (`github.graphql: false`): REST only.
    pub(super) off: bool,
    pub(super) clock: crate::clock::Clock,
}

fn key(r: &ChangeRef) -> String {
    format!("{}#{}", r.repo.path.as_str().to_lowercase(), r.number)
}

impl Snapshots {
    fn get(&self, r: &ChangeRef) -> Option<Arc<GqlSnapshot>> {
        let kept = self.kept.lock().ok()?;
        let k = kept.get(&key(r))?;
        let run = crate::forge::quota::current_run();
        let same = match (run, k.run) {
            (Some(now), Some(then)) => now == then,
            (None, None) => k.at.elapsed() < FRESH,
            _ => false,
        };
        same.then(|| k.snap.clone())
    }

    fn put(&self, r: &ChangeRef, s: GqlSnapshot) {
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= KEPT {
                kept.clear();
            }
            let k = Kept {
                run: crate::forge::quota::current_run(),
                at: Instant::now(),
                snap: Arc::new(s),
            };
            kept.insert(key(r), k);
        }
    }

    /// The snapshot this run read of a pull request of `repo` whose head is `sha`.
    fn by_head(&self, repo: &crate::model::Repo, sha: &str) -> Option<Arc<GqlSnapshot>> {
        let prefix = format!("{}#", repo.path.as_str().to_lowercase());
        let keys: Vec<String> = {
            let kept = self.kept.lock().ok()?;
            kept.keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect()
        };
        keys.into_iter().find_map(|k| {
            let number = k.rsplit('#').next()?.parse().ok()?;
            let r = ChangeRef {
                repo: repo.clone(),
                kind: ChangeKind::MergeRequest,
                number,
            };
            self.get(&r)
                .filter(|s| s.head.as_ref().is_some_and(|(h, _)| h == sha))
        })
    }

    /// Forgets the change's snapshot: the bot wrote to it, or a new evaluation reads it.
    pub(super) fn forget(&self, r: &ChangeRef) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.remove(&key(r));
        }
    }

    fn available(&self, installation: &str) -> bool {
        if self.off {
            return false;
        }
        let Ok(mut off) = self.unavailable.lock() else {
            return false;
        };
        let now = self.clock.now_ms();
        match off.get(installation) {
            // A clock moved back (or a time that cannot be placed) counts as still within.
            Some(since)
                if now
                    .checked_sub(*since)
                    .is_none_or(|d| d < UNAVAILABLE_FOR_MS) =>
            {
                false
            }
            Some(_) => {
                off.remove(installation);
                true
            }
            None => true,
        }
    }

    fn mark_unavailable(&self, installation: &str) {
        if let Ok(mut off) = self.unavailable.lock() {
            off.insert(installation.to_string(), self.clock.now_ms());
        }
    }
}

impl GithubClient {
    /// The part of the change's snapshot `pick` names, when this evaluation read it through
    /// GraphQL; `None`: read it through REST.
    pub(super) fn snapshot_part<T>(
        &self,
        r: &ChangeRef,
        pick: impl FnOnce(&GqlSnapshot) -> Option<T>,
    ) -> Option<T> {
        self.snapshots.get(r).and_then(|s| pick(&s))
    }

    /// The open pull requests whose head is `sha`, as this run's snapshot of one of them read
    /// them; `None`: ask REST.
    pub(super) fn head_pulls_from_snapshot(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Option<Vec<(u64, Option<String>)>> {
        self.snapshots.by_head(repo, sha)?.head_pulls.clone()
    }

    /// Whether GraphQL may be asked for this installation (not off, not found wanting).
    pub(super) fn graphql_available(&self, installation: &str) -> bool {
        self.snapshots.available(installation)
    }

    /// The change through the snapshot query: `Some` with the answer when GraphQL gave one
    /// whole, `None` when REST must read it.
    pub(super) async fn change_by_graphql(
        &self,
        r: &ChangeRef,
    ) -> Result<Option<Option<Change>>, ForgeError> {
        self.snapshots.forget(r);
        let repo_url = self.repo_url(r, "");
        let installation = self.token_for(&repo_url);
        if !self.snapshots.available(&installation) {
            return Ok(None);
        }
        let body = serde_json::json!({
            "query": graphql::SNAPSHOT_QUERY,
            "variables": graphql::variables(&r.repo, r.number)?,
        });
        // Once more after a partial answer: SAML or a timeout may pass; then REST.
        for attempt in 1..=2 {
            let reply = match self
                .post_graphql(
                    &repo_url,
                    &installation,
                    &body,
                    "read the change's snapshot (GraphQL)",
                )
                .await
            {
                Ok(reply) => reply,
                Err(ForgeError::NotFound(_)) => {
                    tracing::info!("no GraphQL endpoint: reading through REST");
                    self.snapshots.mark_unavailable(&installation);
                    return Ok(None);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the snapshot query failed: reading through REST");
                    return Ok(None);
                }
            };
            match self
                .complete(r, &repo_url, &installation, &reply.body)
                .await
            {
                Ok(snap) => {
                    if r.kind == ChangeKind::MergeRequest && snap.change.kind != r.kind {
                        // As REST's `/pulls/{n}` answers for an issue: no such pull request.
                        return Ok(Some(None));
                    }
                    let change = snap.change.clone();
                    self.snapshots.put(r, snap);
                    return Ok(Some(Some(change)));
                }
                Err(Outcome::Gql(GqlError::NotFound)) => return Ok(Some(None)),
                Err(Outcome::Gql(GqlError::Unavailable(why))) => {
                    tracing::warn!(%why, "GraphQL lacks what the snapshot needs here: reading through REST for an hour");
                    self.snapshots.mark_unavailable(&installation);
                    return Ok(None);
                }
                Err(Outcome::Gql(GqlError::Partial(why))) => {
                    // Billed all the same (its cost unsaid): at least a point.
                    crate::forge::quota::spend_points(1);
                    tracing::warn!(%why, attempt, "a partial GraphQL answer is refused whole");
                }
                Err(Outcome::Failed(e)) => {
                    tracing::warn!(error = %e, "a page of the snapshot could not be read: reading through REST");
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// The snapshot from the query's answer `first`, its connections past 100 items paged
    /// (one query per page, each refused whole on errors or nulls as the first).
    async fn complete(
        &self,
        r: &ChangeRef,
        repo_url: &str,
        installation: &str,
        first: &[u8],
    ) -> Result<GqlSnapshot, Outcome> {
        let mut pending = graphql::begin(first).map_err(Outcome::Gql)?;
        if let Some(rate) = pending.rate() {
            self.note_points(installation, &rate);
        }
        while let Some((part, cursor)) = pending.next().map_err(Outcome::Gql)? {
            let variables = graphql::page_variables(&r.repo, r.number, part, &cursor)
                .map_err(Outcome::Failed)?;
            let body = serde_json::json!({ "query": part.query(), "variables": variables });
            let reply = self
                .post_graphql(
                    repo_url,
                    installation,
                    &body,
                    "read a page of the change's snapshot (GraphQL)",
                )
                .await
                .map_err(Outcome::Failed)?;
            match pending.add(part, &reply.body).map_err(Outcome::Gql)? {
                Some(rate) => self.note_points(installation, &rate),
                None => crate::forge::quota::spend_points(1),
            }
        }
        pending.finish(&r.repo).map_err(Outcome::Gql)
    }

    /// One GraphQL request, sent with the credential of the repository at `auth_url` (an App
    /// installation's token, or the token), counted against GraphQL's own budget.
    pub(super) async fn post_graphql(
        &self,
        auth_url: &str,
        installation: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        let budget = format!("{installation}:graphql");
        self.retry
            .run(true, || async {
                crate::forge::quota::wait_if_exhausted(crate::model::Forge::Github, &budget)?;
                let (octo, path) = self.graphql_route(auth_url).await?;
                let resp = octo
                    ._post(path, Some(body))
                    .await
                    .map_err(|e| ForgeError::Transient(format!("POST graphql: {e}")))?;
                Reply::read(resp)
                    .await?
                    .observe_points("github", &budget, what)
                    .check(what)
            })
            .await
    }

    /// Records GraphQL's own budget as its answer states it (`rateLimit`), and the points.
    pub(super) fn note_points(&self, installation: &str, rate: &graphql::RateLimit) {
        let reset = crate::model::parse_time(&rate.reset_at).map(|t| t.timestamp());
        crate::forge::quota::record(
            crate::model::Forge::Github,
            &format!("{installation}:graphql"),
            Some(rate.remaining),
            Some(rate.limit),
            reset,
        );
        crate::forge::quota::spend_points(u64::try_from(rate.cost).unwrap_or(0));
    }
}
