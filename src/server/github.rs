//! GitHub webhooks: verify `X-Hub-Signature-256`, then parse the body into an [`Event`].
//!
//! Own partial wire types: only the fields changegate reads, every one tolerant of null.

mod deployments;
mod label;

pub use deployments::run_id_of_callback;

use super::ParseError;
use super::signature::{self, SignatureError};
use crate::model::{
    Action, Change, ChangeEvent, ChangeKind, ChangeState, CommentChange, CommentFact,
    CommentSource, Event, EventPayload, Forge, Label, Repo, RepoPath, Review, User,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Checks `X-Hub-Signature-256: sha256=<hex>` against every configured secret.
pub fn verify(
    secrets: &[Vec<u8>],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let sig = hex::decode(hex_sig.trim()).map_err(|_| SignatureError::Malformed)?;
    if secrets
        .iter()
        .any(|secret| signature::hmac_sha256_matches(secret, body, &sig))
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Whether a signature header could verify at all (present, `sha256=` and 64 hex digits):
/// checked before the body is read.
pub fn precheck(header: Option<&str>) -> Result<(), SignatureError> {
    let hex_sig = header
        .ok_or(SignatureError::Missing)?
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_sig.len() == 64 && hex_sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(SignatureError::Malformed)
    }
}

/// The value GitHub would send in `X-Hub-Signature-256` for `body` (used by tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(signature::hmac_sha256(secret, body))
    )
}

/// Turns a verified delivery into an [`Event`]. `event` is the `X-GitHub-Event` header.
pub fn parse(event: &str, delivery_id: Option<String>, body: &[u8]) -> Result<Event, ParseError> {
    let payload = match event {
        "pull_request" => pull_request(serde_json::from_slice(body)?),
        "pull_request_review" => review(serde_json::from_slice(body)?),
        "issues" => issues(serde_json::from_slice(body)?),
        "issue_comment" => comment(serde_json::from_slice(body)?),
        "deployment_protection_rule" => {
            deployments::protection_rule(serde_json::from_slice(body)?)?
        }
        "deployment" => deployments::deployment(serde_json::from_slice(body)?)?,
        "deployment_status" => deployments::deployment_status(serde_json::from_slice(body)?)?,
        "label" => label::label(),
        "ping" => {
            let ping: Ping = serde_json::from_slice(body)?;
            EventPayload::Ping { zen: ping.zen }
        }
        other => {
            // Still refuse a body that is not JSON: the sender is misconfigured.
            serde_json::from_slice::<IgnoredAny>(body)?;
            EventPayload::Ignored {
                reason: format!("event `{other}` is not one changegate acts on"),
            }
        }
    };
    Ok(Event {
        forge: Forge::Github,
        delivery_id,
        event_name: event.to_string(),
        payload,
    })
}

#[derive(Deserialize)]
struct Ping {
    zen: Option<String>,
}

