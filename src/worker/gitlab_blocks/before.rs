//! Before the writes: the project's merge settings (and the status check on Ultimate) checked,
//! and the head's statuses under changegate's name read back, those someone else wrote noted,
//! said in the comment and recorded.

use super::{GitlabHead, Seen, gitlab_mr, named};
use crate::actions::{PlannedAction, StatusState};
use crate::forge::Forge;
use crate::model::Repo;
use crate::policy::{self, Decision, Snapshot, Verdict};
use crate::store::key_of;
use crate::worker::Worker;
use crate::worker::execute::Target;
use crate::worker::gitlab_settings::count_off;
use anyhow::Result;
use serde::Serialize;

/// How many statuses written by others under changegate's name one evaluation writes over.
const MAX_FORGED: usize = 20;

/// An audit record of something written under changegate's name by someone else.
#[derive(Serialize)]
struct Overwritten<'a> {
    what: &'a str,
    /// The account GitLab names as its writer, when it does.
    written_by: Option<String>,
    state: &'a str,
    head: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    git_ref: Option<&'a str>,
    /// The project and commit it is on, when not the merge request's project and head.
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha: Option<&'a str>,
}

impl Worker {
    /// Before the writes: checks the project's merge settings (and, on Ultimate, changegate's
    /// status check), failing a verdict GitLab would not enforce, and reads the head's
    /// statuses back, noting those someone else wrote.
    pub(in crate::worker) async fn gitlab_before<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        d: &mut Decision,
    ) -> Result<Option<GitlabHead>> {
        let Some((gl, sha)) = gitlab_mr(t, snap) else {
            return Ok(None);
        };
        if d.verdict == Verdict::NotEnforced || !policy::has_status(&snap.change) {
            return Ok(None);
        }
        let repo = &snap.change.repo;
        let target = snap.change.target_branch.as_deref();
        let found = self.gate_of(gl, t.r, repo, sha).await?;
        let (mut facts, check) = self
            .block_facts(gl, repo, target, d.verdict == Verdict::Pass)
            .await?;
        if let Some(m) = &found.missing {
            metrics::counter!(crate::telemetry::GITLAB_SETTINGS_OFF, "block" => m.block)
                .increment(1);
            facts.pipeline_gate = Some(m.reason.clone());
        }
        count_off(&facts);
        policy::forge_blocks(d, &policy::missing_blocks(&facts));
        d.notes.extend(found.note);
        let gate = found.gate;
        let context = crate::actions::context_for(&self.status_context, &snap.change);
        // The head's statuses in the merge request's project, and the gating pipeline's
        // commit's where that is another commit or project (a merge commit, a fork).
        let mut spots = vec![(repo.clone(), sha.to_string())];
        if gate.sha != sha || gate.repo.id != repo.id {
            spots.push((gate.repo.clone(), gate.sha.clone()));
        }
        let mut statuses: Vec<Seen> = vec![];
        for (at, commit) in spots {
            let listed = match gl.statuses_named(&at, &commit, &context).await {
                Ok(listed) => listed,
                Err(e) => {
                    // Unreadable statuses (a transient error, or more under changegate's name
                    // than can be read: anyone can post them) must not keep the gate as it
                    // was: it gets a blocking verdict before the job fails and is retried.
                    self.block_unread(t, gl, snap, d, &gate).await?;
                    return Err(e.into());
                }
            };
            for status in listed {
                statuses.push(Seen {
                    repo: at.clone(),
                    sha: commit.clone(),
                    status,
                });
            }
        }
        let by_bot = |s: &Seen| snap.bot.as_ref().and_then(|b| b.same_as(&s.status.author));
        // Only a status shown written by the bot's own account is its own: one whose author
        // GitLab does not name, or any when the bot does not know its account, is written over.
        let (mine, mut forged): (Vec<Seen>, Vec<Seen>) =
            statuses.into_iter().partition(|s| by_bot(s) == Some(true));
        // Anyone can post statuses by the thousand: a bounded number is written over per
        // evaluation, those in the gating pipeline first (the gate itself is written first
        // whatever else there is); the rest wait for the next evaluations.
        forged.sort_by_key(|s| {
            !(s.repo.id == gate.repo.id
                && s.sha == gate.sha
                && s.status.pipeline_id.is_some()
                && s.status.pipeline_id == gate.pipeline)
        });
        if forged.len() > MAX_FORGED {
            d.notes.push(format!(
                "{} `{context}` statuses on this head were written by others; changegate writes over {MAX_FORGED} of them at each evaluation.",
                forged.len()
            ));
            forged.truncate(MAX_FORGED);
        }
        for seen in &forged {
            let f = &seen.status;
            let who = named(&f.author);
            d.notes.push(if snap.bot.is_some() {
                format!(
                    "A `{context}` status on this head ({}) was written by {who}, not by changegate: changegate wrote its verdict over it.",
                    f.status
                )
            } else {
                format!(
                    "A `{context}` status on this head ({}) was written by {who}; changegate cannot read its own account, so it wrote its verdict over it.",
                    f.status
                )
            });
            self.record_overwrite(t, (repo, sha), seen).await?;
        }
        let key = key_of(&snap.change);
        let mut hooked = None;
        if let Some(p) = t.job.change.pipeline.as_ref()
            && p.sha == sha
            && Some(p.id) != gate.pipeline
            && gate.repo.id == repo.id
            && self
                .store
                .pipeline_status(&key, p.id)
                .await?
                .is_some_and(|(at, state, _)| at == sha && state == "pending")
        {
            hooked = Some(p.id);
        }
        Ok(Some(GitlabHead {
            gate,
            forged,
            mine,
            check,
            hooked,
        }))
    }

    /// Writes into the gate, when the head's statuses cannot be read back, the verdict when it
    /// fails, else `pending`: a pass is never written on statuses changegate has not seen.
    async fn block_unread<F: Forge>(
        &self,
        t: &Target<'_, F>,
        gl: &crate::forge::gitlab::GitlabClient,
        snap: &Snapshot,
        d: &Decision,
        gate: &crate::worker::gitlab_gate::Gate,
    ) -> Result<()> {
        let known = crate::actions::Known::default();
        let Some(PlannedAction::SetStatus {
            sha,
            state,
            context,
            description,
        }) = crate::actions::status(&snap.change, d, &known, &self.status_context)
        else {
            return Ok(());
        };
        let (state, description) = match state {
            StatusState::Success => (
                StatusState::Pending,
                "changegate cannot read its statuses on this head back".to_string(),
            ),
            other => (other, description),
        };
        let action = PlannedAction::SetStatus {
            sha: sha.clone(),
            state,
            context: context.clone(),
            description: description.clone(),
        };
        let at = super::StatusAt {
            repo: &gate.repo,
            sha: &gate.sha,
            pipeline: gate.pipeline,
            git_ref: None,
            target_url: None,
            change: (&snap.change.repo, &sha),
        };
        if self.gitlab_write(t, gl, at, &action, &[]).await?.is_some() {
            self.store
                .remember_status(&key_of(&snap.change), (&sha, state, &description), &context)
                .await?;
        }
        Ok(())
    }

    /// Records a status someone else wrote under changegate's name (the audit record
    /// `gitlab_overwrite` names them, the metric counts it); `change`: the merge request's
    /// project and head.
    pub(super) async fn record_overwrite<F: Forge>(
        &self,
        t: &Target<'_, F>,
        (repo, head): (&Repo, &str),
        seen: &Seen,
    ) -> Result<()> {
        let f = &seen.status;
        metrics::counter!(crate::telemetry::GITLAB_OVERWRITES, "what" => "status").increment(1);
        let record = Overwritten {
            what: "status",
            written_by: f.author.username.clone(),
            state: &f.status,
            head,
            pipeline_id: f.pipeline_id,
            git_ref: f.git_ref.as_deref(),
            project_id: (seen.repo.id != repo.id).then_some(seen.repo.id).flatten(),
            sha: (seen.sha != head).then_some(seen.sha.as_str()),
        };
        self.record(t.job, "gitlab_overwrite", Some(&t.rules.hash), &record)
            .await
    }
}
