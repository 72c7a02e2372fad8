//! One change, through one forge: read its current state, evaluate, and write only what
//! differs. The webhook is only a trigger: out-of-order or missed deliveries cannot produce a
//! wrong verdict, because the verdict comes from what the forge says now.

use super::Worker;
use crate::actions::{self, Known, PlannedAction};
use crate::comment;
use crate::forge::{ChangeRef, Forge, ForgeError};
use crate::model::{Action, Change, ChangeEvent, Event, User};
use crate::policy::{self, Decision, Push, Snapshot};
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;
use chrono::TimeZone;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::OnceCell;

/// What the job knows besides the event.
pub struct JobContext<'a> {
    pub event: &'a Event,
    pub change: &'a ChangeEvent,
    /// When the latest push among the events this job covers arrived.
    pub pushed_at: Option<i64>,
    /// When the job's own delivery arrived.
    pub received_at: i64,
    /// Older events of the change folded into this run.
    pub covered: &'a [Event],
    /// Forge writes made so far (reconcile reports changes by it).
    pub writes: AtomicI64,
}

impl Worker {
    pub(super) async fn enforce<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        job: &JobContext<'_>,
        central: std::sync::Arc<Rules>,
    ) -> Result<()> {
        let r = ChangeRef::of(job.change);
        if self.caused_by_bot(forge, bot, job).await? {
            tracing::debug!("the bot's own label or comment change: already accounted for");
            return Ok(());
        }
        let Some(change) = forge.change(&r).await? else {
            tracing::info!("the change no longer exists");
            return Ok(());
        };
        let effective = self
            .rules_for(forge, change.forge, &r.repo, central)
            .await?;
        let rules = &*effective.rules;
        if !policy::is_enforced(rules, &change) {
            tracing::debug!("not subject to change management");
            return Ok(());
        }
        let bot = identity(forge, bot).await?;
        let snap = self.snapshot(forge, &r, change, bot, job, rules).await?;
        let mut decision = policy::evaluate(rules, &snap);
        if let Some(problem) = &effective.problem {
            decision.notes.push(format!(
                "This repository's own rules file is not valid, so only the organization's rules apply:\n```\n{problem}\n```"
            ));
        }
        self.record_decision(job, rules, &snap, &decision, "forge")
            .await?;
        self.apply(forge, &r, &snap, &decision, job, rules).await?;
        if let Some(updated) = &snap.change.updated_at {
            self.store
                .remember_seen(&key_of(&snap.change), updated)
                .await?;
        }
        Ok(())
    }

    /// Reads a change and evaluates it without writing anything (`changegate explain`).
    pub async fn explain<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        r: &ChangeRef,
        rules: &Rules,
    ) -> Result<Option<(Snapshot, Decision)>> {
        let Some(change) = forge.change(r).await? else {
            return Ok(None);
        };
        let bot = identity(forge, bot).await?;
        let key = key_of(&change);
        let seen = Seen {
            moved: self.store.head_changed_at(&key).await?,
            retarget: self.store.target_changed(&key).await?,
        };
        let snap = self
            .read_snapshot(forge, r, change, bot, seen, rules)
            .await?;
        let decision = policy::evaluate(rules, &snap);
        Ok(Some((snap, decision)))
    }

    /// Label and comment events the bot itself caused carry nothing it did not already
    /// decide on; skipping them saves a full evaluation per write. Only when every event
    /// folded into the run is the bot's: one person's event among them must be evaluated.
    async fn caused_by_bot<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        job: &JobContext<'_>,
    ) -> Result<bool> {
        let mut events =
            std::iter::once(Some(job.change)).chain(job.covered.iter().map(Event::change));
        if !events
            .clone()
            .all(|e| e.is_some_and(|e| matches!(e.action, Action::Labeled | Action::Commented)))
        {
            return Ok(false);
        }
        let Some(bot) = identity(forge, bot).await? else {
            return Ok(false);
        };
        Ok(events.all(|e| e.is_some_and(|e| bot.same_as(&e.actor) == Some(true))))
    }

    async fn snapshot<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: Change,
        bot: Option<User>,
        job: &JobContext<'_>,
        rules: &Rules,
    ) -> Result<Snapshot> {
        let key = key_of(&change);
        let moved = self
            .store
            .note_head(&key, change.head_sha.as_deref(), job.pushed_at)
            .await?;
        // A retarget the delivery (or the newest one folded into it) reports, at its arrival.
        let reported = job
            .change
            .previous_target_branch
            .as_deref()
            .or_else(|| {
                job.covered
                    .iter()
                    .rev()
                    .filter_map(Event::change)
                    .find_map(|e| e.previous_target_branch.as_deref())
            })
            .map(|from| (from, job.received_at));
        let retarget = self
            .store
            .note_target(&key, change.target_branch.as_deref(), reported)
            .await?;
        let seen = Seen { moved, retarget };
        self.read_snapshot(forge, r, change, bot, seen, rules).await
    }

    /// The change's state as the forge tells it now (history, approvals, memberships), with
    /// what the change memory saw of head moves and retargets.
    async fn read_snapshot<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: Change,
        bot: Option<User>,
        seen: Seen,
        rules: &Rules,
    ) -> Result<Snapshot> {
        let mut incomplete = vec![];
        let deciding = policy::deciding_labels(rules, &change.labels);
        let history = complete_or(forge.label_events(r, &deciding).await, &mut incomplete)?
            .unwrap_or_default();
        let wants_reviews =
            rules.approvals.iter().any(|a| a.native_approvals) || self.approves(&change);
        let reviews = if wants_reviews {
            complete_or(forge.approvals(r).await, &mut incomplete)?.unwrap_or_default()
        } else {
            vec![]
        };
        // Commit authors matter only when someone approved: read them then.
        let approved = reviews.iter().any(|rv| rv.approved)
            || rules.approvals.iter().any(|a| change.has_label(&a.label));
        let commit_authors = if rules.commit_authors_are_authors && approved {
            complete_or(forge.commit_authors(r).await, &mut incomplete)?.unwrap_or_default()
        } else {
            vec![]
        };
        let retarget = latest_retarget(seen.retarget, history.retargeted_at);
        let moved = seen.moved;
        // The forge's own time for the current head where it has one (GitLab's diff
        // versions), else when the bot saw the head move (the webhook's arrival).
        let resets = rules.approvals.iter().any(|a| a.reset_on_push);
        let forge_pushed = match (&change.head_sha, resets) {
            (Some(sha), true) => forge.head_pushed_at(r, sha).await?,
            _ => None,
        };
        let seen_moved = moved.and_then(|ms| chrono::Utc.timestamp_millis_opt(ms).single());
        let last_push = forge_pushed.or(seen_moved).map(|at| Push {
            sha: change.head_sha.clone(),
            at: Some(at),
        });
        let mut snap = Snapshot {
            change,
            label_events: history.labels,
            reviews,
            last_push,
            retarget,
            memberships: Default::default(),
            bot,
            commit_authors,
            incomplete,
        };
        for (group_name, user) in policy::membership_questions(rules, &snap) {
            let Some(team) = rules
                .group(&group_name)
                .and_then(|g| g.team(snap.change.forge, &snap.change.repo.path))
            else {
                continue;
            };
            let member = match self.memberships.get(&team, &user) {
                Some(m) => m,
                None => {
                    let m = forge.is_member(&team, &user).await?;
                    self.memberships.put(&team, &user, m);
                    m
                }
            };
            snap.memberships.set(&group_name, &user, member);
        }
        Ok(snap)
    }

    /// Brings the forge to the decision: gathers what is known of its current state (the
    /// head's status, changes sharing the head, the comment last written), plans the minimal,
    /// ordered writes ([`actions::plan`], pure) and performs them in that order.
    async fn apply<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
        d: &Decision,
        job: &JobContext<'_>,
        rules: &Rules,
    ) -> Result<()> {
        let known = self.known(forge, r, snap, d, job).await?;
        // A check run's summary carries the checklist (GitHub App mode).
        let summary = comment::sticky(&snap.change, d).replacen(comment::MARKER, "", 1);
        for action in actions::plan(snap, d, &known, &self.status_context) {
            self.perform(forge, r, snap, &action, summary.trim(), job, rules)
                .await?;
        }
        Ok(())
    }

    async fn known<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
        d: &Decision,
        job: &JobContext<'_>,
    ) -> Result<Known> {
        let change = &snap.change;
        let key = key_of(change);
        let mut known = Known {
            approval_mode: self.approves(change),
            ..Known::default()
        };
        if let (true, Some(sha)) = (policy::has_status(change), &change.head_sha) {
            known.failing_same_head = self.same_head(change, sha, d).await?;
            // The forge is asked, not the bot's memory: a status someone else posted must go.
            known.status = forge.current_status(r, sha, &self.status_context).await?;
        }
        // A deleted sticky comment is written again, whatever was remembered.
        let deleted =
            job.change.action == Action::Commented && job.change.forge_action == "deleted";
        if !deleted {
            known.comment_hash = self.store.cached_comment(&key).await?.map(|(_, h)| h);
        }
        Ok(known)
    }

    #[allow(clippy::too_many_arguments)]
    async fn perform<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
        action: &PlannedAction,
        summary: &str,
        job: &JobContext<'_>,
        rules: &Rules,
    ) -> Result<()> {
        match action {
            PlannedAction::SetStatus {
                sha,
                state,
                context,
                description,
            } => {
                let call = forge.set_status(r, sha, *state, context, description, summary);
                self.write(job, rules, action, call).await.map(drop)
            }
            PlannedAction::RemoveLabels { labels } => self
                .write(job, rules, action, forge.remove_labels(r, labels))
                .await
                .map(drop),
            PlannedAction::AddLabels { labels } => self
                .write(job, rules, action, forge.add_labels(r, labels))
                .await
                .map(drop),
            PlannedAction::SetApproval { sha, approve } => self
                .write(job, rules, action, forge.set_approval(r, sha, *approve))
                .await
                .map(drop),
            PlannedAction::UpsertComment { body } => {
                self.upsert_comment(forge, r, snap, body, job, rules).await
            }
        }
    }

    /// Whether the bot approves merge requests of this project (a GitLab approval rule that only
    /// its account satisfies: unlike a commit status, nobody else can fake it).
    fn approves(&self, change: &Change) -> bool {
        change.forge == crate::model::Forge::Gitlab
            && change.kind == crate::model::ChangeKind::MergeRequest
            && self
                .approval_projects
                .iter()
                .any(|p| policy::glob(p, change.repo.path.as_str()))
    }

    /// Creates or edits the sticky comment. Its id and text hash are remembered, so that an
    /// unchanged text costs no call and a changed one a single edit; a comment that is gone
    /// (deleted by someone) is found or created again from the listing.
    async fn upsert_comment<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
        body: &str,
        job: &JobContext<'_>,
        rules: &Rules,
    ) -> Result<()> {
        let key = key_of(&snap.change);
        let hash = comment::hash(body);
        let action = PlannedAction::UpsertComment {
            body: body.to_string(),
        };
        let deleted =
            job.change.action == Action::Commented && job.change.forge_action == "deleted";
        if let Some((id, known)) = self.store.cached_comment(&key).await?.filter(|_| !deleted) {
            if known == hash {
                return Ok(());
            }
            match self
                .write(job, rules, &action, forge.update_comment(r, id, body))
                .await
            {
                Ok(_) => return self.remember_comment(&key, id, &hash).await,
                Err(e)
                    if matches!(
                        e.downcast_ref::<ForgeError>(),
                        Some(ForgeError::NotFound(_))
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let comments = forge.comments(r).await?;
        let bot = snap.bot.as_ref();
        // Only the bot's own comment counts: a person quoting the marker must not be edited.
        let mine = comments.iter().find(|c| {
            comment::is_sticky(&c.body) && bot.is_none_or(|b| b.same_as(&c.author) != Some(false))
        });
        let id = match mine {
            Some(c) if c.body.trim_end() == body.trim_end() => Some(c.id),
            Some(c) => self
                .write(job, rules, &action, forge.update_comment(r, c.id, body))
                .await?
                .map(|()| c.id),
            None => {
                self.write(job, rules, &action, forge.create_comment(r, body))
                    .await?
            }
        };
        match id {
            Some(id) => self.remember_comment(&key, id, &hash).await,
            None => Ok(()),
        }
    }

    async fn remember_comment(&self, key: &str, id: u64, hash: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.store.remember_comment(key, Some((id, hash))).await
    }

    /// Performs one write (or logs it in dry-run mode) and records it in the audit log; what
    /// the call returned, or `None` in dry-run mode.
    pub(super) async fn write<T>(
        &self,
        job: &JobContext<'_>,
        rules: &Rules,
        action: &PlannedAction,
        call: impl std::future::Future<Output = Result<T, ForgeError>>,
    ) -> Result<Option<T>> {
        let what = super::describe(action);
        if self.dry_run {
            tracing::info!(action = %what, "dry run: would call the forge");
            return self
                .record(
                    job,
                    "action",
                    Some(&rules.hash),
                    json!({ "dry_run": true, "planned": action }),
                )
                .await
                .map(|()| None);
        }
        match call.await {
            Ok(value) => {
                job.writes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(action = %what, "done");
                self.record(
                    job,
                    "action",
                    Some(&rules.hash),
                    json!({ "planned": action, "result": "ok" }),
                )
                .await?;
                Ok(Some(value))
            }
            Err(e) => {
                self.record(
                    job,
                    "action_failed",
                    Some(&rules.hash),
                    json!({ "planned": action, "error": e.to_string() }),
                )
                .await?;
                Err(e.into())
            }
        }
    }
}

/// What the change memory saw: when the head last moved, and the last retarget (time and
/// previous branch), in milliseconds since the epoch.
struct Seen {
    moved: Option<i64>,
    retarget: Option<(i64, Option<String>)>,
}

/// A listing read completely, or `None` with what was too long to read noted in
/// `incomplete` (the policy then blocks); other errors stay errors.
fn complete_or<T>(
    read: Result<T, ForgeError>,
    incomplete: &mut Vec<String>,
) -> Result<Option<T>, ForgeError> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(ForgeError::TooLong(what)) => {
            incomplete.push(format!("the {what}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The later of the retarget the bot saw and the one the forge records.
fn latest_retarget(
    seen: Option<(i64, Option<String>)>,
    forge: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<policy::Retarget> {
    let seen =
        seen.and_then(|(ms, from)| Some((chrono::Utc.timestamp_millis_opt(ms).single()?, from)));
    match (seen, forge) {
        (Some((at, from)), Some(f)) if at >= f => Some(policy::Retarget { from, at: Some(at) }),
        (_, Some(f)) => Some(policy::Retarget {
            from: None,
            at: Some(f),
        }),
        (Some((at, from)), None) => Some(policy::Retarget { from, at: Some(at) }),
        (None, None) => None,
    }
}

/// The bot's own account: configured, or asked once. When the forge will not say (a token that
/// may not read its user), the bot works without it rather than not at all.
async fn identity<F: Forge>(forge: &F, cell: &OnceCell<Option<User>>) -> Result<Option<User>> {
    let found = cell
        .get_or_try_init(|| async {
            match forge.current_user().await {
                Ok(u) => Ok(Some(u)),
                Err(e) if e.is_retryable() => Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the bot's own account; set github.bot_login / gitlab.bot_username");
                    Ok(None)
                }
            }
        })
        .await?;
    Ok(found.clone())
}
