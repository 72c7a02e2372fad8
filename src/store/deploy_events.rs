//! Deployment gates' event records: exception requests and confirmations (kept as seen, so
//! that a label removed later does not take them back), exceptions used, deployments waiting
//! for a decision, deployments seen running without a valid allow, and merge verdicts.

use super::Store;
use super::deployments::{at_ms, env_key};
use crate::model::{Forge, User};
use crate::policy::deploy::{ExceptionEvent, ExceptionEventKind, ExceptionSource, SpentException};
use anyhow::{Context, Result};
use sqlx::Row;

/// A merged change's verdict at merge, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRecord {
    pub target_branch: Option<String>,
    pub head_sha: Option<String>,
    pub pass: bool,
    pub how: String,
}

impl Store {
    /// Records an exception event (once).
    pub async fn add_exception_event(
        &self,
        forge: Forge,
        repo: &str,
        number: u64,
        e: &ExceptionEvent,
    ) -> Result<()> {
        let Some(at) = e.at else {
            return Ok(());
        };
        let (source, source_id) = match e.source {
            ExceptionSource::Label => ("label", 0i64),
            ExceptionSource::Comment { id } => ("comment", id as i64),
        };
        let kind = match e.kind {
            ExceptionEventKind::Requested => "requested",
            ExceptionEventKind::Confirmed => "confirmed",
        };
        sqlx::query(
            "INSERT INTO deploy_exception_events (forge, repo, number, kind, by_id, by_name, at, source, source_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (forge, repo, number, kind, by_name, at, source, source_id) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(number as i64)
        .bind(kind)
        .bind(e.by.id.map(|i| i as i64))
        .bind(e.by.username.clone().unwrap_or_default())
        .bind(at.timestamp_millis())
        .bind(source)
        .bind(source_id)
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record an exception event")?;
        Ok(())
    }

    /// The exception events of a change, oldest first.
    pub async fn exception_events(
        &self,
        forge: Forge,
        repo: &str,
        number: u64,
    ) -> Result<Vec<ExceptionEvent>> {
        let rows = sqlx::query(
            "SELECT kind, by_id, by_name, at, source, source_id FROM deploy_exception_events
             WHERE forge = $1 AND repo = $2 AND number = $3 ORDER BY at",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(number as i64)
        .fetch_all(&self.reads)
        .await
        .context("cannot read exception events")?;
        rows.into_iter()
            .map(|r| {
                let kind: String = r.try_get(0)?;
                let name: String = r.try_get(2)?;
                let source: String = r.try_get(4)?;
                Ok(ExceptionEvent {
                    kind: if kind == "confirmed" {
                        ExceptionEventKind::Confirmed
                    } else {
                        ExceptionEventKind::Requested
                    },
                    by: User {
                        id: r.try_get::<Option<i64>, _>(1)?.map(|i| i as u64),
                        username: (!name.is_empty()).then_some(name),
                    },
                    at: Some(at_ms(r.try_get(3)?)),
                    source: if source == "comment" {
                        ExceptionSource::Comment {
                            id: r.try_get::<i64, _>(5)? as u64,
                        }
                    } else {
                        ExceptionSource::Label
                    },
                })
            })
            .collect()
    }

    /// The exceptions of these changes already used.
    pub async fn spent_exceptions(&self, forge: Forge, repo: &str) -> Result<Vec<SpentException>> {
        let rows = sqlx::query(
            "SELECT s.number, s.requested_at, d.decided_at FROM deploy_spent s LEFT JOIN deploy_decisions d ON d.id = s.decision_id
             WHERE s.forge = $1 AND s.repo = $2",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .fetch_all(&self.reads)
        .await
        .context("cannot read used exceptions")?;
        rows.into_iter()
            .map(|r| {
                Ok(SpentException {
                    change: r.try_get::<i64, _>(0)? as u64,
                    requested_at: at_ms(r.try_get(1)?),
                    spent_at: r.try_get::<Option<i64>, _>(2)?.map(at_ms),
                })
            })
            .collect()
    }

    /// Remembers a deployment waiting for a decision (its event, JSON), or closes the wait.
    pub async fn set_deploy_wait(
        &self,
        forge: Forge,
        repo: &str,
        wait_key: &str,
        event: Option<&str>,
        until_ms: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO deploy_waits (forge, repo, wait_key, event, until_at, open, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (forge, repo, wait_key) DO UPDATE SET event = CASE WHEN $6 = 1 THEN $4 ELSE deploy_waits.event END, until_at = $5, open = $6, updated_at = $7",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(wait_key.to_string())
        .bind(event.unwrap_or("").to_string())
        .bind(until_ms)
        .bind(i64::from(event.is_some()))
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record a waiting deployment")?;
        Ok(())
    }

    /// Events of the repository's deployments still waiting.
    pub async fn open_deploy_waits(&self, forge: Forge, repo: &str) -> Result<Vec<String>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT event FROM deploy_waits WHERE forge = $1 AND repo = $2 AND open = 1 ORDER BY updated_at",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .fetch_all(&self.reads)
        .await
        .context("cannot read waiting deployments")?;
        Ok(rows)
    }

    /// Records a deployment seen running without a valid allow; true the first time.
    pub async fn record_unapproved(
        &self,
        forge: Forge,
        repo: &str,
        environment: &str,
        sha: &str,
        deployment_id: u64,
        why: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO deploy_unapproved (forge, repo, env_key, sha, deployment_id, why, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (forge, repo, deployment_id) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(env_key(forge, environment))
        .bind(sha.to_string())
        .bind(deployment_id as i64)
        .bind(why.to_string())
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record an unapproved deployment")?;
        Ok(done.rows_affected() > 0)
    }

    /// Deployments of `sha` to the environment seen running without a valid allow: why each.
    pub async fn unapproved(
        &self,
        forge: Forge,
        repo: &str,
        environment: &str,
        sha: &str,
    ) -> Result<Vec<(u64, String)>> {
        let rows = sqlx::query(
            "SELECT deployment_id, why FROM deploy_unapproved WHERE forge = $1 AND repo = $2 AND env_key = $3 AND sha = $4",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(env_key(forge, environment))
        .bind(sha.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read unapproved deployments")?;
        rows.into_iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)? as u64, r.try_get(1)?)))
            .collect()
    }

    /// Records a merged change's verdict at merge (the first record stands).
    pub async fn record_merge_verdict(
        &self,
        forge: Forge,
        repo: &str,
        number: u64,
        m: &MergeRecord,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO merge_verdicts (forge, repo, number, target_branch, head_sha, pass, how, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (forge, repo, number) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(number as i64)
        .bind(m.target_branch.clone())
        .bind(m.head_sha.clone())
        .bind(i64::from(m.pass))
        .bind(m.how.clone())
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record a merge verdict")?;
        Ok(())
    }

    /// A merged change's verdict at merge, if recorded.
    pub async fn merge_verdict(
        &self,
        forge: Forge,
        repo: &str,
        number: u64,
    ) -> Result<Option<MergeRecord>> {
        let row = sqlx::query(
            "SELECT target_branch, head_sha, pass, how FROM merge_verdicts WHERE forge = $1 AND repo = $2 AND number = $3",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(number as i64)
        .fetch_optional(&self.reads)
        .await
        .context("cannot read a merge verdict")?;
        row.map(|r| {
            Ok(MergeRecord {
                target_branch: r.try_get(0)?,
                head_sha: r.try_get(1)?,
                pass: r.try_get::<i64, _>(2)? != 0,
                how: r.try_get(3)?,
            })
        })
        .transpose()
    }
}

impl Store {
    /// Queues a deployment event (a webhook, or a timer when `due` is given), serialized per
    /// repository and environment; false when its delivery id was seen before.
    pub async fn enqueue_deployment(
        &self,
        event: &crate::model::Event,
        d: &crate::model::DeploymentEvent,
        due: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool> {
        let key = format!(
            "deploy:{}:{}:{}",
            event.forge.as_str(),
            d.repo.path.as_str().to_lowercase(),
            env_key(event.forge, &d.environment)
        );
        let now = self.now_ms();
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        let queued = super::deliveries::insert(
            &mut tx,
            event,
            &key,
            super::Priority::Webhook,
            false,
            now,
            due.map(|t| t.timestamp_millis()),
        )
        .await?;
        tx.commit()
            .await
            .context("cannot queue the deployment event")?;
        Ok(queued.is_some())
    }
}
