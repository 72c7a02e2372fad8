//! GitLab's REST answers as the bot reads them.

use crate::forge::Comment;
use crate::model::{Change, ChangeKind, ChangeState, Forge as ForgeKind, Label, User};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The id of something just created.
#[derive(Deserialize)]
pub(super) struct CreatedId {
    pub(super) id: i64,
}

#[derive(Deserialize)]
pub(super) struct WireUser {
    pub(super) id: Option<u64>,
    pub(super) username: Option<String>,
    /// Service accounts and access-token bots, whatever their name.
    #[serde(default)]
    pub(super) bot: Option<bool>,
    #[serde(default)]
    pub(super) user_type: Option<String>,
}

impl WireUser {
    pub(super) fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireChange {
    pub(super) iid: u64,
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) author: Option<WireUser>,
    #[serde(default)]
    pub(super) labels: Vec<String>,
    pub(super) state: Option<String>,
    pub(super) merged_at: Option<String>,
    pub(super) sha: Option<String>,
    pub(super) source_branch: Option<String>,
    pub(super) target_branch: Option<String>,
    pub(super) draft: Option<bool>,
    pub(super) work_in_progress: Option<bool>,
    pub(super) web_url: Option<String>,
    pub(super) updated_at: Option<String>,
    pub(super) user_notes_count: Option<i64>,
    pub(super) references: Option<WireReferences>,
    /// The commits of the merge request's latest diff version (single reads only).
    pub(super) diff_refs: Option<WireDiffRefs>,
}

#[derive(Deserialize)]
pub(super) struct WireDiffRefs {
    pub(super) head_sha: Option<String>,
    pub(super) base_sha: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireReferences {
    /// `group/project!7` or `group/project#7`.
    pub(super) full: Option<String>,
}

impl WireChange {
    /// The project's path as GitLab names it (`references.full` without the `!iid`/`#iid`).
    pub(super) fn project_path(&self) -> Option<String> {
        let full = self.references.as_ref()?.full.as_deref()?;
        let end = full.rfind(['!', '#'])?;
        let path = full[..end].trim();
        (!path.is_empty()).then(|| path.to_string())
    }

