//! Claims stored jobs one change at a time, evaluates the rules against the change's current
//! state, and writes the minimal diff (or, in dry-run mode, logs it). Every decision and action
//! goes to the audit log.

mod budget;
mod command_judge;
mod command_notes;
mod commands;
mod deferred;
mod diffs;
pub use diffs::GivenApproval;
pub mod deploy;
mod enforce;
mod execute;
mod gitlab_blocks;
mod gitlab_gate;
mod gitlab_settings;
mod guard;
mod heads;
mod issue_note;
mod label_ids;
mod linked;
mod memberships;
mod offline;
mod read_back;
mod received;
mod reload;
mod repo_rules;
mod status;
mod status_checks;
mod timers;

pub use deferred::Deferred;
pub use gitlab_blocks::GitlabBlocks;
pub use guard::Panicked;
#[doc(hidden)]
pub use guard::panic_on_delivery_for_tests;
pub use heads::HeadCaches;
pub use memberships::MembershipCache;
pub use received::ReceivedCache;
pub use repo_rules::RepoRulesCache;

use crate::actions::PlannedAction;
use crate::forge::github::GithubClient;
use crate::forge::gitlab::GitlabClient;
use crate::forge::{ForgeClient, ForgeError};
use crate::model::{Forge as ForgeKind, User};
use crate::policy::{self, Snapshot};
use crate::rules::{Rules, SharedRules};
use crate::store::{Job, Store, Wake};
use anyhow::Result;
use enforce::JobContext;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{OnceCell, watch};
use tracing::Instrument;

/// How long a claimed job stays reserved to its worker by default; past it another worker
/// may take it.
pub const LEASE: Duration = Duration::from_secs(60);

/// How often the blocked periods' next boundaries are scheduled again (after a reload).
const BOUNDARY_CHECK: Duration = Duration::from_secs(300);

/// How often an idle worker looks for work it was not woken for (retries coming due).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// A forge the bot can call: its client, and the bot's own account there (read once).
pub struct Connected {
    pub client: ForgeClient,
    pub bot: OnceCell<Option<User>>,
}

impl Connected {
    fn new(client: ForgeClient) -> Self {
        Connected {
            client,
            bot: OnceCell::new(),
        }
    }
}

/// The forges configured (a forge without a token has none).
#[derive(Default)]
pub struct ForgeClients {
    github: Option<Connected>,
    gitlab: Option<Connected>,
}

impl ForgeClients {
    pub fn new(github: Option<GithubClient>, gitlab: Option<GitlabClient>) -> Self {
        ForgeClients {
            github: github.map(|c| Connected::new(ForgeClient::Github(c))),
            gitlab: gitlab.map(|c| Connected::new(ForgeClient::Gitlab(c))),
        }
    }

    /// The connection to `forge`, when a token is configured for it.
    pub fn get(&self, forge: ForgeKind) -> Option<&Connected> {
        match forge {
            ForgeKind::Github => self.github.as_ref(),
            ForgeKind::Gitlab => self.gitlab.as_ref(),
        }
    }

    /// Keeps the GitHub client's answers to conditional reads in `store` as well as in memory.
    pub fn with_reply_store(mut self, store: Arc<dyn crate::forge::ReplyStore>) -> Self {
        if let Some(c) = &mut self.github
            && let ForgeClient::Github(gh) = &c.client
        {
            c.client = ForgeClient::Github(gh.clone().with_reply_store(store));
        }
        self
    }

