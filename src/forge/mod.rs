//! The forges as the worker sees them: one small trait, two implementations (GitHub through
//! octocrab, GitLab through reqwest), typed errors where the worker branches.

mod client;
pub mod deployments;
pub mod github;
pub mod github_app;
pub mod gitlab;
mod http;
pub mod quota;
pub mod replies;

pub use client::ForgeClient;
pub use deployments::{
    CommitChange, CommitRange, DeploymentAnswer, DeploymentTarget, EnvironmentSettings,
    ForgeDeployment, RangeCommit, RangeRelation,
};
pub use http::RetryPolicy;
pub use replies::{ReplyStore, StoredReply};

use crate::model::{
    Change, ChangeEvent, ChangeKind, History, Label, Repo, Review, StatusState, TeamRef, User,
};
use std::future::Future;
use std::time::Duration;

/// Why a forge call failed, in the terms the worker acts on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForgeError {
    /// 429, an exhausted rate limit, or a secondary rate limit: try again after the wait.
    #[error("rate limited by the forge; retry after {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// 5xx, a timeout or a connection failure: worth retrying.
    #[error("the forge is unavailable: {0}")]
    Transient(String),
    /// 404 where something had to exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 401, 403, 422…: retrying will not help.
    #[error("the forge refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// A 2xx whose body is not what the API documents.
    #[error("unexpected response from the forge: {0}")]
    Decode(String),
    /// A listing longer than the bot reads, where what decides the verdict was not reached:
    /// the change cannot be verified (never evaluated on a partial history).
    #[error("the {0} is longer than changegate reads")]
    TooLong(String),
}

/// A listing that is not there (an instance without that API, a resource just deleted)
/// counts as empty: the change's own read decides whether the change exists.
pub(crate) fn empty_if_missing<T>(r: Result<Vec<T>, ForgeError>) -> Result<Vec<T>, ForgeError> {
    match r {
        Err(ForgeError::NotFound(_)) => Ok(vec![]),
        other => other,
    }
}

impl ForgeError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ForgeError::RateLimited { .. } | ForgeError::Transient(_)
        )
    }
}

/// Which change a call is about.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRef {
    pub repo: Repo,
    pub kind: ChangeKind,
    pub number: u64,
}

impl ChangeRef {
    pub fn of(event: &ChangeEvent) -> Self {
        ChangeRef {
            repo: event.change.repo.clone(),
            kind: event.change.kind,
            number: event.change.number,
        }
    }
}

/// A comment (GitHub) or note (GitLab) on a change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub author: User,
    /// When it was written.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the forge says it was edited after it was written.
    pub edited: bool,
    pub url: Option<String>,
    /// Why its commands are not read: a bot's or App's, posted through an App, a dismissed
    /// review.
    pub ignored: Option<String>,
    /// GitHub's GraphQL node id (to ask how it was written).
    pub node_id: Option<String>,
}

/// What the forge says of how a comment was written, beyond its REST answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommentOrigin {
    /// Sent as an e-mail reply to a notification (GitHub `createdViaEmail`).
    pub via_email: bool,
    /// Hidden by a moderator (GitHub `isMinimized`).
    pub minimized: bool,
    /// The forge no longer has it.
    pub gone: bool,
}

/// A file read from a repository's default branch.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoFile {
    pub text: String,
    /// The blob's sha: an unchanged file need not be parsed again.
    pub sha: String,
}

