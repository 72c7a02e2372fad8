//! GitLab Note Hooks: their wire types and how a note becomes a [`ChangeEvent`] with its
//! [`CommentFact`].

use super::{Noteable, WireProject, WireUser, change, ignored, user};
use crate::model::{
    Action, ChangeEvent, ChangeKind, CommentChange, CommentFact, CommentSource, EventPayload, User,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct NoteAttributes {
    noteable_type: Option<String>,
    action: Option<String>,
    id: Option<u64>,
    note: Option<String>,
    author_id: Option<u64>,
    created_at: Option<String>,
    updated_by_id: Option<u64>,
    system: Option<bool>,
    url: Option<String>,
    /// `DiscussionNote`, `DiffNote`, or none for a plain note.
    #[serde(default, rename = "type")]
    note_type: Option<String>,
    /// Service Desk: the sender's address of a note that came by e-mail.
    #[serde(default)]
    external_author: Option<String>,
}

/// The note a Note Hook is about (`create`, or `update` since GitLab 16.11; a payload without
/// `action` is a creation, as before 16.11).
fn note_comment(hook: &NoteHook) -> Option<CommentFact> {
    let n = &hook.object_attributes;
    let id = n.id?;
    let change = match n.action.as_deref() {
        None | Some("create") => CommentChange::Created,
        Some("update") => CommentChange::Edited,
        Some(_) => return None,
    };
    let actor = user(&hook.user);
    // The hook's `user` wrote a new note; for an edit it is whoever edited.
    let author = match (change, n.author_id) {
        (CommentChange::Created, Some(a)) if actor.id == Some(a) => actor.clone(),
        (_, a) => User {
            id: a,
            username: None,
        },
    };
    let by = match (change, n.updated_by_id) {
        (CommentChange::Edited, Some(id)) if actor.id.is_some_and(|a| a != id) => User {
            id: Some(id),
            username: None,
        },
        _ => actor.clone(),
    };
    let wire = hook.user.as_ref();
    let ignored = crate::commands::gitlab_ignored_note(&crate::commands::GitlabNoteOrigin {
        username: actor.username.as_deref(),
        bot: wire.and_then(|u| u.bot),
        user_type: wire.and_then(|u| u.user_type.as_deref()),
        system: n.system == Some(true),
        note_type: n.note_type.as_deref(),
        external_author: n.external_author.as_deref(),
    });
    Some(CommentFact {
        id,
        source: CommentSource::Note,
        change,
        body: n.note.clone().unwrap_or_default(),
        author,
        at: n.created_at.as_deref().and_then(crate::model::parse_time),
        url: n.url.clone(),
        by: Some(by),
        ignored,
        node_id: None,
    })
}

#[derive(Deserialize)]
pub(super) struct NoteHook {
    user: Option<WireUser>,
    project: WireProject,
    object_attributes: NoteAttributes,
    merge_request: Option<Noteable>,
    issue: Option<Noteable>,
}

pub(super) fn note(hook: NoteHook) -> EventPayload {
    let noteable_type = hook
        .object_attributes
        .noteable_type
        .as_deref()
        .unwrap_or("");
    let (kind, noteable) = match (noteable_type, &hook.merge_request, &hook.issue) {
        ("MergeRequest", Some(mr), _) => (ChangeKind::MergeRequest, mr),
        ("Issue", _, Some(issue)) => (ChangeKind::Issue, issue),
        (other, _, _) => return ignored("Note Hook", &format!("note on {other}")),
    };
    let comment = note_comment(&hook);
    EventPayload::Change(Box::new(ChangeEvent {
        pipeline: None,
        action: Action::Commented,
        forge_action: hook
            .object_attributes
            .action
            .clone()
            .unwrap_or_else(|| "create".to_string()),
        change: change(kind, noteable, &hook.project, &None),
        actor: user(&hook.user),
        labels_added: vec![],
        labels_removed: vec![],
        review: None,
        previous_head_sha: None,
        previous_target_branch: None,
        comment,
    }))
}
