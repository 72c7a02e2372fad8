//! Comment commands (`/changegate approve business-owner`): finding them in a comment
//! ([`parse`]), and what the rules allow of them (the prefix). Judging and recording them is
//! the policy's and the worker's.

mod html;
pub mod parse;
mod records;

pub use parse::{Command, CommandLine, MAX_COMMANDS, commands};
pub use records::{CommandRecord, CommentApproval, body_sha};

/// The prefix the shipped rules use.
pub const DEFAULT_PREFIX: &str = "/changegate";

/// GitLab's built-in quick actions (docs.gitlab.com, *Quick actions*, GitLab 18), with their
/// aliases: GitLab executes these and removes them from the note, so a prefix named like one
/// would either act on GitLab or never reach changegate.
pub const GITLAB_QUICK_ACTIONS: &[&str] = &[
    "add_child",
    "add_contacts",
    "add_email",
    "approve",
    "assign",
    "assign_reviewer",
    "award",
    "blocked_by",
    "blocks",
    "board_move",
    "cc",
    "checkin_reminder",
    "child_epic",
    "clear_health_status",
    "clear_weight",
    "clone",
    "close",
    "confidential",
    "convert_to_ticket",
    "copy_metadata",
    "create_merge_request",
    "done",
    "draft",
    "due",
    "duplicate",
    "epic",
    "estimate",
    "estimate_time",
    "exclude_subepics",
    "health_status",
    "iteration",
    "label",
    "link",
    "lock",
    "merge",
    "milestone",
    "move",
    "page",
    "parent_epic",
    "promote",
    "promote_to",
    "promote_to_incident",
    "publish",
    "q",
    "react",
    "ready",
    "reassign",
    "reassign_reviewer",
    "rebase",
    "relabel",
    "relate",
    "remove_child",
    "remove_child_epic",
    "remove_contacts",
    "remove_due_date",
    "remove_email",
    "remove_epic",
    "remove_estimate",
    "remove_iteration",
    "remove_label",
    "remove_milestone",
    "remove_parent",
    "remove_parent_epic",
    "remove_reviewer",
    "remove_time_estimate",
    "remove_time_spent",
    "remove_timeline_event",
    "remove_zoom",
    "reopen",
    "request_changes",
    "request_review",
    "reviewer",
    "set_parent",
    "severity",
    "shrug",
    "spend",
    "spend_time",
    "spent",
    "status",
    "submit_review",
    "subscribe",
    "summarize_diff",
    "tableflip",
    "target_branch",
    "timeline",
    "title",
    "todo",
    "type",
    "unapprove",
    "unassign",
    "unassign_reviewer",
    "unlabel",
    "unlink",
    "unlock",
    "unsubscribe",
    "weight",
    "wip",
    "zoom",
];

/// GitLab's bot users (project and group access tokens, service accounts) are named
/// `project_<id>_bot…`, `group_<id>_bot…`, `service_account…`.
pub fn is_gitlab_bot(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let numbered_bot = |kind: &str| {
        lower
            .strip_prefix(kind)
            .and_then(|rest| rest.split_once('_'))
            .is_some_and(|(id, rest)| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with("bot")
            })
    };
    numbered_bot("project_") || numbered_bot("group_") || lower.starts_with("service_account")
}

/// What GitLab says of a note's writer and the note itself, for telling notes no person wrote
/// (and so that give nothing) from the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitlabNoteOrigin<'a> {
    pub username: Option<&'a str>,
    /// The user's `bot` field (service accounts, access-token bots; any name).
    pub bot: Option<bool>,
    /// The user's `user_type` (`human` for people), where GitLab gives it.
    pub user_type: Option<&'a str>,
    pub system: bool,
    /// The note's `type` (`DiscussionNote`, `DiffNote`, or none for a plain note).
    pub note_type: Option<&'a str>,
    /// Service Desk: the e-mail address a note was sent from by someone without an account.
    pub external_author: Option<&'a str>,
}

