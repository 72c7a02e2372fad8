//! Deployment gates' records: decisions (with the exceptions an allow used up and their
//! audit record, in one transaction), counted successes and operator baselines, accepted
//! commits, and merge verdicts. See also [`super::deploy_events`].

use super::Store;
use super::audit::{AuditRecord, append};
use crate::model::Forge;
use crate::policy::deploy::{Accepted, DeployDecision, UsedException};
use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;

/// The key an environment is stored under: GitHub compares names case-insensitively.
pub fn env_key(forge: Forge, environment: &str) -> String {
    match forge {
        Forge::Github => environment.to_lowercase(),
        Forge::Gitlab => environment.to_string(),
    }
}

pub(super) fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A decision to record.
pub struct DecisionRecord<'a> {
    pub id: &'a str,
    pub forge: Forge,
    pub repo: &'a str,
    pub environment: &'a str,
    pub sha: &'a str,
    pub deployment_id: Option<u64>,
    /// `protection_rule`, `gitlab_blocked`, `gate`, `cli`, `deployment`.
    pub source: &'a str,
    pub decision: &'a DeployDecision,
    pub detail: serde_json::Value,
    pub delivery_id: Option<&'a str>,
    pub rules_hash: &'a str,
}

/// A decision read back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredDecision {
    pub id: String,
    pub forge: String,
    pub repo: String,
    pub environment: String,
    pub sha: String,
    pub deployment_id: Option<u64>,
    pub source: String,
    pub outcome: String,
    pub until_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub decided_at: i64,
    pub detail: serde_json::Value,
}

/// A counted success, as baseline or staging evidence.
#[derive(Debug, Clone)]
pub struct CountedSuccess {
    pub env_key: String,
    pub sha: String,
    pub at: DateTime<Utc>,
    pub how: String,
}

const DECISION_COLUMNS: &str = "id, forge, repo, environment, sha, deployment_id, source, outcome, until_at, expires_at, decided_at, detail";

/// What recording a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Done,
    /// Another decision used this change's exception first: nothing was recorded, and the
    /// allow must not stand.
    ExceptionTaken {
        change: u64,
    },
}

