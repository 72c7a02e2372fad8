//! The head commit's verdict beyond one change: changes sharing a head pass only together
//! (the planner keeps the commit failing while another open one fails), and an error status
//! when a job fails for good.

use super::Worker;
use super::enforce::JobContext;
use crate::actions::{self, PlannedAction, StatusState};
use crate::forge::{ChangeRef, Forge};
use crate::model::{Change, ChangeState};
use crate::policy::{self, Decision, Verdict};
use crate::store::{Verdict as StoredVerdict, key_of};
use anyhow::Result;

impl Worker {
    /// Remembers the change's own verdict on its head, and when it passes, says which other
    /// open changes with that head and status context keep the commit failing: those
    /// remembered failing, and those the forge lists that changegate has not judged on this
    /// commit (a change opened on a passing head, not evaluated yet, must not merge on it).
    pub(super) async fn same_head<F: Forge>(
        &self,
        forge: &F,
        change: &Change,
        sha: &str,
        d: &Decision,
    ) -> Result<(Vec<(u64, String)>, Vec<u64>)> {
        let key = key_of(change);
        let pass = d.verdict == Verdict::Pass;
        let context = actions::context_for(&self.status_context, change);
        let verdict = StoredVerdict {
            sha,
            pass,
            open: change.state == ChangeState::Open,
            summary: &d.summary,
            number: change.number,
            context: &context,
        };
        self.store.remember_verdict(&key, &verdict).await?;
        if !pass {
            return Ok((vec![], vec![]));
        }
        let prefix = crate::model::ChangeKey::kind_prefix(change);
        let failing = self
            .store
            .failing_on_same_head(&key, &prefix, (sha, &context))
            .await?;
        let mut unseen = vec![];
        for number in self
            .sharing(forge, change, sha, &context)
            .await?
            .into_iter()
            .filter(|n| failing.iter().all(|(f, _)| f != n))
        {
            let other = format!("{prefix}{number}");
            if !self.passes_on(&other, sha, &context).await? {
                unseen.push(number);
            }
        }
        Ok((failing, unseen))
    }

    /// The other open changes the forge lists with head `sha` whose status context is `context`.
    async fn sharing<F: Forge>(
        &self,
        forge: &F,
        change: &Change,
        sha: &str,
        context: &str,
    ) -> Result<Vec<u64>> {
        Ok(forge
            .open_changes_with_head(&change.repo, sha)
            .await?
            .into_iter()
            .filter(|(n, target)| {
                *n != change.number
                    && actions::context_for_target(&self.status_context, target.as_deref())
                        == context
            })
            .map(|(n, _)| n)
            .collect())
    }

    /// Whether the change keyed `key` was last judged passing on `sha` under `context`.
    async fn passes_on(&self, key: &str, sha: &str, context: &str) -> Result<bool> {
        Ok(self.store.remembered_verdict(key).await?.is_some_and(|v| {
            v.pass && v.open && v.sha == sha && v.context.as_deref() == Some(context)
        }))
    }

    /// A change that moved off the commit (or, with a per-target context, off the target) where
    /// the bot last wrote it a success takes that success back, so that neither a change
    /// force-pushed back to that commit nor another change opened on it inherits the pass. It
    /// stands only when another open change the forge lists there, same context, was itself
    /// judged passing on it.
    pub(super) async fn withdraw_left<F: Forge>(
        &self,
        t: &super::execute::Target<'_, F>,
        change: &Change,
    ) -> Result<()> {
        let (Some(head), key) = (change.head_sha.as_deref(), key_of(change)) else {
            return Ok(());
        };
        let Some((sha, context, StatusState::Success)) = self.store.written_status_at(&key).await?
        else {
            return Ok(());
        };
        let context = context.unwrap_or_else(|| self.status_context.clone());
        let here = actions::context_for(&self.status_context, change);
        if sha == head && context == here {
            return Ok(());
        }
        for other in self.sharing(t.forge, change, &sha, &context).await? {
            let other_key = format!("{}{other}", crate::model::ChangeKey::kind_prefix(change));
            if self.passes_on(&other_key, &sha, &context).await? {
                // Its success is its own: it stands. The record moves on with the status this
                // evaluation writes on the change's head.
                return Ok(());
            }
        }
        let description = policy::clip(&format!(
            "#{} no longer has this head commit{}: no verdict stands for it",
            change.number,
            if sha == head { " for this target" } else { "" }
        ));
        let status = (sha.as_str(), StatusState::Failure, description.as_str());
        self.write_status(t, change, status, &context, None).await
    }

    /// After a job failed for good: the head says the bot could not verify the change, so a
    /// success written earlier does not stand for a verdict nobody reached.
    pub(super) async fn report_unverifiable<F: Forge>(
        &self,
        forge: &F,
        job: &JobContext<'_>,
        error: &str,
        bot: Option<&crate::model::User>,
    ) -> Result<()> {
        let change = &job.change.change;
        if !crate::policy::has_status(change) {
            return Ok(());
        }
        // The delivery's head and the one last evaluated: either may be the newer, so both.
        let mut heads: Vec<String> = change.head_sha.iter().cloned().collect();
        if let Some(seen) = self.store.remembered_head(&key_of(change)).await?
            && !heads.contains(&seen)
        {
            heads.push(seen);
        }
        let description =
            crate::policy::clip(&format!("changegate could not verify this change: {error}"));
        let r = ChangeRef::of(job.change);
        let rules = super::current(&self.rules);
        let context = actions::context_for(&self.status_context, change);
        let url = self.details_url(&job.change.change);
        let t = super::execute::Target {
            forge,
            r: &r,
            job,
            rules: &rules,
            bot,
        };
        for sha in &heads {
            let status = (sha.as_str(), StatusState::Error, description.as_str());
            self.write_status(&t, change, status, &context, url.as_deref())
                .await?;
        }
        self.fail_status_check(&t, change, &heads).await
    }