    pub(super) fn into_change(self, repo: &crate::model::Repo, kind: ChangeKind) -> Change {
        Change {
            forge: ForgeKind::Gitlab,
            repo: repo.clone(),
            kind,
            number: self.iid,
            title: self.title.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            author: self.author.as_ref().map(WireUser::user).unwrap_or_default(),
            labels: self.labels.iter().map(|l| Label::new(l)).collect(),
            // The merge base of the diff version of this very head: a version not yet made
            // for a new head gives none (its diff is then not known).
            target_sha: self
                .diff_refs
                .filter(|d| d.head_sha.is_some() && d.head_sha == self.sha)
                .and_then(|d| d.base_sha),
            head_sha: self.sha,
            source_branch: self.source_branch,
            target_branch: self.target_branch,
            draft: self.draft.or(self.work_in_progress).unwrap_or(false),
            state: match self.state.as_deref() {
                Some("merged") => ChangeState::Merged,
                Some("closed") => ChangeState::Closed,
                _ => ChangeState::Open,
            },
            merged_at: self.merged_at.as_deref().and_then(crate::model::parse_time),
            web_url: self.web_url,
            updated_at: self.updated_at,
            comments: self.user_notes_count.and_then(|n| u64::try_from(n).ok()),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireLabelRef {
    pub(super) name: String,
    /// The label's id: events show its current name, so a renamed label's events change.
    pub(super) id: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct WireLabelEvent {
    pub(super) action: String,
    pub(super) label: Option<WireLabelRef>,
    pub(super) user: Option<WireUser>,
    pub(super) created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
pub(super) struct WireApprovals {
    #[serde(default)]
    pub(super) approved_by: Vec<WireApprover>,
}

#[derive(Deserialize)]
pub(super) struct WireApprover {
    pub(super) user: WireUser,
    /// GitLab 17.x and later say when.
    pub(super) approved_at: Option<DateTime<Utc>>,
}

/// A direct member of a group.
#[derive(Deserialize)]
pub(super) struct WireMember {
    /// The account's state (`active`, `blocked`…).
    pub(super) state: Option<String>,
    /// `active`, or `awaiting` for an invitation not yet accepted.
    pub(super) membership_state: Option<String>,
    pub(super) access_level: Option<u32>,
    /// `YYYY-MM-DD`: access ends on that day.
    pub(super) expires_at: Option<chrono::NaiveDate>,
}

impl WireMember {
    /// Whether this membership makes its user an approver today.
    pub(super) fn counts(&self, min_access_level: u32, today: chrono::NaiveDate) -> bool {
        self.state.as_deref() == Some("active")
            && self
                .membership_state
                .as_deref()
                .is_none_or(|s| s == "active")
            && self.access_level.is_some_and(|l| l >= min_access_level)
            && self.expires_at.is_none_or(|d| d > today)
    }
}

/// One diff version of a merge request: a push, with GitLab's own time.
#[derive(Deserialize)]
pub(super) struct WireVersion {
    pub(super) head_commit_sha: Option<String>,
    pub(super) created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
pub(super) struct WireNote {
    pub(super) id: u64,
    pub(super) body: Option<String>,
    pub(super) author: Option<WireUser>,
    #[serde(default)]
    pub(super) system: bool,
    #[serde(default)]
    pub(super) created_at: Option<String>,
    #[serde(default)]
    pub(super) updated_at: Option<String>,
    #[serde(default, rename = "type")]
    pub(super) note_type: Option<String>,
    #[serde(default)]
    pub(super) external_author: Option<String>,
}

impl WireNote {
    /// The note as a comment (system notes are never one).
    pub(super) fn comment(self) -> Comment {
        let author = self.author.as_ref().map(WireUser::user).unwrap_or_default();
        let at = self
            .created_at
            .as_deref()
            .and_then(crate::model::parse_time);
        let updated = self
            .updated_at
            .as_deref()
            .and_then(crate::model::parse_time);
        let wire = self.author.as_ref();
        let ignored = crate::commands::gitlab_ignored_note(&crate::commands::GitlabNoteOrigin {
            username: author.username.as_deref(),
            bot: wire.and_then(|u| u.bot),
            user_type: wire.and_then(|u| u.user_type.as_deref()),
            system: self.system,
            note_type: self.note_type.as_deref(),
            external_author: self.external_author.as_deref(),
        });
        Comment {
            id: self.id,
            body: self.body.unwrap_or_default(),
            author,
            at,
            edited: matches!((at, updated), (Some(a), Some(u)) if u > a),
            url: None,
            ignored,
            node_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_listed_by_a_bot_or_through_the_service_desk_are_ignored() {
        let note = |v: serde_json::Value| serde_json::from_value::<WireNote>(v).unwrap().comment();
        let person = serde_json::json!({
            "id": 1, "body": "/changegate approve manager", "system": false, "type": null,
            "author": { "id": 7, "username": "mona", "bot": false },
            "created_at": "2026-02-10T09:00:00Z", "updated_at": "2026-02-10T09:00:00Z"
        });
        assert_eq!(note(person.clone()).ignored, None);
        for (path, value, why) in [
            (
                &["author", "bot"][..],
                serde_json::json!(true),
                "a bot account",
            ),
            (
                &["author", "username"][..],
                serde_json::json!("support-bot"),
                "Service Desk",
            ),
            (
                &["external_author"][..],
                serde_json::json!("x@example.com"),
                "sent by e-mail",
            ),
            (
                &["type"][..],
                serde_json::json!("Unknown"),
                "a note of type",
            ),
        ] {
            let mut v = person.clone();
            let mut at = &mut v;
            for k in path {
                at = &mut at[*k];
            }
            *at = value;
            let got = note(v).ignored;
            assert!(
                got.as_deref().is_some_and(|g| g.contains(why)),
                "{path:?}: {got:?}"
            );
        }
    }

    #[test]
    fn only_active_unexpired_members_at_the_level_count() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let member = |v: serde_json::Value| serde_json::from_value::<WireMember>(v).unwrap();
        let ok = serde_json::json!({ "state": "active", "membership_state": "active", "access_level": 30, "expires_at": null });
        assert!(member(ok.clone()).counts(30, today));
        for (k, v) in [
            ("state", serde_json::json!("blocked")),
            ("state", serde_json::Value::Null),
            ("membership_state", serde_json::json!("awaiting")),
            ("access_level", serde_json::json!(20)),
            ("access_level", serde_json::Value::Null),
            ("expires_at", serde_json::json!("2026-06-01")),
        ] {
            let mut m = ok.clone();
            m[k] = v.clone();
            assert!(!member(m).counts(30, today), "{k} = {v}");
        }
        let mut later = ok.clone();
        later["expires_at"] = serde_json::json!("2026-06-02");
        assert!(member(later).counts(30, today));
        assert!(
            member(ok).counts(10, today),
            "a lower minimum admits Guests' betters"
        );
    }

    #[test]
    fn the_project_path_comes_from_references() {
        let change = |full: &str| {
            serde_json::from_value::<WireChange>(
                serde_json::json!({ "iid": 3, "references": { "full": full } }),
            )
            .unwrap()
        };
        assert_eq!(
            change("acme/sub/platypus!3").project_path().as_deref(),
            Some("acme/sub/platypus")
        );
        assert_eq!(
            change("acme/platypus#5").project_path().as_deref(),
            Some("acme/platypus")
        );
        assert_eq!(change("!3").project_path(), None);
    }
}