    /// Names the bot's accounts instead of asking the forges (`GET /user`).
    pub fn with_bots(mut self, github: Option<&str>, gitlab: Option<&str>) -> Self {
        for (connected, name) in [(&mut self.github, github), (&mut self.gitlab, gitlab)] {
            if let (Some(c), Some(name)) = (connected, name) {
                c.bot = OnceCell::new_with(Some(Some(User::named(name))));
            }
        }
        self
    }
}

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub rules: SharedRules,
    pub forges: Arc<ForgeClients>,
    pub dry_run: bool,
    pub status_context: String,
    pub max_attempts: u32,
    pub memberships: MembershipCache,
    pub lease: Duration,
    /// GitLab projects (path patterns, `*` wildcard) where the bot also approves a passing
    /// merge request and withdraws its approval from a failing one.
    pub approval_projects: Vec<String>,
    /// Repositories' own rules files, merged with the central rules.
    pub repo_rules: RepoRulesCache,
    /// The files each merge request head touches.
    pub heads: HeadCaches,
    /// Signs the details-page links statuses carry (none without `server.public_url`).
    pub links: Option<Arc<crate::pages::links::Links>>,
    /// Below this share (percent) of a forge's rate limit, its reconcile work waits.
    pub quota_reserve_percent: u8,
    /// Repositories configured for reconcile (`forge:path`): a blocked period's boundary lists
    /// their open changes too.
    pub repositories: Vec<String>,
    /// Quota units one change's runs may spend in an hour before its jobs wait.
    pub max_units_per_change_hour: u64,
    /// GitLab's blocks: merge settings, statuses per pipeline, external status checks.
    pub gitlab_blocks: GitlabBlocks,
    /// Dry run without the forge: each change's received history, folded as it arrives.
    pub received: ReceivedCache,
}

impl Worker {
    /// The signed link to a change's details page, when pages are served.
    fn details_url(&self, change: &crate::model::Change) -> Option<String> {
        self.links
            .as_ref()
            .map(|l| l.details_url(change, self.store.clock().now()))
    }
}

