//! Comment commands and the approvals they gave, keyed by change ([`super::key_of`]). A
//! command is recorded with what it grants or withdraws in one transaction, before the bot
//! writes anything to the forge.

use super::Store;
use crate::commands::{CommandRecord, CommentApproval};
use crate::model::{CommentSource, User};
use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;

/// What a recorded command does to the approvals by comment.
pub enum Effect<'a> {
    None,
    /// Approvals it gives.
    Grant(&'a [CommentApproval]),
    /// The person's standing approvals of these roles (all when empty) it withdraws.
    Withdraw {
        person: &'a User,
        roles: &'a [String],
    },
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn person_of(id: Option<i64>, login: Option<String>) -> User {
    User {
        id: id.and_then(|i| u64::try_from(i).ok()),
        username: login,
    }
}

fn id_of(u: &User) -> Option<i64> {
    u.id.and_then(|i| i64::try_from(i).ok())
}

impl Store {
    /// The command lines of a comment already recorded (a redelivery or a reconcile reads the
    /// comment again: those lines are done; an edit is checked against them). At most
    /// [`crate::commands::MAX_COMMANDS`] and one more per comment are ever recorded.
    pub async fn comment_lines(
        &self,
        key: &str,
        source: CommentSource,
        comment_id: u64,
    ) -> Result<Vec<CommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM comment_commands
             WHERE change_key = $1 AND source = $2 AND comment_id = $3 ORDER BY line"
        ))
        .bind(key.to_string())
        .bind(source.as_str())
        .bind(comment_id as i64)
        .fetch_all(&self.reads)
        .await
        .context("cannot read recorded commands")?;
        rows.iter().map(record_of).collect()
    }

    /// Records a command and what it does, in one transaction. False when the line was
    /// recorded before (nothing written).
    pub async fn record_command(
        &self,
        key: &str,
        c: &CommandRecord,
        effect: Effect<'_>,
    ) -> Result<bool> {
        use sqlx::Connection;
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO comment_commands (change_key, source, comment_id, line, kind, text,
                 person_id, person_login, at, url, accepted, reason, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (change_key, source, comment_id, line) DO NOTHING",
        )
        .bind(key.to_string())
        .bind(c.source.as_str())
        .bind(c.comment_id as i64)
        .bind(i64::from(c.line))
        .bind(c.kind.clone())
        .bind(c.text.clone())
        .bind(id_of(&c.person))
        .bind(c.person.username.clone())
        .bind(ms(c.at))
        .bind(c.url.clone())
        .bind(i64::from(c.accepted))
        .bind(c.reason.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("cannot record a comment command")?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        match effect {
            Effect::None => {}
            Effect::Grant(grants) => {
                for g in grants {
                    sqlx::query(
                        "INSERT INTO comment_approvals (change_key, role, source, comment_id,
                             person_id, person_login, url, body_sha, given_at, head_sha, node_id,
                             recorded_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                         ON CONFLICT (change_key, role, source, comment_id) DO NOTHING",
                    )
                    .bind(key.to_string())
                    .bind(g.role.clone())
                    .bind(g.source.as_str())
                    .bind(g.comment_id as i64)
                    .bind(id_of(&g.by))
                    .bind(g.by.username.clone())
                    .bind(g.url.clone())
                    .bind(g.body_sha.clone())
                    .bind(ms(g.at))
                    .bind(g.head.clone())
                    .bind(g.node_id.clone())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .context("cannot record an approval by comment")?;
                }
            }
            Effect::Withdraw { person, roles } => {
                let standing = standing_rows(&mut tx, key).await?;
                for g in standing.iter().filter(|g| {
                    g.by.same_as(person) == Some(true)
                        && (roles.is_empty() || roles.contains(&g.role))
                }) {
                    withdraw_row(&mut tx, key, g, now, "withdrawn by its giver's command").await?;
                }
            }
        }
        tx.commit()
            .await
            .context("cannot record a comment command")?;
        Ok(true)
    }

    /// The approvals by comment that stand on the change, oldest first.
    pub async fn comment_approvals(&self, key: &str) -> Result<Vec<CommentApproval>> {
        let mut conn = self.reads.acquire().await?;
        standing_rows(&mut conn, key).await
    }

    /// Withdraws the standing approvals a comment gave (deleted, hidden, edited by someone
    /// else, a dismissed review); how many.
    pub async fn withdraw_comment(
        &self,
        key: &str,
        source: CommentSource,
        comment_id: u64,
        why: &str,
    ) -> Result<Vec<CommentApproval>> {
        use sqlx::Connection;
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await?;
        let gone: Vec<CommentApproval> = standing_rows(&mut tx, key)
            .await?
            .into_iter()
            .filter(|g| g.source == source && g.comment_id == comment_id)
            .collect();
        for g in &gone {
            withdraw_row(&mut tx, key, g, now, why).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// The comment's text as its author last left it (an edit by the author that kept the
    /// command).
    pub async fn remember_comment_body(
        &self,
        key: &str,
        source: CommentSource,
        comment_id: u64,
        body_sha: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE comment_approvals SET body_sha = $1
             WHERE change_key = $2 AND source = $3 AND comment_id = $4 AND withdrawn_at IS NULL",
        )
        .bind(body_sha.to_string())
        .bind(key.to_string())
        .bind(source.as_str())
        .bind(comment_id as i64)
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot update an approval by comment")?;
        Ok(())
    }

    /// The change's commands of these kinds (all when empty), oldest first.
    pub async fn comment_commands(&self, key: &str, kinds: &[&str]) -> Result<Vec<CommandRecord>> {
        // The kinds are a closed set of the caller's, bound as parameters after the key.
        let filter = if kinds.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
            format!(" AND kind IN ({})", marks.join(", "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM comment_commands WHERE change_key = $1{filter}
             ORDER BY recorded_at, at, comment_id, line"
        );
        let mut q = sqlx::query(&sql).bind(key.to_string());
        for k in kinds {
            q = q.bind(k.to_string());
        }
        let rows = q
            .fetch_all(&self.reads)
            .await
            .context("cannot read comment commands")?;
        rows.iter().map(record_of).collect()
    }

    /// The latest `limit` refused commands of the change, oldest first, and how many were
    /// refused in all: what the sticky comment lists, read without loading every refusal.
    pub async fn latest_refusals(
        &self,
        key: &str,
        limit: u32,
    ) -> Result<(Vec<CommandRecord>, u64)> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM comment_commands WHERE change_key = $1 AND accepted = 0
             ORDER BY recorded_at DESC, at DESC, comment_id DESC, line DESC LIMIT $2"
        ))
        .bind(key.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.reads)
        .await
        .context("cannot read refused commands")?;
        let mut latest = rows.iter().map(record_of).collect::<Result<Vec<_>>>()?;
        latest.reverse();
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM comment_commands WHERE change_key = $1 AND accepted = 0",
        )
        .bind(key.to_string())
        .fetch_one(&self.reads)
        .await
        .context("cannot count refused commands")?;
        Ok((latest, u64::try_from(total).unwrap_or(0)))
    }

    /// Whether someone asked for `help` on the change (an accepted command).
    pub async fn help_asked(&self, key: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT line FROM comment_commands
             WHERE change_key = $1 AND kind = 'help' AND accepted = 1 LIMIT 1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read help commands")?;
        Ok(found.is_some())
    }

    /// When the bot last accepted a recheck from `person` on the change (its own clock, ms).
    pub async fn last_recheck(&self, key: &str, person: &User) -> Result<Option<i64>> {
        let rows = sqlx::query(
            "SELECT person_id, person_login, recorded_at FROM comment_commands
             WHERE change_key = $1 AND kind = 'recheck' AND accepted = 1",
        )
        .bind(key.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read rechecks")?;
        let mut last: Option<i64> = None;
        for r in rows {
            let who = person_of(r.try_get("person_id")?, r.try_get("person_login")?);
            if who.same_as(person) == Some(true) {
                let at: i64 = r.try_get("recorded_at")?;
                last = last.max(Some(at));
            }
        }
        Ok(last)
    }

    /// Exception-deployment requests and confirmations given by comment on a change
    /// (`/changegate request exception`, `/changegate confirm`), accepted ones, oldest first:
    /// what the deployment gates count.
    pub async fn exception_commands(&self, key: &str) -> Result<Vec<CommandRecord>> {
        Ok(self
            .comment_commands(key, &["request_exception", "confirm"])
            .await?
            .into_iter()
            .filter(|c| c.accepted)
            .collect())
    }
}

