//! GitHub webhooks: verify `X-Hub-Signature-256`, then parse the body into an [`Event`].
//!
//! Own partial wire types: only the fields changegate reads, every one tolerant of null. The
//! types and helpers several events share live here; each event family has its own submodule.

mod deployments;
mod issues;
mod label;
mod pulls;

pub use deployments::run_id_of_callback;

use super::ParseError;
use super::signature::{self, SignatureError};
use crate::model::{Change, ChangeState, Event, EventPayload, Forge, Label, Repo, RepoPath, User};
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
        "pull_request" => pulls::pull_request(serde_json::from_slice(body)?),
        "pull_request_review" => pulls::review(serde_json::from_slice(body)?),
        "issues" => issues::issues(serde_json::from_slice(body)?),
        "issue_comment" => issues::comment(serde_json::from_slice(body)?),
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

fn labels(list: &Option<Vec<WireLabel>>) -> Vec<Label> {
    list.iter().flatten().map(|l| Label::new(&l.name)).collect()
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

fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

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
