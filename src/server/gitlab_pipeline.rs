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
    id: Option<u64>,
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
    target_project_id: Option<u64>,
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
    // A merge request's pipeline that runs in the fork it comes from: the hook's project is the
    // fork, the merge request lives in the target project (named by its id and its URL).
    let mut repo = Repo {
        path: RepoPath::new(&hook.project.path_with_namespace),
        id: hook.project.id,
    };
    let mut from_fork = false;
    if let Some(mr) = &hook.merge_request
        && mr.target_project_id.is_some()
        && mr.target_project_id != hook.project.id
    {
        from_fork = true;
        let Some(path) = mr.url.as_deref().and_then(project_path_of) else {
            return Ok(ignored(
                "a fork's pipeline whose merge request's project is not named",
            ));
        };
        repo = Repo {
            path: RepoPath::new(&path),
            id: mr.target_project_id,
        };
    }
    if number == 0 && head.is_none() {
        return Ok(ignored(
            "a pipeline that names neither a merge request nor a commit",
        ));
    }
    // The pipeline itself, for `pending` the moment it starts: only one of the change's own
    // project (a fork's pipeline is out of reach, see `worker::gitlab_gate`).
    let pipeline = match (from_fork, hook.project.id, a.id, &a.sha) {
        (false, Some(_), Some(id), Some(sha)) => Some(crate::model::HookPipeline {
            id,
            sha: sha.clone(),
        }),
        _ => None,
    };
    let actor = hook
        .user
        .as_ref()
        .map(|u| User {
            id: u.id,
            username: u.username.clone(),
        })
        .unwrap_or_default();
    Ok(EventPayload::Change(Box::new(ChangeEvent {
        pipeline,
        action: Action::Other,
        forge_action: PIPELINE.into(),
        change: Change {
            forge: Forge::Gitlab,
            repo,
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

/// The project path in a merge request's URL (`https://host/group/project/-/merge_requests/7`).
fn project_path_of(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (_, path) = after_scheme.split_once('/')?;
    let (project, iid) = path.trim_end_matches('/').rsplit_once("/merge_requests/")?;
    iid.parse::<u64>().ok()?;
    let project = project.trim_end_matches("/-");
    (!project.is_empty()).then(|| project.to_string())
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
        assert_eq!(
            c.pipeline,
            Some(crate::model::HookPipeline {
                id: 31,
                sha: "abc".into()
            })
        );
        let mut tag = body.clone();
        tag["object_attributes"]["tag"] = serde_json::json!(true);
        assert!(matches!(
            parse(tag.to_string().as_bytes()).unwrap(),
            EventPayload::Ignored { .. }
        ));
        let mut other = body.clone();
        other["object_kind"] = serde_json::json!("build");
        assert!(matches!(
            parse(other.to_string().as_bytes()).unwrap(),
            EventPayload::Ignored { .. }
        ));
    }

    #[test]
    fn a_forks_pipeline_evaluates_the_merge_request_in_its_target_project() {
        // The corpus `pipeline.success.1` merge request, from a fork (project 77).
        let body = serde_json::json!({
            "object_kind": "pipeline",
            "object_attributes": { "id": 31, "sha": "abc", "ref": "test", "tag": false, "source": "merge_request_event" },
            "merge_request": { "id": 1, "iid": 1, "source_branch": "test", "source_project_id": 77,
                "target_branch": "master", "target_project_id": 1, "state": "opened",
                "url": "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/merge_requests/1" },
            "project": { "id": 77, "path_with_namespace": "alice/gitlab-test" }
        });
        let EventPayload::Change(c) = parse(body.to_string().as_bytes()).unwrap() else {
            panic!("a change event");
        };
        assert_eq!(c.change.repo.id, Some(1));
        assert_eq!(c.change.repo.path.as_str(), "gitlab-org/gitlab-test");
        assert_eq!(c.change.number, 1);
        // The fork's pipeline gets no `pending` from changegate: it is out of reach.
        assert_eq!(c.pipeline, None);
        let mut unnamed = body;
        unnamed["merge_request"]["url"] = serde_json::Value::Null;
        assert!(matches!(
            parse(unnamed.to_string().as_bytes()).unwrap(),
            EventPayload::Ignored { .. }
        ));
        for (url, path) in [
            ("https://gl.example.com/a/b/-/merge_requests/3", Some("a/b")),
            (
                "https://gl.example.com/a/b/c/merge_requests/3",
                Some("a/b/c"),
            ),
            ("https://gl.example.com/a/b/-/issues/3", None),
            ("https://gl.example.com/merge_requests/3", None),
        ] {
            assert_eq!(project_path_of(url).as_deref(), path, "{url}");
        }
    }
}
