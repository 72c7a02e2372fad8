//! Group commit for deliveries: concurrent webhook requests are written in one transaction
//! (one fsync) and each is acknowledged only once that transaction is committed.

use super::{Enqueued, Priority, Store};
use crate::model::Event;
use anyhow::{Result, anyhow};
use tokio::sync::{mpsc, oneshot};

/// Deliveries written together at most; a batch is whatever is waiting when the writer is free.
const MAX_BATCH: usize = 256;

type Request = (Event, oneshot::Sender<Result<Enqueued>>);

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct DeliveryWriter {
    tx: mpsc::Sender<Request>,
}

impl DeliveryWriter {
    /// Starts the writer task on `store`.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel::<Request>(4 * MAX_BATCH);
        tokio::spawn(run(store, rx));
        DeliveryWriter { tx }
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

async fn run(store: Store, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let items: Vec<&Event> = batch.iter().map(|(e, _)| e).collect();
        match store.enqueue_batch(&items, Priority::Webhook).await {
            Ok(results) => {
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
