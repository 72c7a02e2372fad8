//! The pipeline GitLab gates a merge request on, which is where changegate's status must be for
//! "Pipelines must succeed" to read it. GitLab names it (`head_pipeline` of the merge request):
//! usually a pipeline on the head in the target project; a merged-results or merge-train
//! pipeline on a merge commit (the status goes on that commit, with its `pipeline_id`); or, for
//! a merge request from a fork, a pipeline in the fork. A fork's pipeline is never taken as a
//! block, whatever the bot's role there: the block is missing and the verdict fails, saying so.

use super::Worker;
use crate::forge::ChangeRef;
use crate::forge::gitlab::{GatePipeline, GitlabClient};
use crate::model::Repo;
use anyhow::{Result, bail};

/// Where changegate's status goes so that the pipeline GitLab gates on holds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Gate {
    /// The project running the pipeline: the target project, or a fork.
    pub repo: Repo,
    /// The pipeline's commit: the head, or a merge commit (merged results, merge trains).
    pub sha: String,
    /// `None` when GitLab lists no pipeline for the head: the status creates one.
    pub pipeline: Option<u64>,
}

/// What GitLab says of a merge request's gating pipeline: where the status goes, and the
/// block that is missing when changegate cannot put it there.
pub(super) struct GateFound {
    pub gate: Gate,
    pub missing: Option<Missing>,
    /// Said on the decision when the gate is not a pipeline on the head in the target project.
    pub note: Option<String>,
}

/// Why the gating pipeline is beyond changegate's reach.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Missing {
    /// The metric's `block` label.
    pub block: &'static str,
    pub reason: String,
}

