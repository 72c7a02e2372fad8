//! Claims stored jobs one change at a time, evaluates the rules, and acts (or, in dry-run
//! mode, logs what it would do). Every decision and action goes to the audit log.

use crate::actions::{self, PlannedAction};
use crate::model::{ChangeEvent, Event};
use crate::policy::{self, Snapshot};
use crate::rules::{Rules, SharedRules};
use crate::store::{AuditRecord, Job, Store};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

/// How long a claimed job stays reserved to its worker; past it another worker may take it.
pub const LEASE: Duration = Duration::from_secs(60);

/// How often an idle worker looks for work it was not woken for (retries coming due).
const IDLE_POLL: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub rules: SharedRules,
    pub dry_run: bool,
    pub status_context: String,
    pub max_attempts: u32,
}

impl Worker {
    /// Runs `concurrency` loops until `shutdown` turns true.
    pub async fn run(self, concurrency: usize, wake: Arc<Notify>, shutdown: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (w, wake, mut stop) = (self.clone(), wake.clone(), shutdown.clone());
            tasks.spawn(async move {
                while !*stop.borrow() {
                    match w.run_one().await {
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
        let Some(job) = self.store.claim(LEASE).await? else {
            return Ok(false);
        };
        let span = job_span(&job);
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
        match self.process(&job.event).await {
            Ok(()) => self.store.complete(job.id).await,
            Err(e) => {
                let retry = (job.attempts < i64::from(self.max_attempts))
                    .then(|| crate::store::now_ms() + backoff_ms(job.attempts));
                tracing::warn!(
                    error = format!("{e:#}"),
                    attempts = job.attempts,
                    retry = retry.is_some(),
                    "job failed"
                );
                self.store.fail(job.id, &format!("{e:#}"), retry).await
            }
        }
    }

    async fn process(&self, event: &Event) -> Result<()> {
        let Some(change_event) = event.change() else {
            return Ok(());
        };
        let rules = current(&self.rules);
        let snapshot = Snapshot::from_event(change_event, chrono::Utc::now());
        let decision = policy::evaluate(&rules, &snapshot);
        let plan = actions::plan(&snapshot.change, &decision, &self.status_context);
        self.record(
            event,
            change_event,
            "decision",
            Some(&rules.hash),
            serde_json::to_value(&decision)?,
        )
        .await?;
        for action in &plan {
            self.perform(event, change_event, &rules, action).await?;
        }
        Ok(())
    }

    async fn perform(
        &self,
        event: &Event,
        c: &ChangeEvent,
        rules: &Rules,
        action: &PlannedAction,
    ) -> Result<()> {
        if self.dry_run {
            tracing::info!(action = %describe(action), "dry run: would call the forge");
            let detail = serde_json::json!({ "dry_run": true, "planned": action });
            return self
                .record(event, c, "action", Some(&rules.hash), detail)
                .await;
        }
        anyhow::bail!(
            "no {} client is configured to perform `{}`; set a token or run with dry_run",
            c.change.forge.display_name(),
            describe(action)
        )
    }

    async fn record(
        &self,
        event: &Event,
        c: &ChangeEvent,
        kind: &str,
        hash: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<()> {
        self.store
            .audit(&AuditRecord {
                forge: c.change.forge.as_str(),
                repo: c.change.repo.path.as_str(),
                number: c.change.number,
                delivery_id: event.delivery_id.as_deref(),
                kind,
                rules_hash: hash,
                detail,
            })
            .await
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
        PlannedAction::RemoveLabel { label } => format!("remove label {label}"),
        PlannedAction::UpsertComment { body } => {
            format!("write the sticky comment ({} bytes)", body.len())
        }
    }
}
