//! The verdict on the head commit: one status per commit, so changes sharing a head pass only
//! together; written whenever the forge shows something else (a status anyone with write
//! access posted, or one gone stale); and an error status when a job fails for good.

use super::Worker;
use super::enforce::JobContext;
use crate::actions::{PlannedAction, StatusState};
use crate::forge::{ChangeRef, Forge};
use crate::model::{Change, ChangeState};
use crate::policy::MAX_SUMMARY_CHARS;
use crate::rules::Rules;
use crate::store::{Verdict, key_of};
use anyhow::Result;

impl Worker {
    /// The status to write for `change`, given its own planned status: its verdict is
    /// remembered, and a pass turns into a failure while another open change with the same
    /// head commit fails (branch protection reads the commit's status, not the change's).
    pub(super) async fn combined_status(
        &self,
        change: &Change,
        planned: PlannedAction,
    ) -> Result<PlannedAction> {
        let PlannedAction::SetStatus {
            sha,
            state,
            context,
            description,
        } = planned
        else {
            return Ok(planned);
        };
        let key = key_of(change);
        let verdict = Verdict {
            sha: &sha,
            pass: state == StatusState::Success,
            open: change.state == ChangeState::Open,
            summary: &description,
            number: change.number,
        };
        self.store.remember_verdict(&key, &verdict).await?;
        let mut out = PlannedAction::SetStatus {
            sha: sha.clone(),
            state,
            context: context.clone(),
            description,
        };
        if state != StatusState::Success {
            return Ok(out);
        }
        let prefix = format!(
            "{}:{}:{}:",
            change.forge,
            change.repo.path.as_str().to_lowercase(),
            change.kind.as_str()
        );
        let others = self.store.failing_on_same_head(&key, &prefix, &sha).await?;
        if let Some((number, summary)) = others.first() {
            out = PlannedAction::SetStatus {
                sha,
                state: StatusState::Failure,
                context,
                description: clip(&format!(
                    "#{number} has the same head commit and fails: {summary}"
                )),
            };
        }
        Ok(out)
    }

    /// Writes the status unless the head already carries exactly it. The forge is asked,
    /// not the bot's memory: a status posted by someone else must be overwritten.
    pub(super) async fn write_status<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        job: &JobContext<'_>,
        rules: &Rules,
        action: &PlannedAction,
        summary: &str,
    ) -> Result<()> {
        let PlannedAction::SetStatus {
            sha,
            state,
            context,
            description,
        } = action
        else {
            return Ok(());
        };
        let current = forge.current_status(r, sha, context).await?;
        if current.as_ref() == Some(&(*state, description.clone())) {
            return Ok(());
        }
        self.write(
            job,
            rules,
            action,
            forge.set_status(r, sha, *state, context, description, summary),
        )
        .await
        .map(drop)
    }

    /// After a job failed for good: the head says the bot could not verify the change, so a
    /// success written earlier does not stand for a verdict nobody reached.
    pub(super) async fn report_unverifiable<F: Forge>(
        &self,
        forge: &F,
        job: &JobContext<'_>,
        error: &str,
    ) -> Result<()> {
        let change = &job.change.change;
        let Some(sha) = self
            .store
            .remembered_head(&key_of(change))
            .await?
            .or(change.head_sha.clone())
        else {
            return Ok(());
        };
        if !crate::policy::has_status(change) {
            return Ok(());
        }
        let description = clip(&format!("changegate could not verify this change: {error}"));
        let action = PlannedAction::SetStatus {
            sha: sha.clone(),
            state: StatusState::Error,
            context: self.status_context.clone(),
            description: description.clone(),
        };
        let r = ChangeRef::of(job.change);
        let rules = super::current(&self.rules);
        let call = forge.set_status(
            &r,
            &sha,
            StatusState::Error,
            &self.status_context,
            &description,
            &description,
        );
        self.write(job, &rules, &action, call).await.map(drop)
    }
}

/// Status descriptions are at most 140 characters on GitHub.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    format!("{cut}…")
}
