//! GitLab webhooks: verify `X-Gitlab-Token` and/or the HMAC signing-token headers
//! (Standard Webhooks), then parse the body into an [`Event`]. The wire types and helpers
//! several hooks share live here; each hook family has its own submodule.

mod deployments;
mod notes;
mod object_hooks;
mod verifier;

pub use deployments::sha_of_commit_url;
pub use verifier::{GitlabHeaders, GitlabVerifier, sign, signing_key};

use super::ParseError;
use crate::model::{
    Change, ChangeKind, ChangeState, Event, EventPayload, Forge, Label, Repo, RepoPath, User,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Turns a verified delivery into an [`Event`]. `event` is the `X-Gitlab-Event` header.
pub fn parse(event: &str, delivery_id: Option<String>, body: &[u8]) -> Result<Event, ParseError> {
    let payload = match event {
        "Merge Request Hook" => object_hooks::merge_request(serde_json::from_slice(body)?),
        "Issue Hook" | "Confidential Issue Hook" => {
            object_hooks::issue(serde_json::from_slice(body)?)
        }
        "Note Hook" | "Confidential Note Hook" => notes::note(serde_json::from_slice(body)?),
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

fn ignored(event: &str, action: &str) -> EventPayload {
    EventPayload::Ignored {
        reason: format!("`{event}` action `{action}` does not affect the policy"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

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