    /// Writes a status the bot decided outside a plan (a head left, a job that failed for
    /// good, a change waiting for quota) and remembers it as the change's last.
    pub(super) async fn write_status<F: Forge>(
        &self,
        t: &super::execute::Target<'_, F>,
        change: &Change,
        (sha, state, description): (&str, StatusState, &str),
        context: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        let action = PlannedAction::SetStatus {
            sha: sha.to_string(),
            state,
            context: context.to_string(),
            description: description.to_string(),
        };
        let written = match t.forge.gitlab() {
            // GitLab: the one status write, which takes a status GitLab will not move for the
            // bot's only when the bot wrote it (and records one someone else wrote).
            Some(gl) => {
                // A blocking state goes into the pipeline GitLab gates on too: written into no
                // pipeline, GitLab puts it where it chooses (a branch anyone can make at the
                // head), and a success of the bot's in the gate would stand.
                if state != StatusState::Success {
                    self.block_in_gate(t, gl, change, sha, &action, target_url)
                        .await?;
                }
                let at = super::gitlab_blocks::StatusAt {
                    repo: &t.r.repo,
                    sha,
                    pipeline: None,
                    git_ref: None,
                    target_url,
                    change: (&t.r.repo, change.head_sha.as_deref().unwrap_or(sha)),
                };
                self.gitlab_write(t, gl, at, &action, &[]).await?
            }
            None => {
                let more = crate::forge::StatusLinks {
                    summary: description,
                    target_url,
                };
                let call = t
                    .forge
                    .set_status(t.r, sha, state, context, description, &more);
                self.write_linked(t.job, t.rules, &action, target_url, call)
                    .await?
            }
        };
        if written.is_some() {
            self.store
                .remember_status(&key_of(change), (sha, state, description), context)
                .await?;
        }
        Ok(())
    }

    /// Writes a blocking `action` into the gating pipeline of merge request `t.r` when GitLab
    /// shows `sha` as its head and names a pipeline within reach; when the gate cannot be read,
    /// into the pipelines on `sha` the record says the bot gave a success.
    async fn block_in_gate<F: Forge>(
        &self,
        t: &super::execute::Target<'_, F>,
        gl: &crate::forge::gitlab::GitlabClient,
        change: &Change,
        sha: &str,
        action: &PlannedAction,
        target_url: Option<&str>,
    ) -> Result<()> {
        // Any head the caller writes on may be the current one (a delivery's head can be older
        // than the one remembered): GitLab's answer says, as the gate is read for `sha` only.
        if change.kind != crate::model::ChangeKind::MergeRequest {
            return Ok(());
        }
        let gate = match self.gate_of(gl, t.r, &change.repo, sha).await {
            Ok(found) if found.missing.is_none() => found.gate,
            Ok(_) => return Ok(()),
            Err(e) => {
                // The gate cannot be read (or GitLab shows another head): the pipelines the
                // bot gave a success are taken back from the record, with no read.
                tracing::warn!(error = format!("{e:#}"), "cannot read the gating pipeline");
                return self
                    .block_given(t, gl, change, sha, action, target_url)
                    .await;
            }
        };
        let Some(pipeline) = gate.pipeline else {
            return Ok(());
        };
        self.write_in_pipeline(
            t,
            gl,
            (change, sha),
            (&gate.repo, &gate.sha, pipeline),
            action,
            target_url,
        )
        .await
    }

    /// Writes `action` for head `head` into `pipeline` (of `repo`, on `commit`) and records what
    /// it holds.
    async fn write_in_pipeline<F: Forge>(
        &self,
        t: &super::execute::Target<'_, F>,
        gl: &crate::forge::gitlab::GitlabClient,
        (change, head): (&Change, &str),
        (repo, commit, pipeline): (&crate::model::Repo, &str, u64),
        action: &PlannedAction,
        target_url: Option<&str>,
    ) -> Result<()> {
        let PlannedAction::SetStatus {
            state, description, ..
        } = action
        else {
            return Ok(());
        };
        let at = super::gitlab_blocks::StatusAt {
            repo,
            sha: commit,
            pipeline: Some(pipeline),
            git_ref: None,
            target_url,
            change: (&t.r.repo, head),
        };
        if self.gitlab_write(t, gl, at, action, &[]).await?.is_some() {
            let name = crate::forge::gitlab::state_name(*state);
            self.store
                .remember_pipeline_status(&key_of(change), pipeline, (commit, name, description))
                .await?;
        }
        Ok(())
    }

    /// Writes blocking `action` into every pipeline on commit `sha` the bot last gave a success
    /// for `change` (only that commit's: another head's pipelines hold their own verdicts).
    async fn block_given<F: Forge>(
        &self,
        t: &super::execute::Target<'_, F>,
        gl: &crate::forge::gitlab::GitlabClient,
        change: &Change,
        sha: &str,
        action: &PlannedAction,
        target_url: Option<&str>,
    ) -> Result<()> {
        let given = self
            .store
            .pipelines_given(&key_of(change), "success")
            .await?;
        for (pipeline, commit) in given.into_iter().filter(|(_, c)| c == sha) {
            self.write_in_pipeline(
                t,
                gl,
                (change, sha),
                (&change.repo, &commit, pipeline),
                action,
                target_url,
            )
            .await?;
        }
        Ok(())
    }
}
