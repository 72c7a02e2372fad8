//! Ultimate: changegate's external status check (`gitlab.status_checks`). GitLab lets any
//! Developer of the project answer a status check, so the check is kept true like the
//! commit status: at every evaluation the merge request's checks are read back, and
//! changegate's own (found by its URL, `GitlabBlocks::check_url`) is answered with the verdict
//! for the head whenever GitLab shows anything else, or a `passed` changegate did not give.
//! A 409 (the head moved) reads the merge request again and answers `failed` for the new
//! head until it is evaluated, which is queued at once.

use super::Worker;
use super::execute::Target;
use super::gitlab_blocks::{GitlabHead, gitlab_mr};
use crate::actions::PlannedAction;
use crate::forge::{Forge, ForgeError};
use crate::model::{Action, ChangeEvent, Event, EventPayload};
use crate::policy::{Decision, Snapshot, Verdict};
use crate::store::key_of;
use anyhow::Result;
use serde::Serialize;

/// An audit record of a `passed` someone else gave changegate's check.
#[derive(Serialize)]
struct ForgedAnswer<'a> {
    what: &'a str,
    head: &'a str,
    check_id: u64,
    shown: &'a str,
    /// GitLab's API does not say who answered a status check.
    written_by: Option<String>,
}

impl Worker {
    /// Answers changegate's status check for the head with the verdict when GitLab does not
    /// already show the bot's own answer of it.
    pub(super) async fn keep_status_check<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        d: &Decision,
        head: Option<&GitlabHead>,
    ) -> Result<()> {
        let (Some((gl, sha)), Some(check)) =
            (gitlab_mr(t, snap), head.and_then(|h| h.check.as_ref()))
        else {
            return Ok(());
        };
        let passed = d.verdict == Verdict::Pass;
        let key = key_of(&snap.change);
        let shown = gl
            .mr_status_checks(t.r)
            .await?
            .into_iter()
            .find(|c| c.id == check.id)
            .map(|c| c.status);
        let given = self.store.status_check_answer(&key, sha, check.id).await?;
        let forged = shown.as_deref() == Some("passed") && given.as_deref() != Some("passed");
        if forged {
            metrics::counter!(crate::telemetry::GITLAB_OVERWRITES, "what" => "status_check")
                .increment(1);
            let record = ForgedAnswer {
                what: "status_check",
                head: sha,
                check_id: check.id,
                shown: "passed",
                written_by: None,
            };
            self.record(t.job, "gitlab_overwrite", Some(&t.rules.hash), &record)
                .await?;
        }
        let want = if passed { "passed" } else { "failed" };
        // GitLab shows the check for the head it has now: after a push since this head was
        // read, what it shows may be anyone's answer for the new head. Only for the head
        // evaluated does the bot's own answer stand; otherwise it answers, and the 409 moves
        // the check to the new head (`head_moved`).
        if !forged
            && shown.as_deref() == Some(want)
            && given.as_deref() == Some(want)
            && gl.mr_gate(t.r).await?.sha.as_deref() == Some(sha)
        {
            return Ok(());
        }
        let action = PlannedAction::AnswerStatusCheck {
            sha: sha.to_string(),
            check_id: check.id,
            passed,
        };
        self.answer_status_check(t, snap, &action).await
    }

    /// Answers the status check; on a 409 (the head moved since it was read) answers `failed`
    /// for the new head and queues its evaluation.
    pub(super) async fn answer_status_check<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        action: &PlannedAction,
    ) -> Result<()> {
        let (
            Some(gl),
            PlannedAction::AnswerStatusCheck {
                sha,
                check_id,
                passed,
            },
        ) = (t.forge.gitlab(), action)
        else {
            return Ok(());
        };
        let key = key_of(&snap.change);
        let call = gl.answer_status_check(t.r, sha, *check_id, *passed);
        match self.write(t.job, t.rules, action, call).await {
            Ok(Some(())) => {
                let status = if *passed { "passed" } else { "failed" };
                self.store
                    .remember_status_check_answer(&key, sha, *check_id, status)
                    .await
            }
            Ok(None) => Ok(()),
            Err(e) if is_conflict(&e) => self.head_moved(t, snap, *check_id).await,
            Err(e) => Err(e),
        }
    }

    /// The head moved between the read and the answer: the new head gets `failed` (no verdict
    /// was reached on it) and an evaluation of its own.
    async fn head_moved<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        check_id: u64,
    ) -> Result<()> {
        let Some(now) = t.forge.change(t.r).await? else {
            return Ok(());
        };
        let (Some(gl), Some(new_head)) = (t.forge.gitlab(), now.head_sha.clone()) else {
            return Ok(());
        };
        if snap.change.head_sha.as_deref() == Some(new_head.as_str()) {
            anyhow::bail!("GitLab answered 409 for the head it lists: retrying");
        }
        tracing::info!(head = %new_head, "the head moved while answering the status check");
        let action = PlannedAction::AnswerStatusCheck {
            sha: new_head.clone(),
            check_id,
            passed: false,
        };
        let call = gl.answer_status_check(t.r, &new_head, check_id, false);
        match self.write(t.job, t.rules, &action, call).await {
            Ok(Some(())) => {
                self.store
                    .remember_status_check_answer(&key_of(&now), &new_head, check_id, "failed")
                    .await?;
            }
            Ok(None) => {}
            // Moved again: the evaluation queued below answers for whatever it is then.
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(e),
        }
        let event = Event {
            forge: now.forge,
            delivery_id: Some(format!("head-moved:{}:{new_head}", key_of(&now))),
            event_name: "status check".into(),
            payload: EventPayload::Change(Box::new(ChangeEvent {
                pipeline: None,
                action: Action::Other,
                forge_action: "head moved".into(),
                actor: crate::model::User::default(),
                labels_added: vec![],
                labels_removed: vec![],
                review: None,
                previous_head_sha: None,
                previous_target_branch: None,
                comment: None,
                change: now,
            })),
        };
        self.store.enqueue(&event).await?;
        Ok(())
    }
}

impl Worker {
    /// A job that failed for good answers changegate's status check `failed` for the heads
    /// it may have answered `passed` on: no verdict was reached. A 409 (not the head any
    /// more) needs no answer.
    pub(super) async fn fail_status_check<F: Forge>(
        &self,
        t: &Target<'_, F>,
        change: &crate::model::Change,
        heads: &[String],
    ) -> Result<()> {
        let Some(gl) = t
            .forge
            .gitlab()
            .filter(|_| self.gitlab_blocks.status_checks)
        else {
            return Ok(());
        };
        if change.kind != crate::model::ChangeKind::MergeRequest {
            return Ok(());
        }
        let Some(check) = self.own_check(gl, &change.repo).await? else {
            return Ok(());
        };
        let key = key_of(change);
        for sha in heads {
            let action = PlannedAction::AnswerStatusCheck {
                sha: sha.clone(),
                check_id: check.id,
                passed: false,
            };
            let call = gl.answer_status_check(t.r, sha, check.id, false);
            match self.write(t.job, t.rules, &action, call).await {
                Ok(Some(())) => {
                    self.store
                        .remember_status_check_answer(&key, sha, check.id, "failed")
                        .await?
                }
                Ok(None) => {}
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn is_conflict(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<ForgeError>(),
        Some(ForgeError::Refused { status: 409, .. })
    )
}