impl Worker {
    /// Runs `concurrency` loops until `shutdown` turns true.
    pub async fn run(self, concurrency: usize, wake: Arc<Wake>, shutdown: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        // Blocked periods' next boundaries: now, and again now and then (the rules may change).
        let (w, mut stop) = (self.clone(), shutdown.clone());
        tasks.spawn(async move {
            while !*stop.borrow() {
                if let Err(e) = w.schedule_boundaries().await {
                    tracing::error!(error = format!("{e:#}"), "cannot schedule blocked periods");
                }
                tokio::select! {
                    _ = tokio::time::sleep(BOUNDARY_CHECK) => {}
                    _ = stop.changed() => {}
                }
            }
        });
        for _ in 0..concurrency {
            let (w, wake, mut stop) = (self.clone(), wake.clone(), shutdown.clone());
            let alive = wake.loop_started();
            tasks.spawn(async move {
                let _alive = alive;
                while !*stop.borrow() {
                    match w.run_next(Some(&wake)).await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => tracing::error!(
                            error = format!("{e:#}"),
                            "worker cannot reach the store"
                        ),
                    }
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stop.changed() => {}
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Claims and processes one job; false when there was none.
    pub async fn run_one(&self) -> Result<bool> {
        self.run_next(None).await
    }

    /// [`Self::run_one`]; having claimed a job, wakes another idle loop (`wake`) to look for
    /// more: the delivery writer wakes one loop per batch, which passes it on while work is
    /// found. While the job runs its change is marked running, so that deliveries for it wake
    /// nobody: this loop claims again when done.
    async fn run_next(&self, wake: Option<&Wake>) -> Result<bool> {
        let paused = crate::forge::quota::paused(self.quota_reserve_percent);
        let Some(job) = self.store.claim_except(self.lease, &paused).await? else {
            return Ok(false);
        };
        if let Some(w) = wake {
            w.notify_one();
        }
        let key = job.event.change().map(crate::store::change_key);
        let _running = wake.zip(key).map(|(w, key)| w.running(key));
        let span = job_span(&job);
        if self.over_budget(&job).instrument(span.clone()).await? {
            return Ok(true);
        }
        self.handle(job).instrument(span).await?;
        Ok(true)
    }

    /// Processes jobs until none is runnable (tests use this to drain the queue).
    pub async fn drain(&self) -> Result<usize> {
        let mut n = 0;
        while self.run_one().await? {
            n += 1;
        }
        Ok(n)
    }

    async fn handle(&self, job: Job) -> Result<()> {
        // Renew the lease while the job runs, so that retries and slow forges never let
        // another worker take the same job. Both stop together if this worker dies.
        let heartbeat = async {
            loop {
                tokio::time::sleep(self.lease / 3).await;
                if let Err(e) = self.store.extend_lease(job.id, self.lease).await {
                    tracing::warn!(error = format!("{e:#}"), "cannot renew the job's lease");
                }
            }
        };
        let started = std::time::Instant::now();
        let audit = Deferred::default();
        let (result, spent) = tokio::select! {
            r = crate::forge::quota::counting_both(guard::catch_panic(self.process(&job, &audit))) => r,
            _ = heartbeat => unreachable!("the heartbeat never ends"),
        };
        let result = result.unwrap_or_else(|panicked| Err(panicked.into()));
        let seconds = started.elapsed().as_secs_f64();
        let e = match result {
            Ok(writes) => {
                metrics::histogram!(crate::telemetry::JOB_SECONDS, "outcome" => "done")
                    .record(seconds);
                let units = spent.units;
                tracing::info!(
                    quota_units = units,
                    graphql_points = spent.points,
                    writes,
                    "job done"
                );
                let records = audit.take();
                self.store
                    .complete_with_audit(job.id, writes, units as i64, &deferred::views(&records))
                    .await?;
                if spent.points > 0 {
                    let points = i64::try_from(spent.points).unwrap_or(i64::MAX);
                    self.store.note_points(job.id, points).await?;
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let forge_error = e.downcast_ref::<ForgeError>();
        // A panic would only panic again: the job fails for good at once.
        let retryable =
            forge_error.is_none_or(ForgeError::is_retryable) && !e.is::<guard::Panicked>();
        // An exhausted rate limit is waited out, however long: the job is not at fault.
        let rate_limited = matches!(forge_error, Some(ForgeError::RateLimited { .. }));
        let tries_left = rate_limited || job.attempts < i64::from(self.max_attempts);
        let retry = (retryable && tries_left).then(|| {
            let wait = match forge_error {
                Some(ForgeError::RateLimited { retry_after }) => {
                    i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX)
                }
                _ => backoff_ms(job.attempts),
            };
            // The forge says how long to wait: saturate rather than overflow.
            self.store.clock().now_ms().saturating_add(wait)
        });
        let outcome = if retry.is_some() { "retry" } else { "failed" };
        metrics::histogram!(crate::telemetry::JOB_SECONDS, "outcome" => outcome).record(seconds);
        if retry.is_some() {
            tracing::warn!(
                error = format!("{e:#}"),
                attempts = job.attempts,
                "job failed; will retry"
            );
        } else {
            tracing::error!(
                error = format!("{e:#}"),
                attempts = job.attempts,
                "job failed; left for `changegate retry`"
            );
            if let Err(report) = self.unverifiable(&job, &e.to_string()).await {
                tracing::error!(
                    error = format!("{report:#}"),
                    "cannot mark the change as unverified on the forge"
                );
            }
        }
        let records = audit.take();
        self.store
            .fail_with_audit(job.id, &format!("{e:#}"), retry, &deferred::views(&records))
            .await
    }

    /// Marks the change of a job that failed for good as not verified (an error status).
    async fn unverifiable(&self, job: &Job, error: &str) -> Result<()> {
        let audit = Deferred::default();
        let Some(ctx) = JobContext::of(job, &audit) else {
            return Ok(());
        };
        let reported = match self.forges.get(ctx.change.change.forge) {
            Some(c) => {
                let bot = gitlab_blocks::status_writer(c).await;
                self.report_unverifiable(&c.client, &ctx, error, bot.as_ref())
                    .await
            }
            None => Ok(()),
        };
        self.flush(&ctx).await?;
        reported
    }

    /// Processes one job; the number of forge writes it made.
    async fn process(&self, job: &Job, audit: &Deferred) -> Result<i64> {
        guard::provoked(job.event.delivery_id.as_deref());
        if let crate::model::EventPayload::PeriodBoundary { period, at } = &job.event.payload {
            self.period_boundary(job.event.forge, period, *at).await?;
            return Ok(0);
        }
        if job.event.change().is_some_and(|c| {
            c.forge_action == crate::model::PIPELINE_ACTION && c.change.number == 0
        }) {
            self.pipeline_fan_out(job).await?;
            return Ok(0);
        }
        if let crate::model::EventPayload::Deployment(d) = &job.event.payload {
            return self.deployment_event(&job.event, d).await;
        }
        let Some(ctx) = JobContext::of(job, audit) else {
            return Ok(0);
        };
        let rules = current(&self.rules);
        let outcome = match self.forges.get(ctx.change.change.forge) {
            Some(c) => self.enforce(&c.client, &c.bot, &ctx, rules.clone()).await,
            None => self.offline(&ctx, &rules).await,
        };
        // An approval (or exception label) on a change may decide a waiting deployment.
        if outcome.is_ok() && !rules.deployments.is_empty() {
            let c = &ctx.change.change;
            self.wake_deploy_waits(c.forge, c.repo.path.as_str())
                .await?;
        }
        outcome.map(|()| ctx.writes.load(Ordering::Relaxed))
    }

    /// The decision with what it was made on: the change's state and labels at the time, and
    /// whether they were read from the forge or only from the payload.
    async fn record_decision(
        &self,
        job: &JobContext<'_>,
        rules: &Rules,
        snap: &Snapshot,
        d: &policy::Decision,
        source: &str,
    ) -> Result<()> {
        let verdict = match d.verdict {
            policy::Verdict::Pass => "pass",
            policy::Verdict::Fail => "fail",
            policy::Verdict::NotEnforced => "not_enforced",
        };
        metrics::counter!(crate::telemetry::DECISIONS, "verdict" => verdict).increment(1);
        let mut detail = crate::evidence::DecisionEvidence::of(snap, d, source);
        detail.trigger = Some(crate::evidence::Trigger::of(job.event, job.change));
        self.record(job, "decision", Some(&rules.hash), &detail)
            .await
    }

    /// Makes a typed record ([`crate::evidence`]) for the change's repository's audit chain:
    /// written with the job's end, or with the next [`Self::flush`].
    async fn record(
        &self,
        job: &JobContext<'_>,
        kind: &str,
        hash: Option<&str>,
        detail: &impl serde::Serialize,
    ) -> Result<()> {
        let detail = serde_json::to_value(detail)?;
        let c = &job.change.change;
        job.audit.push(deferred::Pending {
            forge: c.forge.as_str(),
            repo: c.repo.path.as_str().to_string(),
            number: c.number,
            delivery_id: job.event.delivery_id.clone(),
            kind: kind.to_string(),
            rules_hash: hash.map(str::to_string),
            detail,
        });
        Ok(())
    }

    /// Writes the job's records made so far (before and after each forge write).
    async fn flush(&self, job: &JobContext<'_>) -> Result<()> {
        let records = job.audit.take();
        self.store.audit_all(&deferred::views(&records)).await
    }
}

fn current(rules: &SharedRules) -> Arc<Rules> {
    match rules.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn job_span(job: &Job) -> tracing::Span {
    let c = job.event.change();
    tracing::info_span!(
        "job",
        id = job.id,
        forge = %job.event.forge,
        repo = c.map(|c| c.change.repo.path.as_str()).unwrap_or(""),
        number = c.map(|c| c.change.number).unwrap_or(0),
        delivery = job.event.delivery_id.as_deref().unwrap_or(""),
    )
}

/// Capped exponential backoff with jitter: 1 s, 2 s, 4 s… up to 5 minutes.
pub fn backoff_ms(attempt: i64) -> i64 {
    let base = 1000_i64
        .saturating_mul(1 << attempt.clamp(0, 20))
        .min(300_000);
    let jitter = (crate::store::now_ms().rem_euclid(1000)) * base / 4000;
    base + jitter
}

/// One line per action, for logs.
pub fn describe(a: &PlannedAction) -> String {
    match a {
        PlannedAction::SetStatus {
            sha,
            state,
            description,
            ..
        } => {
            format!(
                "set status {state:?} on {} ({description})",
                sha.get(..7).unwrap_or(sha)
            )
        }
        PlannedAction::AddLabels { labels } => {
            let names: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
            format!("add labels {}", names.join(", "))
        }
        PlannedAction::RemoveLabels { labels } => {
            let names: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
            format!("remove labels {}", names.join(", "))
        }
        PlannedAction::SetApproval { approve, .. } => {
            if *approve {
                "approve the merge request as the bot".into()
            } else {
                "withdraw the bot's approval".into()
            }
        }
        PlannedAction::AnswerStatusCheck {
            sha,
            check_id,
            passed,
        } => format!(
            "answer status check {check_id} {} for {}",
            if *passed { "passed" } else { "failed" },
            sha.get(..7).unwrap_or(sha)
        ),
        PlannedAction::UpsertComment { body } => {
            format!("write the sticky comment ({} bytes)", body.len())
        }
        PlannedAction::PostReminder { point, .. } => {
            format!("post the emergency reminder `{point}`")
        }
    }
}