#[derive(Deserialize)]
struct WireUser {
    login: Option<String>,
    id: Option<u64>,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Why a comment's author cannot give commands: a bot or App account (including changegate's
/// own), or not a person at all.
fn not_a_person(u: &Option<WireUser>) -> Option<String> {
    let u = u.as_ref()?;
    let login = u.login.as_deref().unwrap_or("");
    if login.ends_with("[bot]") || u.kind.as_deref().is_some_and(|k| k != "User") {
        return Some(format!(
            "written by {}, a bot or App account",
            User::from(u).mention()
        ));
    }
    None
}

impl From<&WireUser> for User {
    fn from(u: &WireUser) -> Self {
        User {
            id: u.id,
            username: u.login.clone(),
        }
    }
}

fn user(u: &Option<WireUser>) -> User {
    u.as_ref().map(User::from).unwrap_or_default()
}

#[derive(Deserialize)]
struct WireLabel {
    name: String,
}

#[derive(Deserialize)]
struct WireRepo {
    full_name: String,
    id: Option<u64>,
    /// Says which branch a `deployments` entry without `branches` admits.
    #[serde(default)]
    default_branch: Option<String>,
}

impl From<&WireRepo> for Repo {
    fn from(r: &WireRepo) -> Self {
        Repo {
            path: RepoPath::new(&r.full_name),
            id: r.id,
        }
    }
}

#[derive(Deserialize)]
struct WireBranch {
    #[serde(rename = "ref")]
    name: Option<String>,
    sha: Option<String>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    title: Option<String>,
    body: Option<String>,
    user: Option<WireUser>,
    labels: Option<Vec<WireLabel>>,
    head: Option<WireBranch>,
    base: Option<WireBranch>,
    draft: Option<bool>,
    state: Option<String>,
    merged: Option<bool>,
    merged_at: Option<String>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: PullRequest,
    label: Option<WireLabel>,
    sender: Option<WireUser>,
    repository: WireRepo,
    before: Option<String>,
    /// On `edited`: what changed; `base.ref.from` when the base branch did.
    changes: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireReview {
    id: Option<u64>,
    node_id: Option<String>,
    body: Option<String>,
    html_url: Option<String>,
    user: Option<WireUser>,
    state: Option<String>,
    commit_id: Option<String>,
    submitted_at: Option<String>,
    performed_via_github_app: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ReviewEvent {
    action: String,
    review: WireReview,
    pull_request: PullRequest,
    sender: Option<WireUser>,
    repository: WireRepo,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    title: Option<String>,
    body: Option<String>,
    user: Option<WireUser>,
    labels: Option<Vec<WireLabel>>,
    state: Option<String>,
    html_url: Option<String>,
    /// Present (an object) when the issue is a pull request.
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct IssuesEvent {
    action: String,
    issue: Issue,
    label: Option<WireLabel>,
    sender: Option<WireUser>,
    repository: WireRepo,
}

fn labels(list: &Option<Vec<WireLabel>>) -> Vec<Label> {
    list.iter().flatten().map(|l| Label::new(&l.name)).collect()
}

fn pr_change(pr: &PullRequest, repo: &WireRepo) -> Change {
    let merged = pr.merged == Some(true) || pr.merged_at.is_some();
    Change {
        forge: Forge::Github,
        repo: repo.into(),
        kind: ChangeKind::MergeRequest,
        number: pr.number,
        title: pr.title.clone().unwrap_or_default(),
        description: pr.body.clone().unwrap_or_default(),
        author: user(&pr.user),
        labels: labels(&pr.labels),
        head_sha: pr.head.as_ref().and_then(|h| h.sha.clone()),
        source_branch: pr.head.as_ref().and_then(|h| h.name.clone()),
        target_branch: pr.base.as_ref().and_then(|b| b.name.clone()),
        target_sha: None,
        draft: pr.draft.unwrap_or(false),
        state: state(pr.state.as_deref(), merged),
        merged_at: pr.merged_at.as_deref().and_then(crate::model::parse_time),
        web_url: pr.html_url.clone(),
        updated_at: None,
        comments: None,
    }
}

fn state(state: Option<&str>, merged: bool) -> ChangeState {
    match (state, merged) {
        (_, true) => ChangeState::Merged,
        (Some("closed"), _) => ChangeState::Closed,
        _ => ChangeState::Open,
    }
}

/// Applies a `labeled`/`unlabeled` delta to the label list: the delta comes from `label`,
/// because some `unlabeled` payloads still list the removed label.
fn label_delta(
    action: &str,
    label: &Option<WireLabel>,
    change: &mut Change,
) -> (Vec<Label>, Vec<Label>) {
    let Some(label) = label.as_ref().map(|l| Label::new(&l.name)) else {
        return (vec![], vec![]);
    };
    match action {
        "labeled" => {
            if !change.has_label(&label) {
                change.labels.push(label.clone());
            }
            (vec![label], vec![])
        }
        "unlabeled" => {
            change.labels.retain(|l| l != &label);
            (vec![], vec![label])
        }
        _ => (vec![], vec![]),
    }
}

fn ignored(event: &str, action: &str) -> EventPayload {
    EventPayload::Ignored {
        reason: format!("`{event}` action `{action}` does not affect the policy"),
    }
}

fn pull_request(ev: PullRequestEvent) -> EventPayload {
    let action = match ev.action.as_str() {
        "opened" => Action::Opened,
        "reopened" => Action::Reopened,
        "edited" => Action::Edited,
        "labeled" | "unlabeled" => Action::Labeled,
        "synchronize" => Action::Pushed,
        "ready_for_review" => Action::ReadyForReview,
        "converted_to_draft" => Action::ConvertedToDraft,
        "closed" if ev.pull_request.merged == Some(true) => Action::Merged,
        "closed" => Action::Closed,
        other => return ignored("pull_request", other),
    };
    let mut change = pr_change(&ev.pull_request, &ev.repository);
    let (added, removed) = label_delta(&ev.action, &ev.label, &mut change);
    EventPayload::Change(Box::new(ChangeEvent {
        pipeline: None,
        action,
        forge_action: ev.action,
        change,
        actor: user(&ev.sender),
        labels_added: added,
        labels_removed: removed,
        review: None,
        previous_head_sha: if action == Action::Pushed {
            ev.before
        } else {
            None
        },
        previous_target_branch: ev
            .changes
            .as_ref()
            .and_then(|c| c.pointer("/base/ref/from"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        comment: None,
    }))
}

fn review(ev: ReviewEvent) -> EventPayload {
    let approved = ev
        .review
        .state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("approved"));
    let action = match ev.action.as_str() {
        "submitted" if approved => Action::Approved,
        "submitted" | "edited" => Action::Reviewed,
        "dismissed" => Action::Unapproved,
        other => return ignored("pull_request_review", other),
    };
    let review = Review {
        reviewer: user(&ev.review.user),
        approved: approved && action == Action::Approved,
        commit_sha: ev.review.commit_id.clone(),
        submitted_at: ev.review.submitted_at.as_deref().and_then(timestamp),
    };
    let comment = review_comment(&ev);
    EventPayload::Change(Box::new(ChangeEvent {
        pipeline: None,
        action,
        forge_action: ev.action,
        change: pr_change(&ev.pull_request, &ev.repository),
        actor: user(&ev.sender),
        labels_added: vec![],
        labels_removed: vec![],
        review: Some(review),
        previous_head_sha: None,
        previous_target_branch: None,
        comment,
    }))
}

fn issue_change(issue: &Issue, repo: &WireRepo) -> Change {
    Change {
        forge: Forge::Github,
        repo: repo.into(),
        kind: if issue.pull_request.is_some() {
            ChangeKind::MergeRequest
        } else {
            ChangeKind::Issue
        },
        number: issue.number,
        title: issue.title.clone().unwrap_or_default(),
        description: issue.body.clone().unwrap_or_default(),
        author: user(&issue.user),
        labels: labels(&issue.labels),
        head_sha: None,
        source_branch: None,
        target_branch: None,
        target_sha: None,
        draft: false,
        state: state(issue.state.as_deref(), false),
        merged_at: None,
        web_url: issue.html_url.clone(),
        updated_at: None,
        comments: None,
    }
}

fn issues(ev: IssuesEvent) -> EventPayload {
    let action = match ev.action.as_str() {
        "opened" => Action::Opened,
        "reopened" => Action::Reopened,
        "edited" => Action::Edited,
        "labeled" | "unlabeled" => Action::Labeled,
        "closed" => Action::Closed,
        other => return ignored("issues", other),
    };
    let mut change = issue_change(&ev.issue, &ev.repository);
    let (added, removed) = label_delta(&ev.action, &ev.label, &mut change);
    EventPayload::Change(Box::new(ChangeEvent {
        pipeline: None,
        action,
        forge_action: ev.action,
        change,
        actor: user(&ev.sender),
        labels_added: added,
        labels_removed: removed,
        review: None,
        previous_head_sha: None,
        previous_target_branch: None,
        comment: None,
    }))
}

#[derive(Deserialize)]
struct CommentEvent {
    action: String,
    issue: Issue,
    comment: Option<WireComment>,
    sender: Option<WireUser>,
    repository: WireRepo,
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    node_id: Option<String>,
    body: Option<String>,
    html_url: Option<String>,
    user: Option<WireUser>,
    created_at: Option<String>,
    performed_via_github_app: Option<serde_json::Value>,
}

/// The comment an `issue_comment` event is about.
fn issue_comment(ev: &CommentEvent) -> Option<CommentFact> {
    let c = ev.comment.as_ref()?;
    let change = match ev.action.as_str() {
        "created" => CommentChange::Created,
        "edited" => CommentChange::Edited,
        "deleted" => CommentChange::Deleted,
        _ => return None,
    };
    let via_app = c
        .performed_via_github_app
        .as_ref()
        .is_some_and(|a| !a.is_null());
    Some(CommentFact {
        id: c.id,
        source: CommentSource::IssueComment,
        change,
        body: c.body.clone().unwrap_or_default(),
        author: user(&c.user),
        at: c.created_at.as_deref().and_then(timestamp),
        url: c.html_url.clone(),
        by: Some(user(&ev.sender)),
        ignored: not_a_person(&c.user)
            .or_else(|| via_app.then(|| "posted through an App".to_string())),
        node_id: c.node_id.clone(),
    })
}

/// A review's body as a comment: it counts like one, except in a review requesting changes.
fn review_comment(ev: &ReviewEvent) -> Option<CommentFact> {
    let r = &ev.review;
    let id = r.id?;
    let change = match ev.action.as_str() {
        "submitted" => CommentChange::Created,
        "edited" => CommentChange::Edited,
        "dismissed" => CommentChange::Dismissed,
        _ => return None,
    };
    let state = r.state.as_deref().unwrap_or("").to_ascii_lowercase();
    let via_app = r
        .performed_via_github_app
        .as_ref()
        .is_some_and(|a| !a.is_null());
    Some(CommentFact {
        id,
        source: CommentSource::Review,
        change,
        body: r.body.clone().unwrap_or_default(),
        author: user(&r.user),
        at: r.submitted_at.as_deref().and_then(timestamp),
        url: r.html_url.clone(),
        by: Some(user(&ev.sender)),
        ignored: not_a_person(&r.user)
            .or_else(|| via_app.then(|| "posted through an App".to_string()))
            .or_else(|| {
                (state == "changes_requested")
                    .then(|| "a review that requests changes approves nothing".to_string())
            }),
        node_id: r.node_id.clone(),
    })
}

fn comment(ev: CommentEvent) -> EventPayload {
    match ev.action.as_str() {
        // A deleted comment may be the bot's own sticky comment: re-evaluate to restore it.
        "created" | "edited" | "deleted" => {}
        other => return ignored("issue_comment", other),
    }
    let comment = issue_comment(&ev);
    EventPayload::Change(Box::new(ChangeEvent {
        pipeline: None,
        action: Action::Commented,
        forge_action: ev.action,
        change: issue_change(&ev.issue, &ev.repository),
        actor: user(&ev.sender),
        labels_added: vec![],
        labels_removed: vec![],
        review: None,
        previous_head_sha: None,
        previous_target_branch: None,
        comment,
    }))
}

fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let body = br#"{"zen":"x"}"#;
        let header = sign(b"s3cret", body);
        assert!(
            verify(
                &[b"other".to_vec(), b"s3cret".to_vec()],
                Some(&header),
                body
            )
            .is_ok()
        );
        assert_eq!(
            verify(&[b"s3cret".to_vec()], Some(&header), b"{}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&[b"s3cret".to_vec()], None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&[b"s3cret".to_vec()], Some("sha1=abc"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[b"s3cret".to_vec()], Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn review_approval_is_recognized() {
        let body = serde_json::json!({
            "action": "submitted",
            "review": {"user": {"login": "bob", "id": 2}, "state": "APPROVED", "commit_id": "abc",
                        "submitted_at": "2026-01-02T03:04:05Z"},
            "pull_request": {"number": 7, "user": {"login": "alice", "id": 1},
                             "head": {"ref": "f", "sha": "abc"}, "base": {"ref": "main"}, "state": "open"},
            "sender": {"login": "bob", "id": 2},
            "repository": {"full_name": "acme/platypus", "id": 9}
        });
        let ev = parse("pull_request_review", None, body.to_string().as_bytes()).unwrap();
        let c = ev.change().unwrap();
        assert_eq!(c.action, Action::Approved);
        let review = c.review.as_ref().unwrap();
        assert!(review.approved);
        assert_eq!(review.reviewer.username.as_deref(), Some("bob"));
        assert!(review.submitted_at.is_some());
    }

    #[test]
    fn merged_close_is_a_merge() {
        let body = serde_json::json!({
            "action": "closed",
            "pull_request": {"number": 7, "state": "closed", "merged": true, "labels": null},
            "repository": {"full_name": "acme/platypus"}
        });
        let ev = parse("pull_request", None, body.to_string().as_bytes()).unwrap();
        let c = ev.change().unwrap();
        assert_eq!(c.action, Action::Merged);
        assert_eq!(c.change.state, ChangeState::Merged);
    }
}
