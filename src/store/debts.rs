//! What merged changes owe, fixed once at their first evaluation after merge and never
//! updated (keyed by forge, repository and number).

use super::Store;
use crate::model::Change;
use crate::policy::Debt;
use anyhow::{Context, Result};

/// The repository part of a debt's key: GitHub and GitLab paths are case-insensitive.
fn repo_of(change: &Change) -> String {
    change.repo.path.as_str().to_lowercase()
}

impl Store {
    /// The debt fixed for the change, if one was.
    pub async fn fixed_debt(&self, change: &Change) -> Result<Option<Debt>> {
        let json: Option<String> = sqlx::query_scalar(
            "SELECT debt FROM debts WHERE forge = $1 AND repo = $2 AND number = $3",
        )
        .bind(change.forge.as_str())
        .bind(repo_of(change))
        .bind(change.number as i64)
        .fetch_optional(&self.reads)
        .await
        .context("cannot read the change's debt")?;
        json.map(|j| serde_json::from_str(&j).context("a stored debt is unreadable"))
            .transpose()
    }

    /// Fixes the change's debt; one already fixed stands (the first evaluation after merge
    /// wins). Returns the debt in force.
    pub async fn fix_debt(&self, change: &Change, debt: &Debt) -> Result<Debt> {
        let ms = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis());
        sqlx::query(
            "INSERT INTO debts (forge, repo, number, merged_at, due_at, owed, how, debt, fixed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (forge, repo, number) DO NOTHING",
        )
        .bind(change.forge.as_str())
        .bind(repo_of(change))
        .bind(change.number as i64)
        .bind(ms(debt.merged_at))
        .bind(ms(debt.due))
        .bind(serde_json::to_string(&debt.require)?)
        .bind(debt.how.clone())
        .bind(serde_json::to_string(debt)?)
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record the change's debt")?;
        Ok(self
            .fixed_debt(change)
            .await?
            .unwrap_or_else(|| debt.clone()))
    }

    /// What the change would owe if merged, as last judged open.
    pub async fn owes_if_merged(&self, key: &str) -> Result<Option<Debt>> {
        let json: Option<Option<String>> =
            sqlx::query_scalar("SELECT owes_if_merged FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.reads)
                .await
                .context("cannot read change memory")?;
        json.flatten()
            .map(|j| serde_json::from_str(&j).context("a remembered debt is unreadable"))
            .transpose()
    }

    /// Remembers (or, with `None`, forgets) what the open change would owe if merged.
    pub async fn remember_owes_if_merged(&self, key: &str, debt: Option<&Debt>) -> Result<()> {
        let json = debt.map(serde_json::to_string).transpose()?;
        sqlx::query(
            "INSERT INTO change_memory (change_key, owes_if_merged, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (change_key) DO UPDATE SET owes_if_merged = $2, updated_at = $3",
        )
        .bind(key.to_string())
        .bind(json)
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }
}
