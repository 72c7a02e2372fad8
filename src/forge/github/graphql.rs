//! The one GraphQL query that reads a change's evaluation snapshot, and what its answer means.
//! Pure: the query text (checked against GitHub's published schema by a test), the answer's
//! shape, and its reading into the snapshot. Every field the snapshot needs is non-null in the
//! types below: a null where data is needed fails the whole answer, never reads as "none".

use crate::forge::ForgeError;
use crate::model::{
    Change, ChangeKind, ChangeState, ChangedFiles, Forge as ForgeKind, Label, LabelEvent, Repo,
    Review, User,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// How an issue comment or review was written.
pub const ORIGIN_QUERY: &str = "query($id: ID!) { node(id: $id) { ... on IssueComment { createdViaEmail isMinimized } ... on PullRequestReview { createdViaEmail } } }";

pub use super::members::{members_query, read_members};
pub use pages::{PAGE_QUERIES, Part, Pending, begin, page_variables};
pub use read::read;

mod pages;
mod read;

/// The snapshot query. Connections ask for 100 items (GitHub's most); one with more pages on
/// through [`pages`]' queries (`after`, the timeline `before`), up to the pages REST reads;
/// past them the part is read through REST, which blocks when too long to verify.
pub const SNAPSHOT_QUERY: &str = r#"query ChangegateSnapshot($owner: String!, $name: String!, $number: Int!) {
  rateLimit { cost limit remaining resetAt }
  repository(owner: $owner, name: $name) {
    labels(first: 100) { pageInfo { hasNextPage endCursor } nodes { id name } }
    issueOrPullRequest(number: $number) {
      __typename
      ... on Issue {
        number title body url updatedAt issueState: state
        author { ...Who }
        labels(first: 100) { pageInfo { hasNextPage endCursor } nodes { id name } }
        assignees(first: 100) { pageInfo { hasNextPage endCursor } nodes { login databaseId } }
        comments { totalCount }
        timelineItems(last: 100, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {
          pageInfo { hasPreviousPage startCursor }
          nodes {
            __typename
            ... on LabeledEvent { createdAt actor { ...Who } label { id name updatedAt } }
            ... on UnlabeledEvent { createdAt actor { ...Who } label { id name updatedAt } }
          }
        }
      }
      ... on PullRequest {
        number title body url updatedAt state isDraft merged mergedAt
        author { ...Who }
        headRefName headRefOid baseRefName baseRefOid
        labels(first: 100) { pageInfo { hasNextPage endCursor } nodes { id name } }
        assignees(first: 100) { pageInfo { hasNextPage endCursor } nodes { login databaseId } }
        comments { totalCount }
        timelineItems(last: 100, itemTypes: [LABELED_EVENT, UNLABELED_EVENT, BASE_REF_CHANGED_EVENT, HEAD_REF_FORCE_PUSHED_EVENT]) {
          pageInfo { hasPreviousPage startCursor }
          nodes {
            __typename
            ... on LabeledEvent { createdAt actor { ...Who } label { id name updatedAt } }
            ... on UnlabeledEvent { createdAt actor { ...Who } label { id name updatedAt } }
            ... on BaseRefChangedEvent { createdAt actor { ...Who } }
            ... on HeadRefForcePushedEvent { createdAt actor { ...Who } afterCommit { oid } }
          }
        }
        reviews(first: 100) {
          pageInfo { hasNextPage endCursor }
          nodes { state submittedAt author { ...Who } commit { oid } }
        }
        commits(first: 100) {
          totalCount
          pageInfo { hasNextPage endCursor }
          nodes { commit { oid author { user { login databaseId } } committer { user { login databaseId } } } }
        }
        head: commits(last: 1) {
          nodes {
            commit {
              oid
              checkSuites(first: 100) { nodes { createdAt } }
              status { contexts { context state description creator { ...Who } } }
              associatedPullRequests(first: 100) {
                pageInfo { hasNextPage }
                nodes { number state headRefOid baseRefName }
              }
            }
          }
        }
        files(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { path changeType } }
      }
    }
  }
}
fragment Who on Actor { __typename login ... on User { databaseId } ... on Bot { databaseId } }"#;

/// What GitHub bills for a query, from its own budget (`rateLimit`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub cost: i64,
    pub limit: i64,
    pub remaining: i64,
    pub reset_at: String,
}

