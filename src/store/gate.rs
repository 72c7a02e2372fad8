//! SQLite has one writer at a time. The delivery writer's thread and this process's other
//! writers (the worker's claims, completions, change memory) take turns through a gate: a
//! writer waits in the gate's queue, woken the moment it is free, instead of in SQLite's busy
//! handler, which sleeps 1, 2, 5, 10… ms between tries. The gate is a semaphore, not the pool's
//! one connection: handing that connection back to the pool is a task on the runtime, and the
//! delivery writer waited for it (40 % of its time under load).

use anyhow::Result;
use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The write connection with the gate held (on SQLite); both are let go when it drops, the
/// gate first.
pub struct Writer {
    _turn: Option<OwnedSemaphorePermit>,
    conn: PoolConnection<sqlx::Any>,
}

impl super::Store {
    /// The write connection, with this process's turn to write. The connection first, then
    /// the gate: the delivery writer only ever holds the gate, so nobody holds the gate while
    /// waiting for the connection.
    pub(super) async fn writer(&self) -> Result<Writer> {
        let conn = self.pool.acquire().await?;
        let turn = match &self.gate {
            Some(g) => Some(g.clone().acquire_owned().await?),
            None => None,
        };
        Ok(Writer { _turn: turn, conn })
    }
}

/// A gate for one SQLite file's writers.
pub(super) fn new() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(1))
}

impl Deref for Writer {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}
