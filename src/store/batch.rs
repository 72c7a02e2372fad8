//! Group commit for deliveries: concurrent webhook requests are written in one transaction
//! (one fsync) and each is acknowledged only once that transaction is committed. On SQLite a
//! thread with its own connection writes them ([`super::delivery_thread`]); on PostgreSQL a
//! task through the pool.

use super::{Enqueued, Priority, Store, Wake, change_key};
use crate::model::Event;
use anyhow::{Result, anyhow};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Deliveries written together at most; a batch is whatever is waiting when the writer is free.
const MAX_BATCH: usize = 256;

pub(super) type Request = (Event, oneshot::Sender<Result<Enqueued>>);

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct DeliveryWriter {
    tx: mpsc::Sender<Request>,
    /// The worker loops it wakes (readiness asks whether they are all still running).
    wake: Arc<Wake>,
}

impl DeliveryWriter {
    /// Starts the writer on `store` (within the runtime); `wake` is told once per batch which
    /// changes it queued work for (a notification per delivery woke every idle worker loop
    /// into a query, thousands a second under load).
    pub fn spawn(store: Store, wake: Arc<Wake>) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Request>(4 * MAX_BATCH);
        match (store.sqlite_file(), &store.gate) {
            (Some(path), Some(gate)) => super::delivery_thread::spawn(
                path,
                gate.clone(),
                store.clock().clone(),
                wake.clone(),
                MAX_BATCH,
                rx,
            )?,
            _ => {
                tokio::spawn(run(store, wake.clone(), rx));
            }
        }
        Ok(DeliveryWriter { tx, wake })
    }

    /// Worker loops of this process that were started and are gone (ended or died).
    pub fn workers_lost(&self) -> usize {
        self.wake.loops_lost()
    }

    /// Stores a change event; returns once it is committed.
    pub async fn enqueue(&self, event: Event) -> Result<Enqueued> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((event, done))
            .await
            .map_err(|_| anyhow!("the delivery writer stopped"))?;
        wait.await
            .map_err(|_| anyhow!("the delivery writer stopped"))?
    }
}

async fn run(store: Store, wake: Arc<Wake>, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let items: Vec<&Event> = batch.iter().map(|(e, _)| e).collect();
        match store.enqueue_batch(&items, Priority::Webhook).await {
            Ok(results) => {
                queued(&wake, batch.iter().map(|(e, _)| e).zip(results.iter()));
                for ((_, done), r) in batch.drain(..).zip(results) {
                    let _ = done.send(Ok(r));
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Err(anyhow!("{msg}")));
                }
            }
        }
    }
}

/// Tells the worker which changes the batch queued new jobs for (after the commit).
pub(super) fn queued<'a>(wake: &Wake, written: impl Iterator<Item = (&'a Event, &'a Enqueued)>) {
    let keys: Vec<String> = written
        .filter(|(_, r)| matches!(r, Enqueued::New { .. }))
        .filter_map(|(e, _)| e.change().map(change_key))
        .collect();
    if !keys.is_empty() {
        wake.queued(keys.iter().map(String::as_str));
    }
}
