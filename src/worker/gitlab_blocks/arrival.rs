//! `pending` the moment a head arrives: on an opened, reopened or pushed merge request's head,
//! and into a Pipeline Hook's own pipeline before anything else.

use super::write::StatusAt;
use crate::actions::{PlannedAction, StatusState};
use crate::forge::Forge;
use crate::model::{Action, ChangeKind, ChangeState};
use crate::policy;
use crate::store::key_of;
use crate::worker::Worker;
use crate::worker::execute::Target;
use crate::worker::gitlab_gate::Gate;
use anyhow::Result;

impl Worker {
    /// Writes `pending` on a merge request's head as soon as the job about its opening or a
    /// push starts (before the long reads): a merge request with no pipeline, or one whose
    /// pipeline already succeeded, could otherwise merge before the verdict is written. It goes
    /// where the verdict will: into the pipeline GitLab gates the merge request on (one read
    /// of the merge request), a merged-results pipeline on its merge commit included.
    pub(in crate::worker) async fn pending_on_arrival<F: Forge>(
        &self,
        t: &Target<'_, F>,
        change: &crate::model::Change,
    ) -> Result<()> {
        self.pending_in_hooked_pipeline(t, change).await?;
        let arrived = std::iter::once(t.job.change)
            .chain(t.job.covered.iter().filter_map(crate::model::Event::change))
            .any(|e| matches!(e.action, Action::Opened | Action::Reopened | Action::Pushed));
        let (Some(gl), Some(sha)) = (t.forge.gitlab(), change.head_sha.as_deref()) else {
            return Ok(());
        };
        if !arrived
            || change.kind != ChangeKind::MergeRequest
            || change.state != ChangeState::Open
            || !policy::has_status(change)
        {
            return Ok(());
        }
        // The head the bot wrote last is left first: its success is taken back, as the
        // evaluation would (the pending written now becomes the change's last status).
        self.withdraw_left(t, change).await?;
        // Only a head the bot has written nothing on yet: a verdict already there stands.
        let key = key_of(change);
        if self
            .store
            .written_status_at(&key)
            .await?
            .is_some_and(|(written, _, _)| written == sha)
        {
            return Ok(());
        }
        // "Pipelines must succeed" reads the gating pipeline, not the newest of the head: a
        // status written into none would go into the head's newest pipeline, which is not it
        // when GitLab gates on merged results. A gate beyond reach (a fork's pipeline) leaves
        // the head in this project, where the evaluation fails the status for it.
        let on_head = Gate {
            repo: change.repo.clone(),
            sha: sha.to_string(),
            pipeline: None,
        };
        let gate = match self.gate_of(gl, t.r, &change.repo, sha).await {
            Ok(found) => found.gate,
            Err(e) => {
                // The merge request could not be read (or shows another head): the head is
                // not left without a blocking status meanwhile; the retry reads it again.
                if let Err(w) = self.pending_at(t, gl, change, &on_head).await {
                    tracing::warn!(error = format!("{w:#}"), "cannot write pending on the head");
                }
                return Err(e);
            }
        };
        self.pending_at(t, gl, change, &gate).await?;
        // A gate on another commit (merged results) may cease to be the one GitLab reads; the
        // head itself holds `pending` too, so no pipeline of it is ever without a block.
        if gate.sha != sha {
            self.pending_at(t, gl, change, &on_head).await?;
        }
        Ok(())
    }

    /// Writes `pending` (`changegate is evaluating this head`) at `gate` and remembers it.
    async fn pending_at<F: Forge>(
        &self,
        t: &Target<'_, F>,
        gl: &crate::forge::gitlab::GitlabClient,
        change: &crate::model::Change,
        gate: &Gate,
    ) -> Result<()> {
        let Some(sha) = change.head_sha.as_deref() else {
            return Ok(());
        };
        let key = key_of(change);
        let context = crate::actions::context_for(&self.status_context, change);
        let description = "changegate is evaluating this head";
        let action = PlannedAction::SetStatus {
            sha: sha.to_string(),
            state: StatusState::Pending,
            context: context.clone(),
            description: description.to_string(),
        };
        let at = StatusAt {
            repo: &gate.repo,
            sha: &gate.sha,
            pipeline: gate.pipeline,
            git_ref: None,
            target_url: None,
            change: (&change.repo, sha),
        };
        if self.gitlab_write(t, gl, at, &action, &[]).await?.is_none() {
            return Ok(());
        }
        self.store
            .remember_status(&key, (sha, StatusState::Pending, description), &context)
            .await?;
        if let Some(pipeline) = gate.pipeline {
            self.store
                .remember_pipeline_status(&key, pipeline, (&gate.sha, "pending", description))
                .await?;
        }
        Ok(())
    }

    /// A `Pipeline Hook` job writes `pending` into the hook's own pipeline first (a pipeline of
    /// the merge request's project on its head), before the long reads: a new pipeline whose
    /// jobs pass could otherwise satisfy "Pipelines must succeed" before the verdict reaches
    /// it. Skipped when the bot's current verdict for the head is already in that pipeline.
    pub(in crate::worker) async fn pending_in_hooked_pipeline<F: Forge>(
        &self,
        t: &Target<'_, F>,
        change: &crate::model::Change,
    ) -> Result<()> {
        let (Some(gl), Some(sha), Some(p)) = (
            t.forge.gitlab(),
            change.head_sha.as_deref(),
            t.job.change.pipeline.as_ref(),
        ) else {
            return Ok(());
        };
        if p.sha != sha
            || change.kind != ChangeKind::MergeRequest
            || change.state != ChangeState::Open
            || !policy::has_status(change)
        {
            return Ok(());
        }
        let key = key_of(change);
        let given = self.store.pipeline_status(&key, p.id).await?;
        let current = self.store.written_status_at(&key).await?;
        if let (Some((given_sha, given_state, _)), Some((written, _, state))) = (&given, &current)
            && given_sha == sha
            && written == sha
            && given_state == crate::forge::gitlab::state_name(*state)
        {
            return Ok(());
        }
        let context = crate::actions::context_for(&self.status_context, change);
        let description = "changegate is evaluating this head";
        let action = PlannedAction::SetStatus {
            sha: sha.to_string(),
            state: StatusState::Pending,
            context: context.clone(),
            description: description.to_string(),
        };
        let at = StatusAt {
            repo: &change.repo,
            sha,
            pipeline: Some(p.id),
            git_ref: None,
            target_url: None,
            change: (&change.repo, sha),
        };
        if self.gitlab_write(t, gl, at, &action, &[]).await?.is_some() {
            self.store
                .remember_pipeline_status(&key, p.id, (sha, "pending", description))
                .await?;
        }
        Ok(())
    }
}
