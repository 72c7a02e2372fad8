//! The diff each `changed_diff` approval was given on, recorded when changegate first saw the
//! approval. The first record of an approval stands: a later evaluation never overwrites what
//! was recorded when it was given.

use super::Store;
use crate::diff::ApprovedDiff;
use anyhow::{Context, Result};

/// How the store names an approver: the account id when known, else the lowercase login.
fn approver_key(d: &ApprovedDiff) -> String {
    match (&d.by.id, &d.by.username) {
        (Some(id), _) => format!("#{id}"),
        (None, Some(name)) => name.to_lowercase(),
        (None, None) => String::new(),
    }
}

impl Store {
    /// Records the diff an approval was given on, unless it is already recorded; whether
    /// this call recorded it.
    pub async fn record_approved_diff(&self, key: &str, d: &ApprovedDiff) -> Result<bool> {
        let record = serde_json::to_string(d).context("cannot encode an approved diff")?;
        let done = sqlx::query(
            "INSERT INTO approved_diffs (change_key, role, via, approver, given_at, head_sha, record, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (change_key, role, via, approver, given_at) DO NOTHING",
        )
        .bind(key.to_string())
        .bind(d.role.clone())
        .bind(d.via.clone())
        .bind(approver_key(d))
        .bind(d.given_at.timestamp_millis())
        .bind(d.head_sha.clone())
        .bind(record)
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record an approved diff")?;
        Ok(done.rows_affected() > 0)
    }

    /// The diffs the change's approvals were given on, oldest first.
    pub async fn approved_diffs(&self, key: &str) -> Result<Vec<ApprovedDiff>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT record FROM approved_diffs WHERE change_key = $1 ORDER BY given_at, recorded_at",
        )
        .bind(key.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read approved diffs")?;
        rows.iter()
            .map(|r| serde_json::from_str(r).context("a stored approved diff does not read back"))
            .collect()
    }
}
