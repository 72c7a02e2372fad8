//! Forge-neutral nouns: what a change is, who acted on it, and what an event did to it.
//!
//! Everything past the webhook extractors and the forge adapters speaks only these types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

mod deployment;
pub use deployment::{DeploymentEvent, DeploymentEventKind, DeploymentState};

/// Which forge an event came from or an action goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    Github,
    Gitlab,
}

impl Forge {
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::Github => "github",
            Forge::Gitlab => "gitlab",
        }
    }

    /// The brand name as people write it.
    pub fn display_name(self) -> &'static str {
        match self {
            Forge::Github => "GitHub",
            Forge::Gitlab => "GitLab",
        }
    }
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Forge {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "github" => Ok(Forge::Github),
            "gitlab" => Ok(Forge::Gitlab),
            other => Err(format!(
                "unknown forge `{other}` (expected github or gitlab)"
            )),
        }
    }
}

/// A repository (GitHub `owner/name`) or project (GitLab `group/sub/name`), normalized:
/// no leading or trailing slash. Compared case-insensitively, as both forges do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoPath(String);

impl RepoPath {
    pub fn new(path: &str) -> Self {
        RepoPath(path.trim().trim_matches('/').to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// GitHub owner, or GitLab top-level namespace: the first path segment.
    pub fn top_level(&self) -> &str {
        self.0.split('/').next().unwrap_or("")
    }
}

impl PartialEq for RepoPath {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for RepoPath {}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity of a repository on its forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    pub path: RepoPath,
    /// Numeric id on the forge (GitLab's project id is what its API is addressed by).
    pub id: Option<u64>,
}

/// A person (or bot) on a forge. GitLab payloads sometimes give only an id (the author),
/// older ones only a username: both are optional, and equality uses what both sides know.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl User {
    pub fn named(username: &str) -> Self {
        User {
            id: None,
            username: Some(username.to_string()),
        }
    }

    /// Whether two records denote the same account. Unknown when neither the ids nor the
    /// usernames can be compared; callers treat unknown as "not proven different".
    pub fn same_as(&self, other: &User) -> Option<bool> {
        if let (Some(a), Some(b)) = (self.id, other.id) {
            return Some(a == b);
        }
        if let (Some(a), Some(b)) = (&self.username, &other.username) {
            return Some(a.eq_ignore_ascii_case(b));
        }
        None
    }

    /// How a person is shown in the bot's comment: `@name`, or `user #id`. A name that is not
    /// a login as the forges allow them is shown as code, never as a mention.
    pub fn mention(&self) -> String {
        match (&self.username, self.id) {
            (Some(name), _) if crate::markdown::is_login(name) => format!("@{name}"),
            (Some(name), _) => crate::markdown::code(name),
            (None, Some(id)) => format!("user #{id}"),
            (None, None) => "an unknown user".to_string(),
        }
    }
}

impl PartialEq for User {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other) == Some(true)
    }
}

/// A label as both forges name it. A scoped label is `Scope::Value` (GitLab's convention,
/// which changegate applies on GitHub too); the scope is everything before the last `::`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Label(pub String);

