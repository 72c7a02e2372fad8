//! GitLab Merge Request and Issue Hooks: their `changes` wire types and how a hook becomes a
//! [`ChangeEvent`].

use super::{Noteable, WireLabel, WireProject, WireUser, change, ignored, labels, user};
use crate::model::{Action, ChangeEvent, ChangeKind, EventPayload, Label, Review};
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Deserialize)]
pub(super) struct ObjectHook {
    user: Option<WireUser>,
    project: WireProject,
    object_attributes: Noteable,
    labels: Option<Vec<WireLabel>>,
    changes: Option<MaybeChanges>,
}

#[derive(Deserialize)]
struct Previous<T> {
    previous: Option<T>,
    current: Option<T>,
}

#[derive(Deserialize, Default)]
struct Changes {
    labels: Option<Previous<Vec<WireLabel>>>,
    draft: Option<Previous<bool>>,
    target_branch: Option<Previous<String>>,
}

/// `changes` is an object in every documented payload; anything else counts as empty.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaybeChanges {
    Object(Changes),
    Other(IgnoredAny),
}

impl MaybeChanges {
    fn into_changes(self) -> Changes {
        match self {
            MaybeChanges::Object(c) => c,
            MaybeChanges::Other(_) => Changes::default(),
        }
    }
}

/// Labels added and removed, from `changes.labels` (full lists before and after).
fn label_delta(changes: &Changes) -> (Vec<Label>, Vec<Label>) {
    let Some(l) = &changes.labels else {
        return (vec![], vec![]);
    };
    let before = labels(l.previous.as_deref().unwrap_or(&[]));
    let after = labels(l.current.as_deref().unwrap_or(&[]));
    let added = after
        .iter()
        .filter(|x| !before.contains(x))
        .cloned()
        .collect();
    let removed = before
        .iter()
        .filter(|x| !after.contains(x))
        .cloned()
        .collect();
    (added, removed)
}

pub(super) fn merge_request(hook: ObjectHook) -> EventPayload {
    object_event(hook, ChangeKind::MergeRequest, "Merge Request Hook")
}

pub(super) fn issue(hook: ObjectHook) -> EventPayload {
    object_event(hook, ChangeKind::Issue, "Issue Hook")
}

fn object_event(hook: ObjectHook, kind: ChangeKind, event: &str) -> EventPayload {
    let changes = hook
        .changes
        .map(MaybeChanges::into_changes)
        .unwrap_or_default();
    let forge_action = hook.object_attributes.action.clone().unwrap_or_default();
    let oa = &hook.object_attributes;
    let action = match forge_action.as_str() {
        "open" => Action::Opened,
        "reopen" => Action::Reopened,
        "close" => Action::Closed,
        "merge" => Action::Merged,
        "approved" | "approval" => Action::Approved,
        "unapproved" | "unapproval" => Action::Unapproved,
        "update" if oa.oldrev.is_some() => Action::Pushed,
        "update" if changes.labels.is_some() => Action::Labeled,
        "update" => match changes.draft.as_ref().and_then(|d| d.current) {
            Some(true) => Action::ConvertedToDraft,
            Some(false) => Action::ReadyForReview,
            None => Action::Edited,
        },
        other => return ignored(event, other),
    };
    // On close/reopen GitLab repeats an old label delta; it is not "applied now".
    let (added, removed) = match action {
        Action::Opened | Action::Labeled | Action::Pushed | Action::Edited => label_delta(&changes),
        _ => (vec![], vec![]),
    };
    let actor = user(&hook.user);
    let review = matches!(action, Action::Approved | Action::Unapproved).then(|| Review {
        reviewer: actor.clone(),
        approved: action == Action::Approved,
        commit_sha: oa.last_commit.as_ref().and_then(|c| c.id.clone()),
        submitted_at: None,
    });
    EventPayload::Change(Box::new(ChangeEvent {
        pipeline: None,
        action,
        change: change(kind, oa, &hook.project, &hook.labels),
        previous_head_sha: if action == Action::Pushed {
            oa.oldrev.clone()
        } else {
            None
        },
        previous_target_branch: changes
            .target_branch
            .as_ref()
            .and_then(|t| t.previous.clone()),
        comment: None,
        forge_action,
        actor,
        labels_added: added,
        labels_removed: removed,
        review,
    }))
}