impl Store {
    /// Records a decision, the exceptions an allow used up and its audit record, together.
    /// When an exception the allow uses was used by another decision first (two decided at
    /// once), nothing is recorded and `ExceptionTaken` says which.
    pub async fn record_deploy_decision(&self, r: &DecisionRecord<'_>) -> Result<Recorded> {
        let now = self.now_ms();
        let repo = r.repo.to_lowercase();
        let d = r.decision;
        let detail = serde_json::to_string(&r.detail)?;
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        sqlx::query(
            "INSERT INTO deploy_decisions (id, forge, repo, env_key, environment, sha, deployment_id, source, outcome, until_at, expires_at, decided_at, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(r.id.to_string())
        .bind(r.forge.as_str())
        .bind(repo.clone())
        .bind(env_key(r.forge, r.environment))
        .bind(r.environment.to_string())
        .bind(r.sha.to_string())
        .bind(r.deployment_id.map(|i| i as i64))
        .bind(r.source.to_string())
        .bind(d.decision.as_str())
        .bind(d.until.map(|t| t.timestamp_millis()))
        .bind(d.expires.map(|t| t.timestamp_millis()))
        .bind(now)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .context("cannot record the deployment decision")?;
        for e in &d.exceptions {
            if !spend(&mut tx, r, &repo, e).await? {
                // Dropping the transaction rolls it back.
                return Ok(Recorded::ExceptionTaken { change: e.change });
            }
        }
        let audit = AuditRecord {
            forge: r.forge.as_str(),
            repo: r.repo,
            number: 0,
            delivery_id: r.delivery_id,
            kind: "deployment_decision",
            rules_hash: Some(r.rules_hash),
            detail: r.detail.clone(),
        };
        append(&mut tx, std::slice::from_ref(&audit), now).await?;
        tx.commit()
            .await
            .context("cannot record the deployment decision")?;
        Ok(Recorded::Done)
    }

    /// Decisions of a repository since `since_ms` (all repositories: `repo` empty), oldest first.
    pub async fn deploy_decisions(
        &self,
        forge: &str,
        repo: &str,
        since_ms: i64,
    ) -> Result<Vec<StoredDecision>> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM deploy_decisions
             WHERE forge = $1 AND ($2 = '' OR repo = $2) AND decided_at >= $3 ORDER BY decided_at, id"
        ))
        .bind(forge.to_string())
        .bind(repo.to_lowercase())
        .bind(since_ms)
        .fetch_all(&self.reads)
        .await
        .context("cannot read deployment decisions")?;
        rows.iter().map(decision_of).collect()
    }

    /// One decision by its id.
    pub async fn deploy_decision(&self, id: &str) -> Result<Option<StoredDecision>> {
        let row = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM deploy_decisions WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read a deployment decision")?;
        row.as_ref().map(decision_of).transpose()
    }

    /// Whether changegate ever allowed `sha` to the environment while an entry governed it.
    /// An ungoverned allow (no expiry) checked nothing, so it never vouches for a rollback.
    pub async fn allowed_before(
        &self,
        forge: Forge,
        repo: &str,
        env: &str,
        sha: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deploy_decisions WHERE forge = $1 AND repo = $2 AND env_key = $3 AND sha = $4 AND outcome = 'allow' AND expires_at IS NOT NULL",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(env_key(forge, env))
        .bind(sha.to_string())
        .fetch_one(&self.reads)
        .await
        .context("cannot read deployment decisions")?;
        Ok(n > 0)
    }

    /// The latest allow of `sha` to the environment still valid at `at`, whichever deployment
    /// or `/gate` call it answered: its expiry. Says whether a deployment seen running was
    /// approved at all; never evidence of a success (see [`Store::allow_of_deployment`]).
    pub async fn valid_allow(
        &self,
        forge: Forge,
        repo: &str,
        env: &str,
        sha: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let e: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT MAX(expires_at) FROM deploy_decisions WHERE forge = $1 AND repo = $2 AND env_key = $3 AND sha = $4 AND outcome = 'allow'",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(env_key(forge, env))
        .bind(sha.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read deployment decisions")?;
        Ok(e.flatten().map(at_ms).filter(|expires| *expires > at))
    }

    /// The allow that answered deployment `deployment_id` (of `sha` to the environment), still
    /// valid at `at`: its expiry. Only an allow bound to that very deployment counts, and only
    /// a governed one (an ungoverned environment's allow has no expiry).
    pub async fn allow_of_deployment(
        &self,
        forge: Forge,
        repo: &str,
        env: &str,
        sha: &str,
        deployment_id: u64,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let e: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT MAX(expires_at) FROM deploy_decisions WHERE forge = $1 AND repo = $2 AND env_key = $3 AND sha = $4 AND deployment_id = $5 AND outcome = 'allow'",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(env_key(forge, env))
        .bind(sha.to_string())
        .bind(i64::try_from(deployment_id).context("a deployment id out of range")?)
        .fetch_optional(&self.reads)
        .await
        .context("cannot read deployment decisions")?;
        Ok(e.flatten().map(at_ms).filter(|expires| *expires > at))
    }

    /// Records a success that counts (idempotent).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_success(
        &self,
        forge: Forge,
        repo: &str,
        env: &str,
        sha: &str,
        deployment_id: i64,
        kind: &str,
        by: Option<&str>,
        at: DateTime<Utc>,
        how: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO deploy_successes (forge, repo, env_key, sha, deployment_id, kind, by_name, at, how)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (forge, repo, env_key, sha, deployment_id, kind) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(env_key(forge, env))
        .bind(sha.to_string())
        .bind(deployment_id)
        .bind(kind.to_string())
        .bind(by.map(str::to_string))
        .bind(at.timestamp_millis())
        .bind(how.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record a deployment success")?;
        Ok(())
    }

    /// The environment's baseline: its latest success changegate allowed (bound to that
    /// deployment) and saw succeed, or operator baseline. A trusted deployer's success counts
    /// only for a SHA changegate allowed to the environment before (a `/gate` allow names no
    /// deployment): else it would move the baseline past commits nothing checked. It stays
    /// evidence for `after`.
    pub async fn baseline(
        &self,
        forge: Forge,
        repo: &str,
        env: &str,
    ) -> Result<Option<CountedSuccess>> {
        const CHECKED: &str = "env_key = $3 AND (kind IN ('allowed', 'operator') OR (kind = 'trusted' AND EXISTS (
             SELECT 1 FROM deploy_decisions d WHERE d.forge = deploy_successes.forge AND d.repo = deploy_successes.repo
             AND d.env_key = deploy_successes.env_key AND d.sha = deploy_successes.sha AND d.outcome = 'allow' AND d.expires_at IS NOT NULL)))";
        Ok(self
            .counted(forge, repo, CHECKED, &env_key(forge, env))
            .await?
            .into_iter()
            .max_by_key(|s| s.at))
    }

    /// Counted successes of `sha` in any environment.
    pub async fn counted_successes(
        &self,
        forge: Forge,
        repo: &str,
        sha: &str,
    ) -> Result<Vec<CountedSuccess>> {
        self.counted(forge, repo, "sha = $3", sha).await
    }

    async fn counted(
        &self,
        forge: Forge,
        repo: &str,
        filter: &str,
        value: &str,
    ) -> Result<Vec<CountedSuccess>> {
        let rows = sqlx::query(&format!(
            "SELECT env_key, sha, at, how FROM deploy_successes WHERE forge = $1 AND repo = $2 AND {filter}"
        ))
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(value.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read deployment successes")?;
        rows.into_iter()
            .map(|r| {
                Ok(CountedSuccess {
                    env_key: r.try_get(0)?,
                    sha: r.try_get(1)?,
                    at: at_ms(r.try_get(2)?),
                    how: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Accepts a commit that reached a branch without a change (the first acceptance stands).
    pub async fn accept_commit(
        &self,
        forge: Forge,
        repo: &str,
        sha: &str,
        by: &str,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO deploy_accepted (forge, repo, sha, by_name, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (forge, repo, sha) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(sha.to_string())
        .bind(by.to_string())
        .bind(reason.to_string())
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record the acceptance")?;
        Ok(())
    }

    /// The acceptance of a commit, if any.
    pub async fn accepted_commit(
        &self,
        forge: Forge,
        repo: &str,
        sha: &str,
    ) -> Result<Option<Accepted>> {
        let row = sqlx::query(
            "SELECT by_name, reason, at FROM deploy_accepted WHERE forge = $1 AND repo = $2 AND sha = $3",
        )
        .bind(forge.as_str())
        .bind(repo.to_lowercase())
        .bind(sha.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read accepted commits")?;
        row.map(|r| {
            Ok(Accepted {
                by: r.try_get(0)?,
                reason: r.try_get(1)?,
                at: at_ms(r.try_get(2)?),
            })
        })
        .transpose()
    }
}

/// Marks an exception used; false when another decision used it already.
async fn spend(
    tx: &mut sqlx::AnyConnection,
    r: &DecisionRecord<'_>,
    repo: &str,
    e: &UsedException,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO deploy_spent (forge, repo, number, requested_at, decision_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (forge, repo, number, requested_at) DO NOTHING",
    )
    .bind(r.forge.as_str())
    .bind(repo.to_string())
    .bind(e.change as i64)
    .bind(e.requested_at.timestamp_millis())
    .bind(r.id.to_string())
    .execute(&mut *tx)
    .await
    .context("cannot record a used exception")?;
    Ok(done.rows_affected() == 1)
}

fn decision_of(r: &sqlx::any::AnyRow) -> Result<StoredDecision> {
    let detail: String = r.try_get(11)?;
    Ok(StoredDecision {
        id: r.try_get(0)?,
        forge: r.try_get(1)?,
        repo: r.try_get(2)?,
        environment: r.try_get(3)?,
        sha: r.try_get(4)?,
        deployment_id: r.try_get::<Option<i64>, _>(5)?.map(|i| i as u64),
        source: r.try_get(6)?,
        outcome: r.try_get(7)?,
        until_at: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        decided_at: r.try_get(10)?,
        detail: serde_json::from_str(&detail).context("a deployment decision is not JSON")?,
    })
}