impl Label {
    pub fn new(name: &str) -> Self {
        Label(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `Some(("Scope", "Value"))` for a scoped label.
    pub fn scoped(&self) -> Option<(&str, &str)> {
        let idx = self.0.rfind("::")?;
        Some((&self.0[..idx], &self.0[idx + 2..]))
    }

    pub fn scope(&self) -> Option<&str> {
        self.scoped().map(|(s, _)| s)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Merge request (GitHub pull request) or issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    MergeRequest,
    Issue,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::MergeRequest => "merge_request",
            ChangeKind::Issue => "issue",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    Open,
    Closed,
    Merged,
}

/// A change as the rules see it: the pull/merge request or issue, in its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub forge: Forge,
    pub repo: Repo,
    pub kind: ChangeKind,
    /// Pull request / issue number on GitHub, merge request / issue iid on GitLab.
    pub number: u64,
    pub title: String,
    pub description: String,
    pub author: User,
    pub labels: Vec<Label>,
    /// Head commit of a merge request; none for issues (and GitHub comment events).
    pub head_sha: Option<String>,
    pub source_branch: Option<String>,
    pub target_branch: Option<String>,
    /// A commit of the target the change's diff is taken from, as the forge read the change
    /// says (GitHub `base.sha`; GitLab `diff_refs.base_sha`, the merge base, of this head's
    /// diff version): the diff runs from the merge base of it and the head to the head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_sha: Option<String>,
    pub draft: bool,
    pub state: ChangeState,
    /// When a merged change merged, as the forge says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<DateTime<Utc>>,
    pub web_url: Option<String>,
    /// The forge's last-update time, as it writes it (read from the API; reconcile compares it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// How many comments (GitHub) or user notes (GitLab) the change has, as the API counts them:
    /// none means the bot's sticky comment is not there to look for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
}

impl Change {
    pub fn has_label(&self, label: &Label) -> bool {
        self.labels.iter().any(|l| l == label)
    }
}

/// Which change, as the store keys its queue and memory: `forge:path:kind:number`, the path
/// lowercased because both forges compare paths without case. The one place this is formatted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeKey(String);

impl ChangeKey {
    pub fn of(c: &Change) -> Self {
        ChangeKey(format!("{}{}", Self::kind_prefix(c), c.number))
    }

    /// What every key of the change's repository and kind starts with.
    pub fn kind_prefix(c: &Change) -> String {
        format!(
            "{}:{}:{}:",
            c.forge,
            c.repo.path.as_str().to_lowercase(),
            c.kind.as_str()
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ChangeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happened, in forge-neutral words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Opened,
    Reopened,
    Edited,
    /// Labels changed (GitHub `labeled`/`unlabeled`, GitLab `update` with `changes.labels`).
    Labeled,
    /// New commits were pushed (GitHub `synchronize`, GitLab `update` with `oldrev`).
    Pushed,
    ReadyForReview,
    ConvertedToDraft,
    Closed,
    Merged,
    /// A native approval was given (GitHub review `approved`, GitLab `approved`/`approval`).
    Approved,
    /// A native approval was withdrawn or dismissed.
    Unapproved,
    /// A review that is not an approval (comment, changes requested).
    Reviewed,
    Commented,
    /// Anything else on a change (assignment, milestone…): it may still need re-evaluation.
    Other,
}

/// A native review/approval carried by the event itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: User,
    pub approved: bool,
    /// The commit the review was given on (GitHub `commit_id`).
    pub commit_sha: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// One webhook delivery about one change, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub action: Action,
    /// The forge's own name for the action (`labeled`, `update`, `approved`…), for the audit log.
    pub forge_action: String,
    pub change: Change,
    /// Who caused the event.
    pub actor: User,
    pub labels_added: Vec<Label>,
    pub labels_removed: Vec<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// The head before a push, when the event is a push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_head_sha: Option<String>,
    /// The target branch before, when the event retargeted the change (GitHub
    /// `changes.base`, GitLab `changes.target_branch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_target_branch: Option<String>,
    /// The comment, note or review body the event is about, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<CommentFact>,
    /// The pipeline a GitLab `Pipeline Hook` is about, when it runs in the change's project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<HookPipeline>,
}

/// A pipeline named by a GitLab `Pipeline Hook`: its id and the commit it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookPipeline {
    pub id: u64,
    pub sha: String,
}

/// What a comment event says of its comment (a GitHub issue comment or review body, a GitLab
/// note): enough to read commands from it and to judge where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentFact {
    pub id: u64,
    pub source: CommentSource,
    /// What happened to it.
    pub change: CommentChange,
    pub body: String,
    pub author: User,
    /// When it was written (created), as the forge says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Who edited or deleted it (GitHub's `sender`, GitLab's `user` / `updated_by_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<User>,
    /// Why its commands are not read at all (a bot's, an App's, a system note, an e-mail
    /// reply, a review requesting changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// GraphQL node id (GitHub), to ask how it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// Where a comment lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentSource {
    /// A GitHub issue or pull request comment.
    IssueComment,
    /// A GitHub pull request review's body.
    Review,
    /// A GitLab note (merge request, issue, or a discussion's).
    Note,
}

impl CommentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentSource::IssueComment => "issue_comment",
            CommentSource::Review => "review",
            CommentSource::Note => "note",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::IssueComment, Self::Review, Self::Note]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// What a comment event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentChange {
    Created,
    Edited,
    Deleted,
    /// A review was dismissed: what it gave is withdrawn.
    Dismissed,
}

/// The `forge_action` of an event made from a GitLab pipeline: a merge request pipeline's
/// names its merge request; a branch pipeline's is numbered 0 and names the commit, and the
/// worker finds the open merge requests whose head it is.
pub const PIPELINE_ACTION: &str = "pipeline";

/// Everything the receiver can make of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventPayload {
    /// A change to evaluate.
    Change(Box<ChangeEvent>),
    /// GitHub's `ping` on hook creation.
    Ping { zen: Option<String> },
    /// Well-formed but not something the bot acts on; the reason is logged at debug.
    Ignored { reason: String },
    /// A blocked period starts or ends: the forge's open changes are evaluated again. Never
    /// from a webhook; a timer the bot schedules itself.
    PeriodBoundary { period: String, at: DateTime<Utc> },
    /// A deployment asks to be allowed, was created, or changed state.
    Deployment(Box<DeploymentEvent>),
}

/// A delivery as the server hands it to the store: forge, delivery id, and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub forge: Forge,
    /// `X-GitHub-Delivery`, or GitLab's `Idempotency-Key` / `X-Gitlab-Event-UUID`.
    pub delivery_id: Option<String>,
    /// The event header value (`pull_request`, `Merge Request Hook`…).
    pub event_name: String,
    pub payload: EventPayload,
}

impl Event {
    pub fn change(&self) -> Option<&ChangeEvent> {
        match &self.payload {
            EventPayload::Change(c) => Some(c),
            _ => None,
        }
    }
}

