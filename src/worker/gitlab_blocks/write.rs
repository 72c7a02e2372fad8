//! The writes: whether the status stands as the bot wrote it, and writing it into the pipeline
//! GitLab gates on, the hook's pipeline and over each status someone else wrote.

use super::{GitlabHead, Seen};
use crate::actions::{PlannedAction, StatusState};
use crate::forge::Forge;
use crate::forge::gitlab::GitlabClient;
use crate::model::Repo;
use crate::policy::Snapshot;
use crate::store::key_of;
use crate::worker::Worker;
use crate::worker::execute::Target;
use anyhow::Result;

impl Worker {
    /// Whether the status `(state, description)` stands on GitLab as the bot wrote it: no
    /// one else's under its name, the bot's own there (by its author, never by its text,
    /// which anyone can copy), and the gating pipeline given it. With no pipeline known
    /// nothing stands: the status is written again, which gives the head a pipeline.
    pub(in crate::worker) async fn gitlab_status_stands(
        &self,
        key: &str,
        head: &GitlabHead,
        (_, state, description): (&str, StatusState, &str),
    ) -> Result<bool> {
        let Some(pipeline) = head.gate.pipeline else {
            return Ok(false);
        };
        if !head.forged.is_empty() || head.hooked.is_some() {
            return Ok(false);
        }
        let name = crate::forge::gitlab::state_name(state);
        let at_gate = |s: &&Seen| {
            s.repo.id == head.gate.repo.id
                && s.sha == head.gate.sha
                && s.status.status == name
                && s.status.description == description
        };
        let shown = head.mine.iter().any(|s| at_gate(&s));
        // GitLab 17 names each status's pipeline; older ones do not, and the bot's record of
        // what it wrote into which pipeline says it.
        let listed = head
            .mine
            .iter()
            .filter(at_gate)
            .any(|s| s.status.pipeline_id == Some(pipeline));
        let given = listed
            || self.store.pipeline_status(key, pipeline).await?
                == Some((
                    head.gate.sha.clone(),
                    name.to_string(),
                    description.to_string(),
                ));
        Ok(shown && given)
    }

    /// Writes a status into the newest pipeline, and over each status someone else wrote
    /// under changegate's name (into its own pipeline, or its ref when GitLab does not say
    /// which pipeline holds it); each pipeline given the verdict is remembered.
    pub(in crate::worker) async fn gitlab_set_status<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        head: &GitlabHead,
        action: &PlannedAction,
        target_url: Option<&str>,
    ) -> Result<()> {
        let (
            Some(gl),
            PlannedAction::SetStatus {
                sha,
                state,
                context,
                description,
            },
        ) = (t.forge.gitlab(), action)
        else {
            return Ok(());
        };
        let key = key_of(&snap.change);
        let gate = &head.gate;
        let change = (&snap.change.repo, sha.as_str());
        let at = |repo, sha, pipeline, git_ref| StatusAt {
            repo,
            sha,
            pipeline,
            git_ref,
            target_url,
            change,
        };
        let at_gate = at(&gate.repo, &gate.sha, gate.pipeline, None);
        if self
            .gitlab_write(t, gl, at_gate, action, &head.forged)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let name = crate::forge::gitlab::state_name(*state);
        self.store
            .remember_status(&key, (sha, *state, description), context)
            .await?;
        // Only a pipeline GitLab named is remembered: a status written into none went into
        // whichever pipeline GitLab made or chose, which the next read names.
        if let Some(pipeline) = gate.pipeline {
            self.store
                .remember_pipeline_status(&key, pipeline, (&gate.sha, name, description))
                .await?;
        }
        if let Some(hooked) = head.hooked {
            let in_hooked = at(&snap.change.repo, sha, Some(hooked), None);
            if self
                .gitlab_write(t, gl, in_hooked, action, &head.forged)
                .await?
                .is_some()
            {
                self.store
                    .remember_pipeline_status(&key, hooked, (sha, name, description))
                    .await?;
            }
        }
        for seen in &head.forged {
            let f = &seen.status;
            if f.pipeline_id.is_some() && f.pipeline_id == gate.pipeline {
                continue;
            }
            let git_ref = f
                .pipeline_id
                .is_none()
                .then_some(f.git_ref.as_deref())
                .flatten();
            let over = at(&seen.repo, &seen.sha, f.pipeline_id, git_ref);
            self.gitlab_write(t, gl, over, action, &head.forged).await?;
        }
        Ok(())
    }

    /// Writes the status `action` sets through GitLab's one status write, as the bot
    /// (`t.bot`), at `at`. A status someone else wrote there that GitLab would not move, and
    /// that was written over, is recorded unless it is among those `recorded` already.
    /// `Some(())` when written (`None`: a dry run).
    pub(in crate::worker) async fn gitlab_write<F: Forge>(
        &self,
        t: &Target<'_, F>,
        gl: &GitlabClient,
        at: StatusAt<'_>,
        action: &PlannedAction,
        recorded: &[Seen],
    ) -> Result<Option<()>> {
        let PlannedAction::SetStatus {
            state,
            context,
            description,
            ..
        } = action
        else {
            return Ok(None);
        };
        let status = (at.sha, *state, context.as_str(), description.as_str());
        let call = gl.set_status_in(
            at.repo,
            status,
            at.target_url,
            at.pipeline,
            at.git_ref,
            t.bot,
        );
        let Some(over) = self
            .write_linked(t.job, t.rules, action, at.target_url, call)
            .await?
        else {
            return Ok(None);
        };
        if let Some(status) = over
            && !recorded.iter().any(|s| s.status == status)
        {
            tracing::warn!(
                written_by = status.author.username.as_deref().unwrap_or("unnamed"),
                state = %status.status,
                "a status under changegate's name that GitLab would not move was someone else's: written over"
            );
            let seen = Seen {
                repo: at.repo.clone(),
                sha: at.sha.to_string(),
                status,
            };
            self.record_overwrite(t, at.change, &seen).await?;
        }
        Ok(Some(()))
    }
}

/// Where a status goes on GitLab, and the merge request it is for.
#[derive(Clone, Copy)]
pub(in crate::worker) struct StatusAt<'a> {
    /// The project and commit it goes on: the gating pipeline's, a forged status's, the head.
    pub repo: &'a Repo,
    pub sha: &'a str,
    /// Into this pipeline, or on this ref; neither: where GitLab puts it.
    pub pipeline: Option<u64>,
    pub git_ref: Option<&'a str>,
    pub target_url: Option<&'a str>,
    /// The change's project and head, for the record of a status written over.
    pub change: (&'a Repo, &'a str),
}
