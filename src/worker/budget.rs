//! A change's share of the forge's quota (`worker.max_units_per_change_hour`): a change whose
//! runs spent it in the last hour waits, with a pending status saying so, until enough of
//! that spending is an hour old; other changes go on. Its jobs are put back, never dropped.

use super::Worker;
use super::enforce::JobContext;
use crate::actions::StatusState;
use crate::forge::ChangeRef;
use crate::store::Job;
use anyhow::Result;

/// The window a change's budget counts over.
const HOUR_MS: i64 = 3_600_000;

/// When a change that spent `spent` (when each run ended and its units, oldest first) may run
/// again under `budget` units an hour, as of `now`: none when it is under budget.
pub(super) fn resume_at(spent: &[(i64, i64)], budget: u64, now: i64) -> Option<i64> {
    let budget = i64::try_from(budget).unwrap_or(i64::MAX);
    let mut total = spent
        .iter()
        .fold(0_i64, |sum, (_, units)| sum.saturating_add(*units));
    if total < budget {
        return None;
    }
    // The spending leaves the window oldest first; the change runs once it is under budget.
    for (ended, units) in spent {
        total = total.saturating_sub(*units);
        if total < budget {
            return Some(ended.saturating_add(HOUR_MS).max(now) + 1);
        }
    }
    Some(now.saturating_add(HOUR_MS))
}

impl Worker {
    /// Puts the job back when its change spent its hour's budget; true when it did.
    pub(super) async fn over_budget(&self, job: &Job) -> Result<bool> {
        let Some(change) = job.event.change() else {
            return Ok(false);
        };
        let key = crate::store::change_key(change);
        let now = self.store.clock().now_ms();
        let spent = self.store.units_spent(&key, now - HOUR_MS).await?;
        let Some(at) = resume_at(&spent, self.max_units_per_change_hour, now) else {
            return Ok(false);
        };
        // Said when the bot's last status for the change is this pending one, on this head and
        // context: a job on another head (a push while waiting) says it again there.
        let here = crate::actions::context_for(&self.status_context, &change.change);
        let already_said = match self.store.written_status_at(&key).await? {
            Some((sha, context, StatusState::Pending)) => {
                change.change.head_sha.as_deref() == Some(sha.as_str())
                    && context.unwrap_or_else(|| self.status_context.clone()) == here
            }
            _ => false,
        };
        // A Pipeline Hook's pipeline (a new pipeline on the head) holds nothing of it yet:
        // "Pipelines must succeed" would read that pipeline alone, so it is said there too.
        let hooked_unsaid = match change.pipeline.as_ref() {
            Some(p) => !matches!(
                self.store.pipeline_status(&key, p.id).await?,
                Some((sha, state, _)) if Some(sha.as_str()) == change.change.head_sha.as_deref()
                    && state == "pending"
            ),
            None => false,
        };
        let already_said = already_said && !hooked_unsaid;
        tracing::warn!(
            spent = spent.iter().map(|(_, u)| u).sum::<i64>(),
            budget = self.max_units_per_change_hour,
            resume_at = at,
            "the change spent its hour's share of the API quota; its job waits"
        );
        if !already_said && let Err(e) = self.say_waiting(job, at).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot write the pending status of a change waiting for quota"
            );
        }
        self.store.defer_for_quota(job.id, at).await?;
        Ok(true)
    }

    /// A pending status on the change's head: it is not evaluated until `at`.
    async fn say_waiting(&self, job: &Job, at: i64) -> Result<()> {
        let audit = super::Deferred::default();
        let Some(ctx) = JobContext::of(job, &audit) else {
            return Ok(());
        };
        // A Pipeline Hook names no merge request head: its pipeline's commit stands for it
        // for the pending written into that pipeline (it blocks, whichever head it is), and
        // nothing else is written or recorded for a head the hook does not know.
        let mut with_head;
        let mut change = &ctx.change.change;
        let head_known = change.head_sha.is_some();
        if !head_known && let Some(p) = ctx.change.pipeline.as_ref() {
            with_head = change.clone();
            with_head.head_sha = Some(p.sha.clone());
            change = &with_head;
        }
        let (Some(connected), Some(sha)) = (self.forges.get(change.forge), &change.head_sha) else {
            return Ok(());
        };
        if !crate::policy::has_status(change) {
            return Ok(());
        }
        let when = chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.format(" until %H:%M UTC").to_string())
            .unwrap_or_default();
        let description = crate::policy::clip(&format!(
            "{}: this change used its hourly share; evaluated again{when}",
            crate::store::WAITING_FOR_QUOTA
        ));
        // The context as the verdict's own (`{target_branch}` filled in).
        let context = crate::actions::context_for(&self.status_context, change);
        let rules = super::current(&self.rules);
        let url = self.details_url(change);
        let r = ChangeRef::of(ctx.change);
        let bot = super::gitlab_blocks::status_writer(connected).await;
        let target = super::execute::Target {
            forge: &connected.client,
            r: &r,
            job: &ctx,
            rules: &rules,
            bot: bot.as_ref(),
        };
        // A new pipeline on the head (the job's Pipeline Hook) gets `pending` first, with no
        // read: its own jobs passing would otherwise satisfy "Pipelines must succeed".
        if let Err(e) = self.pending_in_hooked_pipeline(&target, change).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot write pending into the hooked pipeline"
            );
        }
        if !head_known {
            return self.flush(&ctx).await;
        }
        // A success the bot wrote on a head or context the change has left is taken back
        // first: waiting must not leave an old pass standing for a commit pushed back to.
        let written = match self.withdraw_left(&target, change).await {
            Ok(()) => {
                let status = (sha.as_str(), StatusState::Pending, description.as_str());
                self.write_status(&target, change, status, &context, url.as_deref())
                    .await
            }
            Err(e) => Err(e),
        };
        let flushed = self.flush(&ctx).await;
        written?;
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_waits_until_enough_of_its_spending_is_an_hour_old() {
        let now = 10 * HOUR_MS;
        assert_eq!(resume_at(&[], 100, now), None);
        assert_eq!(resume_at(&[(now - 10, 99)], 100, now), None);
        // 60 + 50 = 110 of 100: under budget once the 60 are an hour old.
        let spent = [(now - 1000, 60), (now - 10, 50)];
        assert_eq!(resume_at(&spent, 100, now), Some(now - 1000 + HOUR_MS + 1));
        // One run over budget on its own: it waits until that run is an hour old.
        assert_eq!(
            resume_at(&[(now - 5, 500)], 100, now),
            Some(now - 5 + HOUR_MS + 1)
        );
    }
}
