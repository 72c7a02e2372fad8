//! Usernames of the rules' static approver lists, resolved to account ids once and kept: the
//! first answer stands, so a login renamed or taken over later keeps pointing at its account.

use super::Store;
use crate::model::Forge;
use anyhow::{Context, Result};
use sqlx::Row;
use std::collections::HashMap;

impl Store {
    /// Every login of `forge` resolved so far (lowercase): its account id, or `None` when no
    /// account had it.
    pub async fn resolved_logins(&self, forge: Forge) -> Result<HashMap<String, Option<u64>>> {
        let rows = sqlx::query("SELECT login, user_id FROM resolved_logins WHERE forge = $1")
            .bind(forge.as_str())
            .fetch_all(&self.reads)
            .await
            .context("cannot read resolved logins")?;
        rows.iter()
            .map(|r| {
                let id: Option<i64> = r.try_get(1)?;
                Ok((r.try_get(0)?, id.and_then(|i| u64::try_from(i).ok())))
            })
            .collect()
    }

    /// Records what `login` resolved to, unless it was resolved before (the first answer
    /// stands).
    pub async fn resolve_login(&self, forge: Forge, login: &str, id: Option<u64>) -> Result<()> {
        let id = id
            .map(i64::try_from)
            .transpose()
            .context("account id out of range")?;
        sqlx::query(
            "INSERT INTO resolved_logins (forge, login, user_id, resolved_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (forge, login) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(login.to_lowercase())
        .bind(id)
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record a resolved login")?;
        Ok(())
    }
}