/// A time as the forges write it: RFC 3339 (the REST APIs), GitLab webhooks'
/// `2026-11-22 06:18:31 UTC`, or GitLab Deployment Hooks' `2021-04-28 21:50:00 +0200`.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z") {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S UTC")
        .ok()
        .map(|t| t.and_utc())
}

/// One label being applied or removed, as the forge's history records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelEvent {
    pub label: Label,
    pub added: bool,
    pub actor: User,
    pub at: Option<DateTime<Utc>>,
}

/// A change's label history as the forge tells it, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub labels: Vec<LabelEvent>,
    /// When the target branch last changed, where the forge records it (GitHub's
    /// `base_ref_changed` event).
    pub retargeted_at: Option<DateTime<Utc>>,
    /// What of the history cannot be placed (not read, or no longer naming its label).
    pub gaps: Vec<Gap>,
    /// The id of each entry's label, in the order of `labels`, where the forge names a label by
    /// id and shows its current name (GitLab); empty where events keep the name they were
    /// given under (GitHub).
    pub label_ids: Vec<Option<u64>>,
    /// The node id of each entry's label, in the order of `labels`, where the history was read
    /// through GitHub's GraphQL (which shows a label by its current name); else empty.
    pub label_node_ids: Vec<Option<String>>,
    /// When each entry's label was last edited (GraphQL's `Label.updatedAt`), in the order of
    /// `labels`, where `label_node_ids` is read; unknown is `None`.
    pub label_node_edited_at: Vec<Option<DateTime<Utc>>>,
}

/// A part of a label history that cannot be placed: events not read (a history read from its
/// end), or events whose label the forge no longer names (a deleted GitLab label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub what: String,
    /// Only events before this time may be missing; `None`: they may be anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<DateTime<Utc>>,
}

/// Whether a history (oldest first; `(label, added)` per entry) holds the latest application
/// of each of `current`: enough to judge every label the change carries.
pub fn holds_latest<'a>(
    current: &[Label],
    entries: impl DoubleEndedIterator<Item = (&'a str, bool)> + Clone,
) -> bool {
    current.iter().all(|l| {
        entries
            .clone()
            .any(|(name, added)| added && name == l.as_str())
    })
}

/// The files a merge request touches (new and old paths of renames), as the forge lists them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangedFiles {
    pub paths: Vec<String>,
    /// False when the forge stops listing before the end (GitHub: 3,000 files).
    pub complete: bool,
}

impl ChangedFiles {
    /// An issue's: it touches no file.
    pub fn none() -> Self {
        ChangedFiles {
            paths: vec![],
            complete: true,
        }
    }

    /// A listing the forge would not give whole: every path condition counts as met.
    pub fn cut() -> Self {
        ChangedFiles {
            paths: vec![],
            complete: false,
        }
    }
}

/// Where a group's members live on one forge, for one repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum TeamRef {
    /// GitHub org and team slug.
    GithubTeam { org: String, slug: String },
    /// GitLab group full path.
    GitlabGroup { path: String },
}

impl TeamRef {
    /// How people name the team: `@acme/business-owners`.
    pub fn mention(&self) -> String {
        match self {
            TeamRef::GithubTeam { org, slug } => format!("@{org}/{slug}"),
            TeamRef::GitlabGroup { path } => format!("@{path}"),
        }
    }
}

/// Pass or fail, in the words of the commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    Success,
    Failure,
    /// The bot could not verify the change (a job that failed for good).
    Error,
    /// Not evaluated yet: the change waits (its hour's share of the forge's quota is spent).
    Pending,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
            StatusState::Pending => "pending",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Success, Self::Failure, Self::Error, Self::Pending]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_labels_split_on_the_last_separator() {
        assert_eq!(
            Label::new("Peer Approval::Approved").scoped(),
            Some(("Peer Approval", "Approved"))
        );
        assert_eq!(Label::new("a::b::c").scoped(), Some(("a::b", "c")));
        assert_eq!(Label::new("bug").scoped(), None);
    }

    #[test]
    fn users_compare_by_id_then_name() {
        let a = User {
            id: Some(1),
            username: Some("a".into()),
        };
        let b = User {
            id: Some(1),
            username: None,
        };
        assert_eq!(a.same_as(&b), Some(true));
        assert_eq!(a.same_as(&User::named("A")), Some(true));
        assert_eq!(b.same_as(&User::named("a")), None);
        assert_ne!(b, User::named("a"));
    }

    #[test]
    fn times_in_every_form_the_forges_write() {
        let want = "2021-04-28T19:50:00Z";
        for text in [
            "2021-04-28T19:50:00Z",
            "2021-04-28T19:50:00.000+00:00",
            "2021-04-28 21:50:00 +0200",
            "2021-04-28 19:50:00 +0000",
            "2021-04-28 19:50:00 UTC",
        ] {
            assert_eq!(
                parse_time(text).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                Some(want.to_string()),
                "{text}"
            );
        }
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn repo_paths_normalize() {
        let p = RepoPath::new("/acme/platypus/");
        assert_eq!(p.as_str(), "acme/platypus");
        assert_eq!(p.top_level(), "acme");
        assert_eq!(p, RepoPath::new("ACME/Platypus"));
    }
}