/// Why a GitLab note gives nothing, if it gives nothing: a system note, a bot or service
/// account (by its fields or its name), the Service Desk's support bot or an e-mail sent
/// through it, or a note of a type changegate does not know.
pub fn gitlab_ignored_note(o: &GitlabNoteOrigin) -> Option<String> {
    let who = o
        .username
        .map(|u| format!("@{u}"))
        .unwrap_or_else(|| "an unknown account".into());
    if o.system {
        return Some("a system note".into());
    }
    if let Some(from) = o.external_author.filter(|e| !e.trim().is_empty()) {
        return Some(format!(
            "sent by e-mail through the Service Desk (from {}): an e-mail gives nothing",
            crate::markdown::code(from)
        ));
    }
    let support_bot = o
        .username
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("support-bot"));
    if support_bot {
        return Some(format!(
            "written by {who}, the Service Desk's bot (an e-mail): an e-mail gives nothing"
        ));
    }
    let typed_bot = o.user_type.is_some_and(|t| t != "human");
    if o.bot == Some(true) || typed_bot || o.username.is_some_and(is_gitlab_bot) {
        return Some(format!("written by {who}, a bot account"));
    }
    match o.note_type {
        None | Some("DiscussionNote" | "DiffNote" | "LegacyDiffNote") => None,
        Some(other) => Some(format!(
            "a note of type {} changegate does not read commands from",
            crate::markdown::code(other)
        )),
    }
}

/// Why `prefix` cannot be the commands' prefix, if it cannot.
pub fn prefix_problem(prefix: &str) -> Option<String> {
    let Some(name) = prefix.strip_prefix('/') else {
        return Some(format!("prefix `{prefix}` must start with `/`"));
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some(format!(
            "prefix `{prefix}` must be `/` and a word of letters, digits, `-`, `_` or `.`"
        ));
    }
    GITLAB_QUICK_ACTIONS
        .iter()
        .any(|q| q.eq_ignore_ascii_case(name))
        .then(|| {
            format!(
                "prefix `{prefix}` is a GitLab quick action: GitLab would act on it itself (or drop it from the note)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(prefix_problem(DEFAULT_PREFIX), None);
        assert_eq!(prefix_problem("/cg"), None);
        for (bad, why) in [
            ("changegate", "must start with `/`"),
            ("/", "must be `/` and a word"),
            ("/change gate", "must be `/` and a word"),
            ("/approve", "GitLab quick action"),
            ("/Merge", "GitLab quick action"),
            ("/label", "GitLab quick action"),
        ] {
            assert!(
                prefix_problem(bad).is_some_and(|p| p.contains(why)),
                "{bad}: {:?}",
                prefix_problem(bad)
            );
        }
    }

    #[test]
    fn gitlab_notes_no_person_wrote_give_nothing() {
        let person = GitlabNoteOrigin {
            username: Some("mona"),
            bot: Some(false),
            user_type: Some("human"),
            ..Default::default()
        };
        assert_eq!(gitlab_ignored_note(&person), None);
        assert_eq!(
            gitlab_ignored_note(&GitlabNoteOrigin {
                note_type: Some("DiscussionNote"),
                ..person.clone()
            }),
            None
        );
        for (o, why) in [
            (
                GitlabNoteOrigin {
                    username: Some("deploy-helper"),
                    bot: Some(true),
                    ..Default::default()
                },
                "a bot account",
            ),
            (
                GitlabNoteOrigin {
                    username: Some("release-robot"),
                    user_type: Some("service_account"),
                    ..Default::default()
                },
                "a bot account",
            ),
            (
                GitlabNoteOrigin {
                    username: Some("support-bot"),
                    ..Default::default()
                },
                "Service Desk",
            ),
            (
                GitlabNoteOrigin {
                    external_author: Some("ceo@example.com"),
                    ..person.clone()
                },
                "sent by e-mail",
            ),
            (
                GitlabNoteOrigin {
                    note_type: Some("SomethingNew"),
                    ..person.clone()
                },
                "a note of type",
            ),
            (
                GitlabNoteOrigin {
                    system: true,
                    ..person.clone()
                },
                "a system note",
            ),
        ] {
            let got = gitlab_ignored_note(&o);
            assert!(
                got.as_deref().is_some_and(|g| g.contains(why)),
                "{o:?}: {got:?}"
            );
        }
    }
}