/// Decodes the base64 `content` both forges answer with (GitHub wraps it in newlines).
pub(crate) fn decode_file(content: &str, sha: String) -> Result<RepoFile, ForgeError> {
    use base64::Engine;
    let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| ForgeError::Decode(format!("file content is not base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ForgeError::Decode("the file is not UTF-8 text".into()))?;
    Ok(RepoFile { text, sha })
}

/// Everything the worker reads from and writes to a forge.
pub trait Forge: Send + Sync {
    /// The change as it is now; `None` when it no longer exists.
    fn change(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<Option<Change>, ForgeError>> + Send;
    /// A file on the repository's default branch; `None` when there is none.
    fn repo_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> impl Future<Output = Result<Option<RepoFile>, ForgeError>> + Send;
    /// Open merge requests and issues of a repository, as listed (for reconcile).
    fn open_changes(
        &self,
        repo: &Repo,
    ) -> impl Future<Output = Result<Vec<Change>, ForgeError>> + Send;
    /// The project's labels as they are named now, (name, id), where the forge names labels by
    /// id in their events (GitLab); empty elsewhere.
    fn project_labels(
        &self,
        repo: &Repo,
    ) -> impl Future<Output = Result<Vec<(String, u64)>, ForgeError>> + Send {
        let _ = repo;
        async { Ok(vec![]) }
    }
    /// The repository's labels as they are named now, (name, node id), where the forge's
    /// label history names labels by node id (GitHub's GraphQL); empty elsewhere.
    fn project_label_nodes(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ForgeError>> + Send {
        let _ = r;
        async { Ok(vec![]) }
    }
    /// The people an issue is assigned to (`assignees`): with its author, who may link it as
    /// a merge request's change issue.
    fn issue_assignees(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<Vec<User>, ForgeError>> + Send;
    /// The open merge requests whose head commit is `sha`: (number, target branch). A commit's
    /// status is one per context, so a verdict on it is a verdict for every one of them.
    fn open_changes_with_head(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> impl Future<Output = Result<Vec<(u64, Option<String>)>, ForgeError>> + Send;
    /// Who applied and removed which label, when, oldest first, and when the target branch
    /// last changed. Read completely, or at least far back enough to hold the latest
    /// application of each of `current` (the labels that decide); else `TooLong`.
    fn label_events(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> impl Future<Output = Result<History, ForgeError>> + Send;
    /// [`Self::label_events`] with each label named as it was when applied (GitHub's REST
    /// events), never as it is named now; the same where the forge has one history.
    fn label_events_as_applied(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> impl Future<Output = Result<History, ForgeError>> + Send {
        self.label_events(r, current)
    }
    /// Native approvals that currently stand on a merge request.
    fn approvals(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<Vec<Review>, ForgeError>> + Send;
    /// When the forge itself says the head `sha` was pushed (GitLab's diff versions, GitHub's
    /// first check suite); `None` where it does not say, and the worker's own records stand.
    fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> impl Future<Output = Result<Option<chrono::DateTime<chrono::Utc>>, ForgeError>> + Send
    {
        let _ = (r, sha);
        async { Ok(None) }
    }
    /// The accounts that authored or committed the merge request's commits, as far as the
    /// forge links commits to accounts.
    fn commit_authors(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<Vec<User>, ForgeError>> + Send;
    /// The files a merge request touches (new and previous paths), as far as the forge lists
    /// them (`complete` false past its limit).
    fn changed_files(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<crate::model::ChangedFiles, ForgeError>> + Send;
    /// The change's diff for `reset_on_push: changed_diff`: from the merge base of `base`
    /// (a commit of the target) and `head`, to `head`, as the forge shows it.
    fn change_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> impl Future<Output = Result<crate::diff::ChangeDiff, ForgeError>> + Send;
    /// The paths (old and new) whose content or mode differ between two commits: where a
    /// forge's diffs carry no blob ids (GitLab), what confirms that the touched files of two
    /// identical diffs are the same. A forge that gives blob ids is never asked.
    fn paths_between(
        &self,
        r: &ChangeRef,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<Vec<String>, ForgeError>> + Send {
        let _ = (r, from, to);
        async {
            Err(ForgeError::Refused {
                status: 0,
                message: "this forge's diffs carry blob ids: compare those".into(),
            })
        }
    }
    /// Whether `user` belongs to `team`.
    fn is_member(
        &self,
        team: &TeamRef,
        user: &User,
    ) -> impl Future<Output = Result<bool, ForgeError>> + Send;
    /// Whether each user belongs to each team, in order: where the forge can, in one request.
    fn are_members(
        &self,
        questions: &[(TeamRef, User)],
    ) -> impl Future<Output = Result<Vec<bool>, ForgeError>> + Send {
        async move {
            let mut out = Vec::with_capacity(questions.len());
            for (team, user) in questions {
                out.push(self.is_member(team, user).await?);
            }
            Ok(out)
        }
    }
    /// The numeric id of the account that has `login` now; `None` when no account has it.
    fn user_by_login(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Option<u64>, ForgeError>> + Send;
    /// The account the bot acts as.
    fn current_user(&self) -> impl Future<Output = Result<User, ForgeError>> + Send;
    fn comments(
        &self,
        r: &ChangeRef,
    ) -> impl Future<Output = Result<Vec<Comment>, ForgeError>> + Send;
    /// One comment, note or review body as it is now; `None` when it is gone (deleted, or a
    /// dismissed review).
    fn comment(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> impl Future<Output = Result<Option<Comment>, ForgeError>> + Send;
    /// How a comment was written (GitHub GraphQL `createdViaEmail`, `isMinimized`), by its
    /// node id; `None` when that cannot be told (no node id). Forges that say nothing more
    /// than their REST answer give the default.
    fn comment_origin(
        &self,
        node_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<CommentOrigin>, ForgeError>> + Send {
        let _ = node_id;
        async { Ok(Some(CommentOrigin::default())) }
    }
    /// Acknowledges a command with a reaction (GitHub `+1`, GitLab award emoji `thumbsup`).
    /// Review bodies take none on GitHub: nothing is done for them.
    fn react(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    /// Creates a comment; its id.
    fn create_comment(
        &self,
        r: &ChangeRef,
        body: &str,
    ) -> impl Future<Output = Result<u64, ForgeError>> + Send;
    fn update_comment(
        &self,
        r: &ChangeRef,
        id: u64,
        body: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    fn add_labels(
        &self,
        r: &ChangeRef,
        labels: &[Label],
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    fn remove_labels(
        &self,
        r: &ChangeRef,
        labels: &[Label],
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
    /// Approves (or withdraws the approval of) the merge request as the bot, for an approval
    /// rule that only the bot's account satisfies. Forges without such rules do nothing.
    fn set_approval(
        &self,
        r: &ChangeRef,
        sha: &str,
        approve: bool,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send {
        let _ = (r, sha, approve);
        async { Ok(()) }
    }
    /// The verdict the head commit carries now under `context` (state and description), as
    /// anyone last wrote it; `None` when there is none or it is not a verdict (pending).
    fn current_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        context: &str,
    ) -> impl Future<Output = Result<Option<(StatusState, String)>, ForgeError>> + Send;
    /// The GitLab client behind this forge, for GitLab's own blocks (merge settings, statuses
    /// per pipeline, external status checks); `None` on GitHub.
    fn gitlab(&self) -> Option<&gitlab::GitlabClient> {
        None
    }
    /// Sets the verdict on the head commit: a commit status, or (GitHub App) a check run whose
    /// summary is the checklist; both link to the change's details page when there is one.
    fn set_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        state: StatusState,
        context: &str,
        description: &str,
        more: &StatusLinks<'_>,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    // Deployments (issue 23): the forge's word on deployments, environments and history.

    /// Commits in `head` not in `base` (`base...head`), oldest first, and how head relates to
    /// base. `NotFound` when the forge does not know either.
    fn compare(
        &self,
        repo: &Repo,
        base: &str,
        head: &str,
    ) -> impl Future<Output = Result<CommitRange, ForgeError>> + Send;
    /// The merge/pull requests containing the commit (any state), each the full change
    /// (state, merged_at, target branch) with the commits it landed as.
    fn changes_with_commit(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> impl Future<Output = Result<Vec<CommitChange>, ForgeError>> + Send;
    /// Whether commit `sha` is reachable from `branch` now (an ancestor of its head, or its
    /// head). `NotFound` when the forge knows neither.
    fn on_branch(
        &self,
        repo: &Repo,
        sha: &str,
        branch: &str,
    ) -> impl Future<Output = Result<bool, ForgeError>> + Send;
    /// The full SHA of a commit the forge knows; `None` when it does not know it.
    fn commit_sha(
        &self,
        repo: &Repo,
        sha_or_short: &str,
    ) -> impl Future<Output = Result<Option<String>, ForgeError>> + Send;
    /// The repository's default branch; `None` when the forge names none (an empty
    /// repository). `NotFound` when the forge does not show the repository.
    fn default_branch(
        &self,
        repo: &Repo,
    ) -> impl Future<Output = Result<Option<String>, ForgeError>> + Send;
    /// The environment's protection settings where the forge shows them; `None` when the
    /// forge does not know the environment.
    fn environment(
        &self,
        repo: &Repo,
        name: &str,
    ) -> impl Future<Output = Result<Option<EnvironmentSettings>, ForgeError>> + Send;
    /// One deployment with its latest status; `None` when unknown.
    fn deployment(
        &self,
        repo: &Repo,
        id: u64,
    ) -> impl Future<Output = Result<Option<ForgeDeployment>, ForgeError>> + Send;
    /// Deployments to an environment (optionally of one SHA), newest first.
    fn deployments(
        &self,
        repo: &Repo,
        environment: &str,
        sha: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ForgeDeployment>, ForgeError>> + Send;
    /// GitLab deployments waiting for approval; GitHub: none (it asks by webhook).
    fn blocked_deployments(
        &self,
        repo: &Repo,
    ) -> impl Future<Output = Result<Vec<ForgeDeployment>, ForgeError>> + Send;
    /// Answers the forge's question about a deployment (approve, reject, or report).
    fn answer_deployment(
        &self,
        repo: &Repo,
        target: &DeploymentTarget,
        answer: DeploymentAnswer,
        comment: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
}

/// What a status carries besides its state and description.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusLinks<'a> {
    /// The checklist, for a GitHub check run's summary.
    pub summary: &'a str,
    /// The change's details page (`target_url`, a check run's `details_url`).
    pub target_url: Option<&'a str>,
}

/// Timeouts for every forge request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How many items a page asks for (both forges' maximum is 100).
pub const PER_PAGE: u32 = 100;

/// Pages read at most per listing, so a change with thousands of events cannot stall a worker.
pub const MAX_PAGES: u32 = 30;

/// One page of a listing: its items, the last page's number when the forge says it, and
/// whether a next page exists.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub last: Option<u32>,
    pub has_next: bool,
}

/// Reads a chronological listing (oldest first) whose newest entries decide: every page when
/// there are at most [`MAX_PAGES`], else from the last page backwards until `enough` holds for
/// what was read. Errs with `TooLong` rather than return a history that may miss the newest
/// entries. `fetch(n)` reads page `n` (from 1). Also says whether older entries were left
/// unread (what they held cannot be placed).
pub(crate) async fn read_history<T, F, Fut>(
    what: &str,
    fetch: F,
    enough: impl Fn(&[T]) -> bool,
) -> Result<(Vec<T>, bool), ForgeError>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<Page<T>, ForgeError>>,
{
    let first = fetch(1).await?;
    if let Some(last) = first.last.filter(|&l| l > MAX_PAGES) {
        // Newest pages first, each put before what was read, until enough is known.
        let mut tail: Vec<T> = vec![];
        for n in (last + 1 - MAX_PAGES..=last).rev() {
            let mut page = fetch(n).await?.items;
            page.append(&mut tail);
            tail = page;
            if enough(&tail) {
                return Ok((tail, n > 1));
            }
        }
        return Err(ForgeError::TooLong(what.to_string()));
    }
    let mut has_next = first.has_next;
    let mut out = first.items;
    let mut n = 1;
    while has_next {
        if n >= MAX_PAGES {
            return Err(ForgeError::TooLong(what.to_string()));
        }
        n += 1;
        let mut page = fetch(n).await?;
        has_next = page.has_next;
        out.append(&mut page.items);
    }
    Ok((out, false))
}

/// The gap a history read from its end leaves: what came before its first entry read.
pub(crate) fn cut_gap(
    cut: bool,
    first: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<crate::model::Gap> {
    if !cut {
        return vec![];
    }
    vec![crate::model::Gap {
        what: "the label history before its newest pages (too long to read whole)".into(),
        before: first,
    }]
}
