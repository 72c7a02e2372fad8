//! One change, through one forge: read its current state, evaluate, and write only what
//! differs. The webhook is only a trigger: out-of-order or missed deliveries cannot produce a
//! wrong verdict, because the verdict comes from what the forge says now.

use super::Worker;
use super::execute::Target;
use crate::forge::{ChangeRef, Forge, ForgeError};
use crate::model::{Action, Change, ChangeEvent, ChangeKind, Event, User};
use crate::policy::{self, Decision, Snapshot};
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;
use chrono::TimeZone;
use std::sync::atomic::AtomicI64;
use tokio::sync::OnceCell;

/// What the job knows besides the event.
pub struct JobContext<'a> {
    pub event: &'a Event,
    pub change: &'a ChangeEvent,
    /// When the latest push among the events this job covers arrived.
    pub pushed_at: Option<i64>,
    /// When the job's own delivery arrived.
    pub received_at: i64,
    /// The heads the job's events report arriving, with when each delivery arrived.
    pub arrivals: &'a [(String, i64)],
    /// Older events of the change folded into this run.
    pub covered: &'a [Event],
    /// Forge writes made so far (reconcile reports changes by it).
    pub writes: AtomicI64,
    /// Audit records made and not written yet.
    pub audit: &'a super::Deferred,
}

