//! SQLite: deliveries are written by one thread that owns its own connection. A batch is one
//! transaction with a direct call per statement: through the shared pool every statement was a
//! round trip to the pool connection's thread and every batch also paid the pool's acquire and
//! release (a ping), about as much as the fsync itself. The connection commits with
//! `synchronous = FULL` (the log is on disk before any 202). It holds the store's write gate
//! ([`super::gate`]) while it writes, so this process's other writers wait in the gate's queue;
//! a writer of another process (a CLI command on the same file) is waited for with short
//! sleeps, where SQLite's own busy handler would sleep 1, 2, 5, 10… ms.

use super::batch::Request;
use super::deliveries::{INSERT_DELIVERY, INSERT_JOB};
use super::{Enqueued, Priority, Wake, change_key};
use crate::clock::Clock;
use crate::model::Action;
use anyhow::{Context, Result, anyhow};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

/// How long the delivery writer keeps the write connection while deliveries keep coming.
const SLICE: Duration = Duration::from_millis(3);

/// Opens the database file (its tables already migrated) and starts the thread.
pub(super) fn spawn(
    path: &Path,
    gate: Arc<Semaphore>,
    clock: Clock,
    wake: Arc<Wake>,
    max_batch: usize,
    rx: mpsc::Receiver<Request>,
) -> Result<()> {
    let conn = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot open {} for deliveries", path.display()))?;
    // No checkpoints in this connection's commits: copying the log into the database inside
    // a commit made the acknowledgements behind it wait (the checkpointer below does it).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 0;",
    )
    .context("cannot set up the delivery connection")?;
    let checkpoints = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot open {} for checkpoints", path.display()))?;
    let running = Arc::new(());
    let watched = Arc::downgrade(&running);
    conn.busy_handler(Some(wait_for_lock))
        .context("cannot set up the delivery connection")?;
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("delivery-writer".into())
        .spawn(move || {
            let _running = running;
            run(conn, &runtime, &gate, clock, &wake, max_batch, rx)
        })
        .context("cannot start the delivery writer")?;
    std::thread::Builder::new()
        .name("wal-checkpoints".into())
        .spawn(move || checkpoint(checkpoints, watched))
        .context("cannot start the checkpointer")?;
    Ok(())
}

/// How often the log is copied into the database while the delivery writer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the write-ahead log into the database now and then, beside the writers (PASSIVE: it
/// takes no lock a writer waits for, and copies what no reader still needs), until the delivery
/// writer stops. The store's pool connections keep SQLite's own checkpoints, so a log that
/// outgrows these (or a store without a delivery writer) is still bounded.
fn checkpoint(conn: rusqlite::Connection, writer: std::sync::Weak<()>) {
    while writer.strong_count() > 0 {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "cannot checkpoint the write-ahead log");
        }
    }
}

/// Another connection (the worker's) holds the write lock: try again soon, for about 10 s in
/// all (the worker's transactions last a few milliseconds).
pub(super) fn wait_for_lock(tries: i32) -> bool {
    let pause = if tries < 100 { 50 } else { 500 };
    std::thread::sleep(Duration::from_micros(pause));
    tries < 20_000
}

fn run(
    mut conn: rusqlite::Connection,
    runtime: &tokio::runtime::Handle,
    gate: &Semaphore,
    clock: Clock,
    wake: &Wake,
    max_batch: usize,
    mut rx: mpsc::Receiver<Request>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        // Holding the gate while deliveries are written keeps this process's other writers
        // out of SQLite's lock (they wait in the gate's queue instead of in SQLite's sleeping
        // busy handler). Held for batch after batch while deliveries keep coming, up to a
        // slice, then handed to the worker for at least one of its writes.
        let held = runtime.block_on(gate.acquire());
        let taken = Instant::now();
        batch.push(first);
        loop {
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let written = match &held {
                Ok(_) => write(&mut conn, &batch, clock.now_ms()),
                Err(e) => Err(anyhow!("cannot take the store's write gate: {e}")),
            };
            answer(&mut batch, written, wake);
            if held.is_err() || taken.elapsed() >= SLICE {
                break;
            }
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        drop(held);
    }
}

/// Tells each request of the batch what became of its delivery.
fn answer(batch: &mut Vec<Request>, written: Result<Vec<Result<Enqueued>>>, wake: &Wake) {
    match written {
        Ok(results) => {
            let stored = batch
                .iter()
                .zip(&results)
                .filter_map(|((e, _), r)| match r {
                    Ok(r) => Some((e, r)),
                    Err(_) => None,
                });
            super::batch::queued(wake, stored);
            for ((_, done), r) in batch.drain(..).zip(results) {
                let _ = done.send(r);
            }
        }
        Err(e) => {
            let msg = format!("{e:#}");
            for (_, done) in batch.drain(..) {
                let _ = done.send(Err(anyhow!("cannot store deliveries: {msg}")));
            }
        }
    }
}

/// One transaction for the batch, in order: a delivery id stored before (or earlier in the
/// batch) is a duplicate; an event that is not a change is refused alone.
fn write(
    conn: &mut rusqlite::Connection,
    batch: &[Request],
    now: i64,
) -> Result<Vec<Result<Enqueued>>> {
    // IMMEDIATE: the write lock is taken (or waited for) before anything is read.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(batch.len());
    {
        let mut delivery = tx.prepare_cached(INSERT_DELIVERY)?;
        let mut job = tx.prepare_cached(INSERT_JOB)?;
        for (event, _) in batch {
            let Some(change) = event.change() else {
                out.push(Err(anyhow!("only change events are queued")));
                continue;
            };
            let json = serde_json::to_string(event).context("cannot serialize event")?;
            let id: Option<i64> = delivery
                .query_row(
                    params![
                        event.forge.as_str(),
                        event.delivery_id,
                        event.event_name,
                        now,
                        json
                    ],
                    |r| r.get(0),
                )
                .optional()
                .context("cannot store delivery")?;
            let Some(id) = id else {
                out.push(Ok(Enqueued::Duplicate));
                continue;
            };
            let job_id: i64 = job
                .query_row(
                    params![
                        id,
                        change_key(change),
                        Priority::Webhook as i64,
                        i64::from(change.action == Action::Pushed),
                        now,
                        0i64,
                        now
                    ],
                    |r| r.get(0),
                )
                .context("cannot queue job")?;
            out.push(Ok(Enqueued::New { job_id }));
        }
    }
    tx.commit().context("cannot commit deliveries")?;
    Ok(out)
}
