//! The writes: whether the status stands as the bot wrote it, and writing it into the pipeline
//! GitLab gates on, the hook's pipeline and over each status someone else wrote.

use super::{GitlabHead, Seen};
use crate::actions::{PlannedAction, StatusState};
use crate::forge::Forge;
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
        let at_gate = (
            gate.sha.as_str(),
            *state,
            context.as_str(),
            description.as_str(),
        );
        let call = gl.set_status_in(
            &gate.repo,
            at_gate,
            target_url,
            gate.pipeline,
            None,
            snap.bot.as_ref(),
        );
        if self.write(t.job, t.rules, action, call).await?.is_none() {
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
            let status = (sha.as_str(), *state, context.as_str(), description.as_str());
            let call = gl.set_status_in(
                &snap.change.repo,
                status,
                target_url,
                Some(hooked),
                None,
                snap.bot.as_ref(),
            );
            if self.write(t.job, t.rules, action, call).await?.is_some() {
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
            let status = (
                seen.sha.as_str(),
                *state,
                context.as_str(),
                description.as_str(),
            );
            let call = gl.set_status_in(
                &seen.repo,
                status,
                target_url,
                f.pipeline_id,
                git_ref,
                snap.bot.as_ref(),
            );
            self.write(t.job, t.rules, action, call).await?;
        }
        Ok(())
    }
}