impl<'a> JobContext<'a> {
    /// The context of a job about a change; `None` for any other job.
    pub fn of(job: &'a crate::store::Job, audit: &'a super::Deferred) -> Option<Self> {
        Some(JobContext {
            event: &job.event,
            change: job.event.change()?,
            pushed_at: job.pushed_at,
            received_at: job.received_at,
            arrivals: &job.arrivals,
            covered: &job.covered,
            writes: AtomicI64::new(0),
            audit,
        })
    }
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
        for (head, at) in job.arrivals {
            self.store.note_arrival(&key_of(&change), head, *at).await?;
        }
        if change.kind == crate::model::ChangeKind::Issue {
            self.evaluate_linking(job, &change).await?;
        }
        // The repository as the forge's API names it, never as the payload does: a signed body
        // may pair one project's id with another's path.
        let effective = self
            .rules_for(forge, change.forge, &change.repo, central)
            .await?;
        let rules = &*effective.rules;
        if !policy::is_enforced(rules, &change) {
            tracing::debug!("not subject to change management");
            return Ok(());
        }
        let bot = identity(forge, bot).await?;
        let target = Target {
            forge,
            r: &r,
            job,
            rules,
            bot: bot.as_ref(),
        };
        self.pending_on_arrival(&target, &change).await?;
        let (mut snap, label_notes) = self.snapshot(&target, change, bot.clone()).await?;
        let mut decision = self.decide_with_commands(&target, &mut snap).await?;
        decision.notes.extend(label_notes);
        if let Some(problem) = &effective.problem {
            decision.notes.push(format!(
                "This repository's own rules file is not valid, so only the organization's rules apply:\n{}",
                crate::markdown::code_block(problem)
            ));
        }
        for login in snap.memberships.unresolved() {
            decision.notes.push(format!(
                "The rules list {} as an approver, but no {} account had that username when changegate resolved it: it approves nothing. Name an existing account, or its numeric id (`github_ids`, `gitlab_ids`).",
                crate::markdown::code(login),
                snap.change.forge.display_name()
            ));
        }
        let gitlab = self.gitlab_before(&target, &snap, &mut decision).await?;
        self.record_decision(job, rules, &snap, &decision, "forge")
            .await?;
        self.fix_debt(job, &snap, &decision).await?;
        // Before the status is written: the verdict remembered is still the one while open.
        self.note_merge_verdict(&snap.change).await?;
        self.apply(&target, &snap, &decision, gitlab.as_ref())
            .await?;
        self.keep_status_check(&target, &snap, &decision, gitlab.as_ref())
            .await?;
        self.list_on_issue(&target, &snap).await?;
        self.follow_up(job, &snap, &decision).await?;
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
        let arrival = match change.head_sha.as_deref() {
            Some(head) => self.store.head_arrival(&key, head).await?,
            None => None,
        };
        let seen = Seen {
            bot,
            moved: self.store.head_changed_at(&key).await?,
            retarget: self.store.target_changed(&key).await?,
            arrival,
            commands: rules.commands.is_some()
                && !self.store.comment_approvals(&key).await?.is_empty(),
        };
        let (mut snap, label_notes) = self.read_snapshot(forge, r, change, seen, rules).await?;
        // Approvals given by comment, as recorded (explain writes nothing: no command is
        // taken), before the diff facts that judge them under `changed_diff`.
        if rules.commands.is_some() {
            snap.comment_approvals = self.store.comment_approvals(&key).await?;
            self.fill_memberships(forge, rules, &mut snap).await?;
        }
        snap.diffs = self.diff_facts(forge, r, &snap, rules, None).await?;
        let mut decision = policy::evaluate(rules, &snap);
        decision.notes.extend(label_notes);
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
        t: &Target<'_, F>,
        change: Change,
        bot: Option<User>,
    ) -> Result<(Snapshot, Vec<String>)> {
        let (forge, r, job, rules) = (t.forge, t.r, t.job, t.rules);
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
        let arrival = match change.head_sha.as_deref() {
            Some(head) => Some(self.store.note_seen(&key, head).await?),
            None => None,
        };
        // Approvals by comment are placed after the head's push like labels: when commands
        // are on and a comment (or a reconcile, which reads them) is in the run, or some
        // approval by comment stands.
        let commented = job
            .covered
            .iter()
            .chain(std::iter::once(job.event))
            .any(|e| {
                e.event_name == "reconcile" || e.change().is_some_and(|c| c.comment.is_some())
            });
        let seen = Seen {
            bot,
            moved,
            retarget,
            arrival,
            commands: rules.commands.is_some()
                && (commented || !self.store.comment_approvals(&key).await?.is_empty()),
        };
        let (mut snap, notes) = self.read_snapshot(forge, r, change, seen, rules).await?;
        // The diff facts judge approvals by comment too: they are loaded first.
        if rules.commands.is_some() {
            snap.comment_approvals = self.store.comment_approvals(&key).await?;
        }
        snap.diffs = self.diff_facts(forge, r, &snap, rules, Some(job)).await?;
        Ok((snap, notes))
    }

    /// The change's state as the forge tells it now (history, approvals, memberships), with
    /// what the change memory saw of head moves and retargets; and why approvals given through
    /// labels not known by their name do not count (notes for the comment).
    async fn read_snapshot<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: Change,
        seen: Seen,
        rules: &Rules,
    ) -> Result<(Snapshot, Vec<String>)> {
        let mut incomplete = vec![];
        let deciding = policy::deciding_labels(rules, &change.labels);
        let mut history = complete_or(forge.label_events(r, &deciding).await, &mut incomplete)?
            .unwrap_or_default();
        let mut label_notes = self
            .vet_label_ids(forge, &change, rules, &mut history)
            .await?;
        // Commit authors matter only when someone approved: read them then.
        let by_label = rules.approvals.iter().any(|a| change.has_label(&a.label));
        let authors_matter = rules.commit_authors_are_authors;
        // Commit authors may not approve: read them whenever an approval may be judged (a
        // label, a comment command, or a change issue whose approvals this change uses).
        let may_judge = by_label
            || seen.commands
            || (rules.change_issue.is_some() && change.kind == ChangeKind::MergeRequest);
        let commit_authors = if authors_matter && may_judge {
            complete_or(
                self.commit_authors(forge, r, &change).await,
                &mut incomplete,
            )?
            .unwrap_or_default()
        } else {
            vec![]
        };
        let last_push = self.arrival(forge, r, &change, rules, &seen).await?;
        let retarget = latest_retarget(seen.retarget, history.retargeted_at);
        // What a merged change owes was fixed at its first evaluation after merge.
        let debt = self.debt_facts(&change, rules, history.gaps).await?;
        let changed_files = self.changed_files(forge, r, &change, rules).await?;
        let mut snap = Snapshot {
            change,
            label_events: history.labels,
            reviews: vec![],
            last_push,
            retarget,
            memberships: Default::default(),
            bot: seen.bot,
            commit_authors,
            incomplete,
            now: self.store.clock().now(),
            changed_files,
            linked_issue: None,
            gated_authors: vec![],
            comment_approvals: vec![],
            debt,
            diffs: Default::default(),
        };
        self.resolve_logins(forge, rules, &mut snap).await?;
        self.fill_memberships(forge, rules, &mut snap).await?;
        snap.linked_issue = self
            .linked_issue(forge, &snap, rules, &mut label_notes)
            .await?;
        // Reviews only when a role the change requires takes them (judged without them: the
        // decision is then the same as with them), or the bot approves in their place.
        if self.approves(&snap.change) || policy::reads_reviews(rules, &snap) {
            snap.reviews =
                complete_or(forge.approvals(r).await, &mut snap.incomplete)?.unwrap_or_default();
            if authors_matter && !by_label && snap.reviews.iter().any(|rv| rv.approved) {
                snap.commit_authors = complete_or(
                    self.commit_authors(forge, r, &snap.change).await,
                    &mut snap.incomplete,
                )?
                .unwrap_or_default();
            }
            self.fill_memberships(forge, rules, &mut snap).await?;
        }
        Ok((snap, label_notes))
    }

    /// Asks the forge (or the cache) whether the people the evaluator will ask about are in
    /// their approver groups.
    pub(super) async fn fill_memberships<F: Forge>(
        &self,
        forge: &F,
        rules: &Rules,
        snap: &mut Snapshot,
    ) -> Result<()> {
        let questions = policy::membership_questions(rules, snap);
        self.answer(forge, rules, snap, questions).await
    }

    /// Answers "is this user in this group?" for each question, from the cache or the forge.
    pub(super) async fn answer<F: Forge>(
        &self,
        forge: &F,
        rules: &Rules,
        snap: &mut Snapshot,
        questions: Vec<(String, User)>,
    ) -> Result<()> {
        // Those the cache cannot answer are asked of the forge together (one GraphQL query).
        let mut ask: Vec<(String, crate::model::TeamRef, User)> = vec![];
        for (group_name, user) in questions {
            if snap.memberships.get(&group_name, &user).is_some() {
                continue;
            }
            let Some(team) = rules
                .group(&group_name)
                .and_then(|g| g.team(snap.change.forge, &snap.change.repo.path))
            else {
                continue;
            };
            match self.memberships.get(&team, &user) {
                Some(m) => snap.memberships.set(&group_name, &user, m),
                None => ask.push((group_name, team, user)),
            }
        }
        if ask.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(crate::model::TeamRef, User)> =
            ask.iter().map(|(_, t, u)| (t.clone(), u.clone())).collect();
        let answers = forge.are_members(&pairs).await?;
        if answers.len() != ask.len() {
            anyhow::bail!(
                "the forge answered {} of {} membership questions",
                answers.len(),
                ask.len()
            );
        }
        for ((group_name, team, user), member) in ask.into_iter().zip(answers) {
            self.memberships.put(&team, &user, member);
            snap.memberships.set(&group_name, &user, member);
        }
        Ok(())
    }

    /// Whether the bot approves merge requests of this project (a GitLab approval rule that only
    /// its account satisfies: unlike a commit status, nobody else can fake it).
    pub(super) fn approves(&self, change: &Change) -> bool {
        change.forge == crate::model::Forge::Gitlab
            && change.kind == crate::model::ChangeKind::MergeRequest
            && self
                .approval_projects
                .iter()
                .any(|p| policy::glob(p, change.repo.path.as_str()))
    }
}

/// Who the bot is, and what the change memory saw: when the head last moved, and the last
/// retarget (time and previous branch), in milliseconds since the epoch.
pub(super) struct Seen {
    /// The bot's own account.
    bot: Option<User>,
    pub(super) moved: Option<i64>,
    retarget: Option<(i64, Option<String>)>,
    /// What the bot recorded about the current head's arrival.
    pub(super) arrival: Option<crate::store::Arrival>,
    /// Whether approvals by comment may be judged (their head's push must be placed).
    pub(super) commands: bool,
}

/// A listing read completely, or `None` with what was too long to read noted in
/// `incomplete` (the policy then blocks); other errors stay errors.
pub(super) fn complete_or<T>(
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
pub(super) async fn identity<F: Forge>(
    forge: &F,
    cell: &OnceCell<Option<User>>,
) -> Result<Option<User>> {
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