#[derive(Debug, Deserialize)]
struct Answer {
    data: Option<Data>,
    #[serde(default)]
    errors: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    rate_limit: RateLimit,
    repository: WRepo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WRepo {
    labels: Conn<WLabel>,
    issue_or_pull_request: WChange,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    /// Absent where not asked; absent where asked is never "no more pages".
    #[serde(default)]
    has_next_page: Option<bool>,
    #[serde(default)]
    has_previous_page: Option<bool>,
}

impl PageInfo {
    /// Whether no items follow (`hasNextPage: false`); a page info without it is not whole.
    fn ends(&self) -> bool {
        self.has_next_page == Some(false)
    }

    /// Whether no items precede (`hasPreviousPage: false`); a page info without it is not whole.
    fn starts(&self) -> bool {
        self.has_previous_page == Some(false)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Conn<T> {
    page_info: PageInfo,
    nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Counted<T> {
    total_count: u64,
    page_info: PageInfo,
    nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Total {
    total_count: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct WLabel {
    id: String,
    name: String,
    /// When the label was last edited (asked in the timeline only): a label edited after
    /// changegate recorded its name may have been applied under another one.
    #[serde(default, rename = "updatedAt")]
    updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Who {
    /// `User`, `Bot`… (absent where the field's type is `User`: assignees, commit accounts).
    #[serde(rename = "__typename", default)]
    typename: Option<String>,
    login: String,
    #[serde(default)]
    database_id: Option<u64>,
}

impl Who {
    /// The account as REST names it: an App's `Bot.login` is `name`, REST's login `name[bot]`
    /// (the bot's own login, trusted deployers and approvers compare REST's).
    fn user(&self) -> User {
        User {
            id: self.database_id,
            username: Some(rest_login(self.typename.as_deref(), &self.login)),
        }
    }
}

/// A GraphQL actor's login as REST gives it: `name[bot]` for a `Bot`.
pub fn rest_login(typename: Option<&str>, login: &str) -> String {
    if typename == Some("Bot") && !login.ends_with("[bot]") {
        format!("{login}[bot]")
    } else {
        login.to_string()
    }
}

/// An actor that may be gone (a deleted account is `null`, as REST's `ghost`).
fn who(w: &Option<Who>) -> User {
    w.as_ref().map(Who::user).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WChange {
    #[serde(rename = "__typename")]
    typename: String,
    number: u64,
    title: String,
    body: String,
    url: String,
    updated_at: String,
    /// A pull request's (`OPEN`, `CLOSED`, `MERGED`).
    #[serde(default)]
    state: Option<String>,
    /// An issue's (its own enum, hence its own alias).
    #[serde(default)]
    issue_state: Option<String>,
    #[serde(default)]
    is_draft: Option<bool>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    author: Option<Who>,
    #[serde(default)]
    head_ref_name: Option<String>,
    #[serde(default)]
    head_ref_oid: Option<String>,
    #[serde(default)]
    base_ref_name: Option<String>,
    #[serde(default)]
    base_ref_oid: Option<String>,
    labels: Conn<WLabel>,
    assignees: Conn<Who>,
    comments: Total,
    timeline_items: WTimeline,
    #[serde(default)]
    reviews: Option<Conn<WReview>>,
    #[serde(default)]
    commits: Option<Counted<WCommitNode>>,
    #[serde(default)]
    head: Option<Nodes<WHeadNode>>,
    #[serde(default)]
    files: Option<Counted<WFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WTimeline {
    page_info: PageInfo,
    nodes: Vec<WEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WEvent {
    #[serde(rename = "__typename")]
    typename: String,
    created_at: String,
    actor: Option<Who>,
    #[serde(default)]
    label: Option<WLabel>,
    #[serde(default)]
    after_commit: Option<Oid>,
}

#[derive(Debug, Deserialize)]
struct Oid {
    oid: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WReview {
    state: String,
    submitted_at: Option<String>,
    author: Option<Who>,
    commit: Option<Oid>,
}

#[derive(Debug, Deserialize)]
struct WCommitNode {
    commit: WCommit,
}

#[derive(Debug, Deserialize)]
struct WCommit {
    author: Option<WGitActor>,
    committer: Option<WGitActor>,
}

#[derive(Debug, Deserialize)]
struct WGitActor {
    user: Option<Who>,
}

#[derive(Debug, Deserialize)]
struct WHeadNode {
    commit: WHead,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WHead {
    oid: String,
    check_suites: Nodes<WSuite>,
    status: Option<WStatus>,
    associated_pull_requests: Conn<WPull>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WPull {
    number: u64,
    state: String,
    head_ref_oid: String,
    base_ref_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WSuite {
    created_at: String,
}

#[derive(Debug, Deserialize)]
struct WStatus {
    contexts: Vec<WContext>,
}

#[derive(Debug, Deserialize)]
struct WContext {
    context: String,
    state: String,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WFile {
    path: String,
    change_type: String,
}

/// A change's snapshot as one query read it. A part `None` was not read whole (a connection
/// past 100 items, a listing GraphQL cannot give exactly): that part is read through REST.
#[derive(Debug, Clone, PartialEq)]
pub struct GqlSnapshot {
    pub change: Change,
    /// Label history oldest first, with each entry's label node id (`label_node_ids`).
    pub history: Option<crate::model::History>,
    pub reviews: Option<Vec<Review>>,
    pub commit_authors: Option<Vec<User>>,
    /// The head read (its sha) and when it was pushed, as far as GitHub says.
    pub head: Option<(String, Option<DateTime<Utc>>)>,
    /// The head's latest status per context: (context, state, description).
    pub statuses: Option<Vec<(String, String, String)>>,
    /// The open pull requests whose head is this head: (number, base branch).
    pub head_pulls: Option<Vec<(u64, Option<String>)>>,
    pub files: Option<ChangedFiles>,
    pub assignees: Option<Vec<User>>,
    /// The repository's labels (name, node id), when it has at most 100.
    pub repo_labels: Option<Vec<(String, String)>>,
    pub rate: RateLimit,
}

/// Why an answer is not a snapshot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GqlError {
    /// The endpoint or a field the query needs does not exist here (an older GitHub
    /// Enterprise Server): REST, and not asked again for a while.
    #[error("GraphQL cannot answer this query here: {0}")]
    Unavailable(String),
    /// Errors, or a null where data is needed (SAML enforcement, a timeout, a query too
    /// expensive): the whole answer is refused.
    #[error("GraphQL answered partially: {0}")]
    Partial(String),
    /// No such change.
    #[error("no such change")]
    NotFound,
}

/// The query's variables for a change.
pub fn variables(repo: &Repo, number: u64) -> Result<serde_json::Value, ForgeError> {
    let (owner, name) = repo
        .path
        .as_str()
        .split_once('/')
        .ok_or_else(|| ForgeError::Decode("a repository path without an owner".into()))?;
    let number = i32::try_from(number)
        .map_err(|_| ForgeError::Decode("a change number past GraphQL's Int".into()))?;
    Ok(serde_json::json!({ "owner": owner, "name": name, "number": number }))
}

#[cfg(test)]
mod tests {
    use super::PageInfo;

    #[test]
    fn a_page_info_without_the_flag_asked_is_not_whole() {
        let read = |v: serde_json::Value| serde_json::from_value::<PageInfo>(v).unwrap();
        assert!(!read(serde_json::json!({})).ends());
        assert!(!read(serde_json::json!({})).starts());
        assert!(!read(serde_json::json!({ "hasNextPage": false })).starts());
        assert!(!read(serde_json::json!({ "hasNextPage": true })).ends());
        assert!(read(serde_json::json!({ "hasNextPage": false })).ends());
        assert!(read(serde_json::json!({ "hasPreviousPage": false })).starts());
    }
}