impl Worker {
    /// The pipeline GitLab gates merge request `r` (head `head`, in `repo`) on.
    pub(super) async fn gate_of(
        &self,
        gl: &GitlabClient,
        r: &ChangeRef,
        repo: &Repo,
        head: &str,
    ) -> Result<GateFound> {
        let mr = gl.mr_gate(r).await?;
        if mr.sha.as_deref() != Some(head) {
            // A push since the head was read: this evaluation's verdict is for an old head,
            // and its pipeline is not the one to write into. The retry reads the new head.
            bail!("GitLab shows another head for the merge request than the one evaluated");
        }
        let target = repo.id.or(mr.target_project_id);
        // GitLab's `head_pipeline`, or the newest listed pipeline, may be an older head's: one
        // on another commit counts only when its merge commit merges the head (below).
        let listed = mr.head_pipeline.is_err();
        let pipeline = match mr.head_pipeline {
            Ok(p) => p,
            // An instance that does not name the head pipeline: the merge request's newest
            // pipeline, as its pipeline list gives it (newest first). One not on the head must
            // be a merged-results or merge-train pipeline, checked below like `head_pipeline`.
            Err(()) => gl
                .mr_pipelines(r)
                .await?
                .into_iter()
                .next()
                .map(|p| GatePipeline {
                    id: p.id,
                    sha: p.sha,
                    project_id: p.project_id,
                    git_ref: p.git_ref,
                }),
        };
        let here = |sha: &str, pipeline: Option<u64>| Gate {
            repo: repo.clone(),
            sha: sha.to_string(),
            pipeline,
        };
        let Some(p) = pipeline else {
            return Ok(GateFound {
                gate: here(head, None),
                missing: None,
                note: None,
            });
        };
        let project = match (p.project_id, target) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(_)) => Some(a),
            _ => {
                return Ok(GateFound {
                    gate: here(head, None),
                    missing: Some(Missing {
                        block: "pipeline_project",
                        reason: format!(
                            "block missing: GitLab did not say which project the merge request's pipeline {} runs in, so changegate cannot tell whether its status is in it",
                            p.id
                        ),
                    }),
                    note: None,
                });
            }
        };
        let Some(project) = project else {
            // A pipeline on another commit than the head is taken only as GitLab's merged
            // results or merge train for this merge request, by its ref; anything else (a
            // pipeline of an older head, a branch's) does not hold the verdict for this head.
            if p.sha != head && !merge_ref_of(p.git_ref.as_deref(), r.number) {
                return Ok(GateFound {
                    gate: here(head, None),
                    missing: Some(Missing {
                        block: "pipeline_ref",
                        reason: format!(
                            "block missing: GitLab gates the merge request on pipeline {} on {}, which is neither its head nor a merged-results or merge-train pipeline of it (ref {}), so changegate cannot tell that its status there is for this head",
                            p.id,
                            crate::markdown::code(&p.sha),
                            crate::markdown::code(p.git_ref.as_deref().unwrap_or("not given"))
                        ),
                    }),
                    note: None,
                });
            }
            // A merged-results or merge-train pipeline of an older head runs on the same ref:
            // it counts only when its merge commit merges this head. GitLab's `head_pipeline`
            // too can still name the previous head's pipeline after a push, until one for the
            // new head exists; a train of rebased commits never shows the head as a parent.
            // Either way changegate cannot put the verdict where GitLab reads it: the block is
            // missing (fail closed) until GitLab names a pipeline for this head.
            if p.sha != head && !gl.merges_head(repo, &p.sha, head).await? {
                if !listed {
                    return Ok(GateFound {
                        gate: here(head, None),
                        missing: Some(Missing {
                            block: "pipeline_ref",
                            reason: format!(
                                "block missing: GitLab gates the merge request on pipeline {} on {}, which GitLab does not show merging its head {} (a pipeline of an earlier head, or a merge train of rebased commits), so changegate cannot tell that its status there is for this head",
                                p.id,
                                crate::markdown::code(&p.sha),
                                crate::markdown::code(head)
                            ),
                        }),
                        note: None,
                    });
                }
                return Ok(GateFound {
                    gate: here(head, None),
                    missing: Some(Missing {
                        block: "pipeline_ref",
                        reason: format!(
                            "block missing: the newest pipeline GitLab lists for the merge request ({}) runs on {}, which GitLab does not show merging its head {}, so changegate cannot tell that its status there is for this head",
                            p.id,
                            crate::markdown::code(&p.sha),
                            crate::markdown::code(head)
                        ),
                    }),
                    note: None,
                });
            }
            let note = (p.sha != head).then(|| {
                format!(
                    "GitLab gates this merge request on pipeline {} on the merge commit {} (merged results or a merge train): changegate writes its status there.",
                    p.id,
                    crate::markdown::code(&p.sha)
                )
            });
            return Ok(GateFound {
                gate: here(&p.sha, Some(p.id)),
                missing: None,
                note,
            });
        };
        // A pipeline in another project (the fork) is beyond changegate's reach whatever the
        // bot's role there: its owner may write `success` under changegate's name in it, or run
        // a newer pipeline there, and GitLab sends that project's Pipeline Hooks only to its own
        // webhooks, so changegate would never hear. The block is missing; the verdict fails.
        let access = gl.project_access(project).await?;
        let path = access
            .path
            .clone()
            .unwrap_or_else(|| format!("with id {project}"));
        let fork = if mr.source_project_id == Some(project) {
            "the fork"
        } else {
            "another project"
        };
        Ok(GateFound {
            gate: here(head, None),
            missing: Some(Missing {
                block: "fork_pipeline",
                reason: format!(
                    "block missing: the pipeline GitLab gates on ({}) runs in {fork} {path}, whose maintainers can write statuses and run pipelines there that changegate never hears of, so \"Pipelines must succeed\" cannot hold its verdict (use approval rules on Premium or status checks on Ultimate)",
                    p.id
                ),
            }),
            note: None,
        })
    }
}

/// Whether `git_ref` is merge request `iid`'s merged-results or merge-train ref.
fn merge_ref_of(git_ref: Option<&str>, iid: u64) -> bool {
    git_ref.is_some_and(|g| {
        g == format!("refs/merge-requests/{iid}/merge")
            || g == format!("refs/merge-requests/{iid}/train")
    })
}

#[cfg(test)]
mod tests {
    use super::merge_ref_of;

    #[test]
    fn only_the_merge_requests_own_merge_and_train_refs_count() {
        for (r, ok) in [
            (Some("refs/merge-requests/3/merge"), true),
            (Some("refs/merge-requests/3/train"), true),
            (Some("refs/merge-requests/3/head"), false),
            (Some("refs/merge-requests/33/merge"), false),
            (Some("refs/merge-requests/4/merge"), false),
            (Some("feature"), false),
            (None, false),
        ] {
            assert_eq!(merge_ref_of(r, 3), ok, "{r:?}");
        }
    }
}
