//! GitHub `pull_request` and `pull_request_review` events: their wire types and how they
//! become a [`ChangeEvent`].

use super::{
    WireLabel, WireRepo, WireUser, ignored, label_delta, labels, not_a_person, state, timestamp,
    user,
};
use crate::model::{
    Action, Change, ChangeEvent, ChangeKind, CommentChange, CommentFact, CommentSource,
    EventPayload, Forge, Review,
};
use serde::Deserialize;

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
pub(super) struct PullRequestEvent {
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
pub(super) struct ReviewEvent {
    action: String,
    review: WireReview,
    pull_request: PullRequest,
    sender: Option<WireUser>,
    repository: WireRepo,
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

pub(super) fn pull_request(ev: PullRequestEvent) -> EventPayload {
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

pub(super) fn review(ev: ReviewEvent) -> EventPayload {
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
