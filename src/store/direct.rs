//! SQLite: the worker's claims and job ends on a connection of their own, each transaction
//! run whole on a blocking thread. Through the pool every statement was an await: under load
//! the task holding the write gate waited behind hundreds of webhook requests to be polled
//! again between its statements, and the deliveries behind the gate waited with it. Here the
//! gate is held only while SQLite works (pipeline benchmark: 4,616 → 6,565 events processed
//! a second; a 200-change burst right after 0.83 → 0.57 s). The statements are the ones the
//! pool runs on PostgreSQL ([`super::jobs`], [`super::chain`], [`super::audit`]); parameters
//! are bound by name (`$1` is a name to SQLite), as their numbers do not follow their order
//! in the text.

use super::AuditRecord;
use super::audit::INSERT_AUDIT;
use super::chain::{self, ADVANCE, Entry, RESERVE};
use super::jobs::{COVER_AT_ONCE, COVER_NEWEST, COVER_REPOINT, COVER_TAKE, DONE, FAILED};
use anyhow::{Context, Result, anyhow};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, named_params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// The connection and the write gate it takes turns through.
pub(super) struct Direct {
    conn: Arc<Mutex<Connection>>,
    gate: Arc<Semaphore>,
}

/// How a job's run ended.
pub(super) enum JobEnd {
    Done {
        writes: i64,
        units: i64,
    },
    /// Queued again at `run_after`, or left failed when `state` says so.
    Failed {
        state: &'static str,
        run_after: i64,
        error: String,
    },
}

impl Direct {
    /// Opens the database file (its tables already migrated).
    pub(super) fn open(path: &Path, gate: Arc<Semaphore>) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open {} for the worker", path.display()))?;
        // As the pool's write connection: the worker's commits need not each wait for the
        // disk (a power loss drops at most a suffix of them; a job whose end was lost runs
        // again).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -8192;",
        )
        .context("cannot set up the worker's connection")?;
        conn.busy_handler(Some(super::delivery_thread::wait_for_lock))
            .context("cannot set up the worker's connection")?;
        Ok(Direct {
            conn: Arc::new(Mutex::new(conn)),
            gate,
        })
    }

    /// Runs `f` in one IMMEDIATE transaction, committed when it returns `Ok`, with this
    /// process's turn to write held from before it begins until after it ends.
    async fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let turn = self.gate.clone().acquire_owned().await?;
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| anyhow!("the worker's store call stopped: {e}"))?
    }

    /// Marks the next runnable job running (covering the newer queued jobs of its change):
    /// the id that runs.
    pub(super) async fn claim(&self, take: String, now: i64, until: i64) -> Result<Option<i64>> {
        self.transaction(move |tx| {
            let taken: Option<(i64, String)> = tx
                .prepare_cached(&take)?
                .query_row(named_params! {"$1": until, "$2": now}, |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .context("cannot claim a job")?;
            let Some((first, key)) = taken else {
                return Ok(None);
            };
            cover_newer(tx, first, &key, now, until).map(Some)
        })
        .await
    }

    /// Ends a job, with its audit records not written yet, in one transaction.
    pub(super) async fn end(
        &self,
        job_id: i64,
        end: JobEnd,
        audit: &[AuditRecord<'_>],
        now: i64,
    ) -> Result<()> {
        let entries: Vec<Entry> = audit.iter().map(Entry::of).collect();
        self.transaction(move |tx| {
            append(tx, &entries, now)?;
            match end {
                JobEnd::Done { writes, units } => tx
                    .prepare_cached(DONE)?
                    .execute(named_params! {"$1": writes, "$2": now, "$3": job_id, "$4": units}),
                JobEnd::Failed {
                    state,
                    run_after,
                    error,
                } => tx.prepare_cached(FAILED)?.execute(named_params! {
                    "$1": state, "$2": run_after, "$3": error, "$4": now, "$5": job_id
                }),
            }
            .context("cannot end the job")?;
            Ok(())
        })
        .await
    }
}

/// [`super::jobs`]'s `cover_newer`, on this connection.
fn cover_newer(tx: &Connection, first: i64, key: &str, now: i64, until: i64) -> Result<i64> {
    let newest: Option<i64> = tx
        .prepare_cached(COVER_NEWEST)?
        .query_row(
            named_params! {"$1": key, "$2": first, "$3": now, "$4": COVER_AT_ONCE},
            |r| r.get(0),
        )
        .context("cannot claim a job")?;
    let Some(id) = newest else {
        return Ok(first);
    };
    tx.prepare_cached(COVER_REPOINT)?
        .execute(named_params! {"$1": id, "$2": key, "$3": first})
        .context("cannot mark covered jobs")?;
    tx.prepare_cached(COVER_TAKE)?
        .execute(named_params! {"$1": id, "$2": now, "$3": key, "$4": first, "$5": until})
        .context("cannot mark covered jobs")?;
    Ok(id)
}

/// [`super::audit`]'s `append`, on this connection: each chain's head reserved once for a run
/// of its records and advanced after the last.
fn append(tx: &Connection, entries: &[Entry], at: i64) -> Result<()> {
    for ((forge, repo), run) in chain::runs(entries) {
        let (seq, prev): (i64, String) = tx
            .prepare_cached(RESERVE)?
            .query_row(named_params! {"$1": forge, "$2": repo}, |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .context("cannot read the audit chain")?;
        let linked = chain::link(run, at, seq + 1, prev);
        for l in &linked {
            let e = l.entry;
            tx.prepare_cached(INSERT_AUDIT)?
                .execute(named_params! {
                    "$1": at, "$2": e.forge, "$3": e.repo, "$4": e.number, "$5": e.delivery_id,
                    "$6": e.kind, "$7": e.rules_hash, "$8": e.detail, "$9": l.seq, "$10": l.prev,
                    "$11": l.hash,
                })
                .context("cannot write audit record")?;
        }
        if let Some(last) = linked.last() {
            advance(tx, &forge, &repo, last.seq, &last.hash)?;
        }
    }
    Ok(())
}

fn advance(tx: &Connection, forge: &str, repo: &str, seq: i64, head: &str) -> Result<()> {
    tx.prepare_cached(ADVANCE)?
        .execute(named_params! {"$1": forge, "$2": repo, "$3": seq, "$4": head})
        .context("cannot advance the audit chain")?;
    Ok(())
}
