//! GitLab webhooks: verify `X-Gitlab-Token` and/or the HMAC signing-token headers
//! (Standard Webhooks), then parse the body into an [`Event`].

mod deployments;

pub use deployments::sha_of_commit_url;

use super::ParseError;
use super::signature::{self, SignatureError};
use crate::model::{
    Action, Change, ChangeEvent, ChangeKind, ChangeState, CommentChange, CommentFact,
    CommentSource, Event, EventPayload, Forge, Label, Repo, RepoPath, Review, User,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// What the GitLab endpoint checks, built once from settings.
#[derive(Clone, Default)]
pub struct GitlabVerifier {
    /// Plain `X-Gitlab-Token` secrets; when any is set, the header must match one.
    pub tokens: Vec<Vec<u8>>,
    /// Decoded HMAC keys of signing tokens; when any is set, `webhook-signature` must verify.
    pub signing_keys: Vec<Vec<u8>>,
    /// Accepted distance between `webhook-timestamp` and now, against replays.
    pub tolerance_secs: i64,
}

/// The delivery headers the verifier reads.
pub struct GitlabHeaders<'a> {
    pub token: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub webhook_timestamp: Option<&'a str>,
    pub webhook_signature: Option<&'a str>,
}

impl GitlabVerifier {
    /// Whether deliveries are signed (`webhook-id` is then part of what is signed).
    pub fn signs(&self) -> bool {
        !self.signing_keys.is_empty()
    }

    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty() || !self.signing_keys.is_empty()
    }

    /// What can be checked before the body is read: the token, and that a signature with a
    /// fresh timestamp is there when signing is configured.
    pub fn precheck(&self, h: &GitlabHeaders, now: i64) -> Result<(), SignatureError> {
        if !self.tokens.is_empty() {
            let token = h.token.ok_or(SignatureError::TokenMissing)?;
            if !signature::token_matches(&self.tokens, token.as_bytes()) {
                return Err(SignatureError::TokenMismatch);
            }
        }
        if !self.signing_keys.is_empty() {
            let (Some(_), Some(ts), Some(_)) =
                (h.webhook_id, h.webhook_timestamp, h.webhook_signature)
            else {
                return Err(SignatureError::Missing);
            };
            let ts: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
            if stale(now, ts, self.tolerance_secs) {
                return Err(SignatureError::Stale);
            }
        }
        Ok(())
    }

    /// Every configured mechanism must pass; several secrets per mechanism allow rotation.
    pub fn verify(&self, h: &GitlabHeaders, body: &[u8], now: i64) -> Result<(), SignatureError> {
        if !self.tokens.is_empty() {
            let token = h.token.ok_or(SignatureError::TokenMissing)?;
            if !signature::token_matches(&self.tokens, token.as_bytes()) {
                return Err(SignatureError::TokenMismatch);
            }
        }
        if !self.signing_keys.is_empty() {
            self.verify_hmac(h, body, now)?;
        }
        Ok(())
    }

    fn verify_hmac(&self, h: &GitlabHeaders, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let (Some(id), Some(ts), Some(sigs)) =
            (h.webhook_id, h.webhook_timestamp, h.webhook_signature)
        else {
            return Err(SignatureError::Missing);
        };
        let ts_num: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
        if stale(now, ts_num, self.tolerance_secs) {
            return Err(SignatureError::Stale);
        }
        let candidates: Vec<Vec<u8>> = sigs
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
        let ok = self.signing_keys.iter().any(|key| {
            candidates
                .iter()
                .any(|sig| signature::hmac_sha256_parts_matches(key, &parts, sig))
        });
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Whether the sender's `webhook-timestamp` is further than `tolerance` seconds from `now`
/// (checked: the header is anyone's to write, and one near i64's limits must not overflow).
fn stale(now: i64, ts: i64, tolerance: i64) -> bool {
    now.checked_sub(ts)
        .is_none_or(|d| d.unsigned_abs() > tolerance.unsigned_abs())
}

/// Decodes a signing token (`whsec_<base64>`) into its HMAC key.
pub fn signing_key(token: &str) -> Result<Vec<u8>, String> {
    let b64 = token.trim().strip_prefix("whsec_").unwrap_or(token.trim());
    BASE64
        .decode(b64)
        .map_err(|_| "a GitLab signing token must be `whsec_` followed by base64".to_string())
}

/// The `webhook-signature` value for a delivery (used by tests and tools).
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut msg = format!("{webhook_id}.{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    format!("v1,{}", BASE64.encode(signature::hmac_sha256(key, &msg)))
}

/// Turns a verified delivery into an [`Event`]. `event` is the `X-Gitlab-Event` header.
pub fn parse(event: &str, delivery_id: Option<String>, body: &[u8]) -> Result<Event, ParseError> {
    let payload = match event {
        "Merge Request Hook" => merge_request(serde_json::from_slice(body)?),
        "Issue Hook" | "Confidential Issue Hook" => issue(serde_json::from_slice(body)?),
        "Note Hook" | "Confidential Note Hook" => note(serde_json::from_slice(body)?),
        "Pipeline Hook" => super::gitlab_pipeline::parse(body)?,
        "Deployment Hook" => deployments::deployment(serde_json::from_slice(body)?)?,
        other => {
            serde_json::from_slice::<IgnoredAny>(body)?;
            EventPayload::Ignored {
                reason: format!("event `{other}` is not one changegate acts on"),
            }
        }
    };
    Ok(Event {
        forge: Forge::Gitlab,
        delivery_id,
        event_name: event.to_string(),
        payload,
    })
}

#[derive(Deserialize)]
struct WireUser {
    id: Option<u64>,
    username: Option<String>,
    /// Service accounts and access-token bots, whatever their name.
    #[serde(default)]
    bot: Option<bool>,
    #[serde(default)]
    user_type: Option<String>,
}

fn user(u: &Option<WireUser>) -> User {
    u.as_ref()
        .map(|u| User {
            id: u.id,
            username: u.username.clone(),
        })
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct WireLabel {
    title: String,
}

fn labels(list: &[WireLabel]) -> Vec<Label> {
    list.iter().map(|l| Label::new(&l.title)).collect()
}

#[derive(Deserialize)]
struct WireProject {
    id: Option<u64>,
    path_with_namespace: String,
    /// Says which branch a `deployments` entry without `branches` admits.
    #[serde(default)]
    default_branch: Option<String>,
}

impl From<&WireProject> for Repo {
    fn from(p: &WireProject) -> Self {
        Repo {
            path: RepoPath::new(&p.path_with_namespace),
            id: p.id,
        }
    }
}

#[derive(Deserialize)]
struct LastCommit {
    id: Option<String>,
}

/// The fields of a merge request or issue, as `object_attributes` or as a note's
/// `merge_request` / `issue` carry them.
#[derive(Deserialize)]
struct Noteable {
    iid: u64,
    title: Option<String>,
    description: Option<String>,
    author_id: Option<u64>,
    state: Option<String>,
    action: Option<String>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    last_commit: Option<LastCommit>,
    oldrev: Option<String>,
    draft: Option<bool>,
    work_in_progress: Option<bool>,
    labels: Option<Vec<WireLabel>>,
    url: Option<String>,
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

#[derive(Deserialize)]
struct ObjectHook {
    user: Option<WireUser>,
    project: WireProject,
    object_attributes: Noteable,
    labels: Option<Vec<WireLabel>>,
    changes: Option<MaybeChanges>,
}

fn state(s: Option<&str>) -> ChangeState {
    match s {
        Some("merged") => ChangeState::Merged,
        Some("closed") => ChangeState::Closed,
        // opened, locked (a merge in progress), or unknown
        _ => ChangeState::Open,
    }
}

fn change(
    kind: ChangeKind,
    n: &Noteable,
    project: &WireProject,
    top: &Option<Vec<WireLabel>>,
) -> Change {
    // Newer payloads repeat labels under object_attributes; older ones only at top level.
    let label_list = n.labels.as_deref().or(top.as_deref()).unwrap_or(&[]);
    Change {
        forge: Forge::Gitlab,
        repo: project.into(),
        kind,
        number: n.iid,
        title: n.title.clone().unwrap_or_default(),
        description: n.description.clone().unwrap_or_default(),
        author: User {
            id: n.author_id,
            username: None,
        },
        labels: labels(label_list),
        head_sha: n.last_commit.as_ref().and_then(|c| c.id.clone()),
        source_branch: n.source_branch.clone(),
        target_branch: n.target_branch.clone(),
        target_sha: None,
        draft: n.draft.or(n.work_in_progress).unwrap_or(false),
        state: state(n.state.as_deref()),
        merged_at: None,
        web_url: n.url.clone(),
        updated_at: None,
        comments: None,
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

fn ignored(event: &str, action: &str) -> EventPayload {
    EventPayload::Ignored {
        reason: format!("`{event}` action `{action}` does not affect the policy"),
    }
}

fn merge_request(hook: ObjectHook) -> EventPayload {
    object_event(hook, ChangeKind::MergeRequest, "Merge Request Hook")
}

fn issue(hook: ObjectHook) -> EventPayload {
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
struct NoteHook {
    user: Option<WireUser>,
    project: WireProject,
    object_attributes: NoteAttributes,
    merge_request: Option<Noteable>,
    issue: Option<Noteable>,
}

fn note(hook: NoteHook) -> EventPayload {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> GitlabVerifier {
        GitlabVerifier {
            tokens: vec![b"tok".to_vec()],
            signing_keys: vec![b"0123456789abcdef0123456789abcdef".to_vec()],
            tolerance_secs: 300,
        }
    }

    #[test]
    fn timestamps_at_the_limits_of_i64_are_stale_not_overflows() {
        let v = verifier();
        for ts in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let h = GitlabHeaders {
                token: Some("tok"),
                webhook_id: Some("msg_1"),
                webhook_timestamp: Some(&ts),
                webhook_signature: Some("v1,AAAA"),
            };
            assert_eq!(v.precheck(&h, 1000), Err(SignatureError::Stale));
            assert_eq!(v.verify(&h, b"{}", 1000), Err(SignatureError::Stale));
        }
        assert!(!stale(1000, 1300, 300) && stale(1000, 1301, 300));
    }

    #[test]
    fn both_mechanisms_are_required_when_configured() {
        let v = verifier();
        let body = b"{}";
        let sig = sign(&v.signing_keys[0], "msg_1", 1000, body);
        let ok = GitlabHeaders {
            token: Some("tok"),
            webhook_id: Some("msg_1"),
            webhook_timestamp: Some("1000"),
            webhook_signature: Some(&sig),
        };
        assert_eq!(v.verify(&ok, body, 1010), Ok(()));
        let no_sig = GitlabHeaders {
            webhook_signature: None,
            ..ok
        };
        assert_eq!(v.verify(&no_sig, body, 1010), Err(SignatureError::Missing));
    }

    #[test]
    fn hmac_rejects_replay_tampering_and_accepts_rotation_lists() {
        let v = GitlabVerifier {
            tokens: vec![],
            ..verifier()
        };
        let body = b"{\"a\":1}";
        let good = sign(&v.signing_keys[0], "id", 1000, body);
        let list = format!("v1,AAAA {good}");
        let check = |sig: &str, ts: &str, body: &[u8], now| {
            v.verify(
                &GitlabHeaders {
                    token: None,
                    webhook_id: Some("id"),
                    webhook_timestamp: Some(ts),
                    webhook_signature: Some(sig),
                },
                body,
                now,
            )
        };
        assert_eq!(check(&list, "1000", body, 1000), Ok(()));
        assert_eq!(check(&good, "1000", body, 2000), Err(SignatureError::Stale));
        assert_eq!(
            check(&good, "1000", b"{}", 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&good, "1001", body, 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("v2,xx", "1000", body, 1000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn signing_tokens_decode() {
        assert_eq!(signing_key("whsec_AAEC").unwrap(), vec![0, 1, 2]);
        assert!(signing_key("whsec_***").is_err());
    }

    #[test]
    fn label_changes_on_update_are_a_label_event() {
        let body = serde_json::json!({
            "object_kind": "merge_request",
            "user": {"id": 5, "username": "bob"},
            "project": {"id": 1, "path_with_namespace": "acme/platypus"},
            "object_attributes": {"iid": 3, "action": "update", "author_id": 4, "state": "opened",
                "last_commit": {"id": "abc"}, "target_branch": "main",
                "labels": [{"title": "CMT::Standard"}]},
            "changes": {"labels": {"previous": [], "current": [{"title": "CMT::Standard"}]}}
        });
        let ev = parse("Merge Request Hook", None, body.to_string().as_bytes()).unwrap();
        let c = ev.change().unwrap();
        assert_eq!(c.action, Action::Labeled);
        assert_eq!(c.labels_added, vec![Label::new("CMT::Standard")]);
        assert_eq!(c.change.author.id, Some(4));
    }
}
