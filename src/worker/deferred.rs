//! A job's audit records, written together: with the job's completion or failure in one
//! transaction, or, before a forge write, right away, so that the record of what led to a
//! write is durable before the write is made. (Each record in its own transaction held the
//! store's one write connection, and the deliveries behind it, three times per job.)

use crate::store::AuditRecord;
use std::sync::Mutex;

/// One record not written yet: a [`AuditRecord`] that owns its text, since the job's
/// context it was made from is gone by the time the job ends.
pub(super) struct Pending {
    pub forge: &'static str,
    pub repo: String,
    pub number: u64,
    pub delivery_id: Option<String>,
    pub kind: String,
    pub rules_hash: Option<String>,
    pub detail: serde_json::Value,
}

/// The records a job has made and not yet written, in order.
#[derive(Default)]
pub struct Deferred(Mutex<Vec<Pending>>);

impl Deferred {
    pub(super) fn push(&self, record: Pending) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }

    /// Everything recorded so far, leaving none.
    pub(super) fn take(&self) -> Vec<Pending> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The records as the store writes them.
pub(super) fn views(records: &[Pending]) -> Vec<AuditRecord<'_>> {
    records
        .iter()
        .map(|r| AuditRecord {
            forge: r.forge,
            repo: &r.repo,
            number: r.number,
            delivery_id: r.delivery_id.as_deref(),
            kind: &r.kind,
            rules_hash: r.rules_hash.as_deref(),
            detail: r.detail.clone(),
        })
        .collect()
}
