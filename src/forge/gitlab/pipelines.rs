//! Which pipeline GitLab gates a merge request on, and where it runs. "Pipelines must succeed"
//! reads the merge request's head pipeline: for a merge request from a fork it may run in the
//! fork (another project), and a merged-results or merge-train pipeline runs on a merge commit,
//! not on the head. Read from `GET /projects/:id/merge_requests/:iid` (`sha`, `head_pipeline`
//! with its `project_id`, `source_project_id`, `target_project_id`) and, for another project,
//! `GET /projects/:id` (its path and the token's access there).

use super::{ChangeRef, ForgeError, GitlabClient};
use crate::model::{Repo, RepoPath};
use serde::Deserialize;

/// A pipeline as the merge request names it.
#[derive(Debug, Clone, PartialEq)]
pub struct GatePipeline {
    pub id: u64,
    /// The commit it runs on: the head, or a merge commit (merged results, merge trains).
    pub sha: String,
    /// The project it runs in; `None` when GitLab did not say.
    pub project_id: Option<u64>,
    /// Its ref: a branch, or `refs/merge-requests/:iid/merge` (merged results) or `…/train`.
    pub git_ref: Option<String>,
}

/// What the merge request says of its head and the pipeline gating its merge.
#[derive(Debug, Clone, PartialEq)]
pub struct MrGate {
    pub sha: Option<String>,
    pub source_project_id: Option<u64>,
    pub target_project_id: Option<u64>,
    /// `Ok(None)`: GitLab lists no pipeline for the head. `Err(())`: the answer has no
    /// `head_pipeline` key at all (an instance that does not say), so nothing is known.
    pub head_pipeline: Result<Option<GatePipeline>, ()>,
}

/// Another project as the token sees it: its path and the token's role there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectAccess {
    pub path: Option<String>,
    /// The higher of the project's and its group's access level for the token's account.
    pub access_level: Option<u64>,
}

#[derive(Deserialize)]
struct WirePipeline {
    id: u64,
    sha: Option<String>,
    project_id: Option<u64>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

#[derive(Deserialize)]
struct WireMr {
    sha: Option<String>,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
    // `Some(None)`: the key is there and null (no pipeline); `None`: the key is absent.
    #[serde(default, deserialize_with = "present")]
    head_pipeline: Option<Option<WirePipeline>>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<WirePipeline>>, D::Error> {
    Option::<WirePipeline>::deserialize(d).map(Some)
}

impl GitlabClient {
    /// `GET /projects/:id/merge_requests/:iid`: the head and the pipeline GitLab gates on.
    pub async fn mr_gate(&self, r: &ChangeRef) -> Result<MrGate, ForgeError> {
        let url = self.change_url(r);
        let mr: WireMr = self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the merge request's head pipeline",
            )
            .await?
            .json()?;
        Ok(MrGate {
            sha: mr.sha,
            source_project_id: mr.source_project_id,
            target_project_id: mr.target_project_id,
            head_pipeline: match mr.head_pipeline {
                None => Err(()),
                Some(p) => Ok(p.map(|p| GatePipeline {
                    id: p.id,
                    sha: p.sha.unwrap_or_default(),
                    project_id: p.project_id,
                    git_ref: p.git_ref,
                })),
            },
        })
    }

    /// `GET /projects/:id` of another project: its path and the token's role there. A
    /// project the token may not see is `Ok` with nothing known.
    pub async fn project_access(&self, project_id: u64) -> Result<ProjectAccess, ForgeError> {
        #[derive(Deserialize)]
        struct Access {
            access_level: Option<u64>,
        }
        #[derive(Deserialize)]
        struct Permissions {
            project_access: Option<Access>,
            group_access: Option<Access>,
        }
        #[derive(Deserialize)]
        struct Project {
            path_with_namespace: Option<String>,
            permissions: Option<Permissions>,
        }
        let url = self.project_of(&project_repo(project_id, None));
        let reply = self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the pipeline's project",
            )
            .await;
        let p: Project = match reply {
            Ok(r) => r.json()?,
            Err(ForgeError::NotFound(_) | ForgeError::Refused { .. }) => {
                return Ok(ProjectAccess::default());
            }
            Err(e) => return Err(e),
        };
        let level = p.permissions.and_then(|perm| {
            [perm.project_access, perm.group_access]
                .into_iter()
                .flatten()
                .filter_map(|a| a.access_level)
                .max()
        });
        Ok(ProjectAccess {
            path: p.path_with_namespace,
            access_level: level,
        })
    }
}

impl GitlabClient {
    /// Whether commit `merge` of `repo` merges `head` as GitLab's merge ref does: two parents,
    /// the second `head` (`GET /projects/:id/repository/commits/:sha`, `parent_ids`). A commit
    /// GitLab does not show, or a parent list it does not give, merges nothing.
    pub async fn merges_head(
        &self,
        repo: &Repo,
        merge: &str,
        head: &str,
    ) -> Result<bool, ForgeError> {
        #[derive(Deserialize)]
        struct Commit {
            id: Option<String>,
            #[serde(default)]
            parent_ids: Vec<String>,
        }
        if merge.is_empty() || !merge.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let url = format!(
            "{}/repository/commits/{}",
            self.project_of(repo),
            super::client::enc(merge)
        );
        let Some(reply) = self
            .get_found(&url, "read a pipeline's merge commit")
            .await?
        else {
            return Ok(false);
        };
        let c: Commit = reply.json()?;
        // GitLab's merge ref: the target's tip first, the merge request's head second.
        Ok(c.id.as_deref() == Some(merge)
            && c.parent_ids.len() == 2
            && c.parent_ids.get(1).map(String::as_str) == Some(head))
    }
}

/// A project addressed by its numeric id (its path, when known, only names it).
pub fn project_repo(id: u64, path: Option<&str>) -> Repo {
    Repo {
        path: RepoPath::new(path.unwrap_or_default()),
        id: Some(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_head_pipeline_differs_from_a_null_one() {
        let absent: WireMr = serde_json::from_str(r#"{"sha":"a"}"#).unwrap();
        assert!(absent.head_pipeline.is_none());
        let null: WireMr = serde_json::from_str(r#"{"sha":"a","head_pipeline":null}"#).unwrap();
        assert!(matches!(null.head_pipeline, Some(None)));
        let some: WireMr = serde_json::from_str(
            r#"{"sha":"a","head_pipeline":{"id":5,"sha":"b","project_id":77}}"#,
        )
        .unwrap();
        assert!(matches!(
            some.head_pipeline,
            Some(Some(WirePipeline { id: 5, .. }))
        ));
    }
}
