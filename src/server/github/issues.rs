//! GitHub `issues` and `issue_comment` events: their wire types and how they become a
//! [`ChangeEvent`].

use super::{
    WireLabel, WireRepo, WireUser, ignored, label_delta, labels, not_a_person, state, timestamp,
    user,
};
use crate::model::{
    Action, Change, ChangeEvent, ChangeKind, CommentChange, CommentFact, CommentSource,
    EventPayload, Forge,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

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
pub(super) struct IssuesEvent {
    action: String,
    issue: Issue,
    label: Option<WireLabel>,
    sender: Option<WireUser>,
    repository: WireRepo,
}

#[derive(Deserialize)]
pub(super) struct CommentEvent {
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

pub(super) fn issues(ev: IssuesEvent) -> EventPayload {
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

pub(super) fn comment(ev: CommentEvent) -> EventPayload {
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
