//! The head commit's verdict beyond one change: changes sharing a head pass only together
//! (the planner keeps the commit failing while another open one fails), and an error status
//! when a job fails for good.

use super::Worker;
use super::enforce::JobContext;
use crate::actions::{PlannedAction, StatusState};
use crate::forge::{ChangeRef, Forge};
use crate::model::{Change, ChangeState};
use crate::policy::{Decision, Verdict};
use crate::store::{Verdict as StoredVerdict, key_of};
use anyhow::Result;

impl Worker {
    /// Remembers the change's own verdict on its head, and returns the other open changes
    /// with that head that fail (the planner then keeps the commit failing).
    pub(super) async fn same_head(
        &self,
        change: &Change,
        sha: &str,
        d: &Decision,
    ) -> Result<Vec<(u64, String)>> {
        let key = key_of(change);
        let pass = d.verdict == Verdict::Pass;
        let verdict = StoredVerdict {
            sha,
            pass,
            open: change.state == ChangeState::Open,
            summary: &d.summary,
            number: change.number,
        };
        self.store.remember_verdict(&key, &verdict).await?;
        if !pass {
            return Ok(vec![]);
        }
        let prefix = crate::model::ChangeKey::kind_prefix(change);
        self.store.failing_on_same_head(&key, &prefix, sha).await
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
        for sha in heads {
            let action = PlannedAction::SetStatus {
                sha: sha.clone(),
                state: StatusState::Error,
                context: self.status_context.clone(),
                description: description.clone(),
            };
            let url = self.details_url(&job.change.change);
            let more = crate::forge::StatusLinks {
                summary: &description,
                target_url: url.as_deref(),
            };
            let call = forge.set_status(
                &r,
                &sha,
                StatusState::Error,
                &self.status_context,
                &description,
                &more,
            );
            if self.write(job, &rules, &action, call).await?.is_some() {
                let key = key_of(change);
                self.store
                    .remember_status(&key, (&sha, StatusState::Error, &description))
                    .await?;
            }
        }
        Ok(())
    }
}
