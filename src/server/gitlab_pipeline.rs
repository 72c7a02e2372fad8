//! GitLab's `Pipeline Hook` (`object_kind: pipeline`): a pipeline on a merge request's head
//! is what "Pipelines must succeed" reads, so each one makes the worker put changegate's
//! status into it. A merge request pipeline names its merge request; a branch pipeline does
//! not, and becomes a change event numbered 0 that the worker fans out to the open merge
//! requests whose head is the pipeline's commit.

use crate::model::{
    Action, Change, ChangeEvent, ChangeKind, ChangeState, EventPayload, Forge, Repo, RepoPath, User,
};
use serde::Deserialize;

/// The `forge_action` of events made from a pipeline.
pub const PIPELINE: &str = crate::model::PIPELINE_ACTION;

#[derive(Deserialize)]
struct Hook {
    object_kind: Option<String>,
    object_attributes: Attributes,
    merge_request: Option<MergeRequest>,
    user: Option<WireUser>,
    project: Project,
}

#[derive(Deserialize)]
struct Attributes {
    sha: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    tag: bool,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    source_branch: Option<String>,
    target_branch: Option<String>,
    state: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct WireUser {
    id: Option<u64>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Project {
    id: Option<u64>,
    path_with_namespace: String,
}

/// The event a `Pipeline Hook` body means.
pub fn parse(body: &[u8]) -> Result<EventPayload, serde_json::Error> {
    let hook: Hook = serde_json::from_slice(body)?;
    if hook.object_kind.as_deref() != Some("pipeline") {
        return Ok(ignored(
            "a `Pipeline Hook` whose object_kind is not `pipeline`",
        ));
    }
    let a = &hook.object_attributes;
    if a.tag {
        return Ok(ignored("a tag pipeline is no merge request's"));
    }
    let (number, source, target, state, url, head) = match &hook.merge_request {
        Some(mr) => (
            mr.iid,
            mr.source_branch.clone(),
            mr.target_branch.clone(),
            mr.state.as_deref(),
            mr.url.clone(),
            // A merged-results pipeline runs on a merge commit, not the head: the worker
            // reads the head from the API.
            None,
        ),
        None => (
            0,
            a.git_ref.clone(),
            None,
            Some("opened"),
            None,
            a.sha.clone(),
        ),
    };
    if matches!(state, Some("merged" | "closed")) {
        return Ok(ignored("a pipeline of a merge request no longer open"));
    }
    if number == 0 && head.is_none() {
        return Ok(ignored(
            "a pipeline that names neither a merge request nor a commit",
        ));
    }
    let actor = hook
        .user
        .as_ref()
        .map(|u| User {
            id: u.id,
            username: u.username.clone(),
        })
        .unwrap_or_default();
    Ok(EventPayload::Change(Box::new(ChangeEvent {
        action: Action::Other,
        forge_action: PIPELINE.into(),
        change: Change {
            forge: Forge::Gitlab,
            repo: Repo {
                path: RepoPath::new(&hook.project.path_with_namespace),
                id: hook.project.id,
            },
            kind: ChangeKind::MergeRequest,
            number,
            title: String::new(),
            description: String::new(),
            author: User::default(),
            labels: vec![],
            head_sha: head,
            source_branch: source,
            target_branch: target,
            target_sha: None,
            draft: false,
            state: ChangeState::Open,
            merged_at: None,
            web_url: url,
            updated_at: None,
            comments: None,
        },
        actor,
        labels_added: vec![],
        labels_removed: vec![],
        review: None,
        previous_head_sha: None,
        previous_target_branch: None,
        comment: None,
    })))
}

fn ignored(reason: &str) -> EventPayload {
    EventPayload::Ignored {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_pipeline_names_its_commit_and_no_merge_request() {
        let body = serde_json::json!({
            "object_kind": "pipeline",
            "object_attributes": { "id": 31, "sha": "abc", "ref": "feature", "tag": false, "status": "pending" },
            "merge_request": null,
            "project": { "id": 42, "path_with_namespace": "acme/platypus" }
        });
        let EventPayload::Change(c) = parse(body.to_string().as_bytes()).unwrap() else {
            panic!("a change event");
        };
        assert_eq!(c.change.number, 0);
        assert_eq!(c.change.head_sha.as_deref(), Some("abc"));
        assert_eq!(c.forge_action, PIPELINE);
        let mut tag = body.clone();
        tag["object_attributes"]["tag"] = serde_json::json!(true);
        assert!(matches!(
            parse(tag.to_string().as_bytes()).unwrap(),
            EventPayload::Ignored { .. }
        ));
        let mut other = body;
        other["object_kind"] = serde_json::json!("build");
        assert!(matches!(
            parse(other.to_string().as_bytes()).unwrap(),
            EventPayload::Ignored { .. }
        ));
    }
}