const COLUMNS: &str =
    "source, comment_id, line, kind, text, person_id, person_login, at, url, accepted, reason";

fn record_of(r: &sqlx::any::AnyRow) -> Result<CommandRecord> {
    let source: String = r.try_get("source")?;
    Ok(CommandRecord {
        kind: r.try_get("kind")?,
        text: r.try_get("text")?,
        person: person_of(r.try_get("person_id")?, r.try_get("person_login")?),
        at: time(r.try_get("at")?),
        source: CommentSource::from_name(&source).context("unknown comment source")?,
        comment_id: u64::try_from(r.try_get::<i64, _>("comment_id")?)?,
        line: u32::try_from(r.try_get::<i64, _>("line")?)?,
        url: r.try_get("url")?,
        accepted: r.try_get::<i64, _>("accepted")? != 0,
        reason: r.try_get("reason")?,
    })
}

async fn standing_rows(conn: &mut sqlx::AnyConnection, key: &str) -> Result<Vec<CommentApproval>> {
    let rows = sqlx::query(
        "SELECT role, source, comment_id, person_id, person_login, url, body_sha, given_at, head_sha,
                node_id
         FROM comment_approvals WHERE change_key = $1 AND withdrawn_at IS NULL
         ORDER BY given_at, comment_id, role",
    )
    .bind(key.to_string())
    .fetch_all(&mut *conn)
    .await
    .context("cannot read approvals by comment")?;
    let mut out = vec![];
    for r in rows {
        let source: String = r.try_get("source")?;
        out.push(CommentApproval {
            role: r.try_get("role")?,
            by: person_of(r.try_get("person_id")?, r.try_get("person_login")?),
            at: time(r.try_get("given_at")?),
            source: CommentSource::from_name(&source).context("unknown comment source")?,
            comment_id: u64::try_from(r.try_get::<i64, _>("comment_id")?)?,
            url: r.try_get("url")?,
            head: r.try_get("head_sha")?,
            body_sha: r.try_get("body_sha")?,
            node_id: r.try_get("node_id")?,
        });
    }
    Ok(out)
}

async fn withdraw_row(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    g: &CommentApproval,
    now: i64,
    why: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE comment_approvals SET withdrawn_at = $1, withdrawn_why = $2
         WHERE change_key = $3 AND role = $4 AND source = $5 AND comment_id = $6
           AND withdrawn_at IS NULL",
    )
    .bind(now)
    .bind(why.to_string())
    .bind(key.to_string())
    .bind(g.role.clone())
    .bind(g.source.as_str())
    .bind(g.comment_id as i64)
    .execute(&mut *conn)
    .await
    .context("cannot withdraw an approval by comment")?;
    Ok(())
}
