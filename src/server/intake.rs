//! Reading webhook bodies within a memory budget that all requests share. A body must be whole
//! before its signature can be checked, so anyone on the internet can make the server buffer:
//! the bytes held at once are bounded, counted as they arrive (a declared length costs nothing
//! until sent), and a reserve is kept for bodies of webhook size, so that a flood of large
//! unsigned bodies cannot crowd out the forges' deliveries.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bodies declaring at most this many bytes draw on the reserve (GitHub's and GitLab's
/// deliveries are tens of kilobytes).
pub const SMALL_BODY: usize = 1024 * 1024;

/// How long a request waits for room in the budget before it is told to come back.
const WAIT_FOR_ROOM: Duration = Duration::from_secs(2);

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the body is larger than server.max_body_bytes")]
    TooLarge,
    #[error("too many bytes are being received at once; retry later")]
    Busy,
    #[error("the body did not arrive within server.read_timeout_secs")]
    Timeout,
    #[error("cannot read the body: {0}")]
    Read(String),
}

/// The shared budget: bytes of bodies being received or checked, at most `total`.
#[derive(Debug)]
pub struct BodyBudget {
    /// For bodies that declare at most [`SMALL_BODY`] bytes: a quarter of the total.
    small: Arc<Semaphore>,
    /// For the rest (and bodies of unknown length).
    large: Arc<Semaphore>,
    read_timeout: Duration,
}

/// Room held in the budget while a body is buffered and checked; released when dropped.
#[derive(Debug)]
pub struct Held {
    _room: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// `total` bytes at most (a quarter kept for small bodies), each body within
    /// `read_timeout`. The large share must hold one body of the largest size accepted.
    pub fn new(total: usize, read_timeout: Duration) -> Self {
        let reserve = total / 4;
        BodyBudget {
            small: Arc::new(Semaphore::new(reserve)),
            large: Arc::new(Semaphore::new(total - reserve)),
            read_timeout,
        }
    }

    /// The largest body the large share can hold at once.
    pub fn large_share(total: usize) -> usize {
        total - total / 4
    }

    /// Reads `body` whole, holding room in the budget for each chunk as it arrives. Fails
    /// when the body exceeds `max`, when the budget stays full for a while, or when the body
    /// does not arrive in time.
    pub async fn read(
        &self,
        body: Body,
        declared: Option<usize>,
        max: usize,
    ) -> Result<(Bytes, Held), IntakeError> {
        if declared.is_some_and(|d| d > max) {
            return Err(IntakeError::TooLarge);
        }
        let pool = match declared {
            Some(d) if d <= SMALL_BODY => &self.small,
            _ => &self.large,
        };
        tokio::time::timeout(self.read_timeout, collect(body, pool.clone(), max))
            .await
            .map_err(|_| IntakeError::Timeout)?
    }
}

async fn collect(
    mut body: Body,
    pool: Arc<Semaphore>,
    max: usize,
) -> Result<(Bytes, Held), IntakeError> {
    let mut held: Option<OwnedSemaphorePermit> = None;
    // The chunks as they came, joined once at the end: a growing buffer would hold up to
    // twice the body while it doubles.
    let mut chunks: Vec<Bytes> = vec![];
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| read_error(&e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if len + data.len() > max {
            return Err(IntakeError::TooLarge);
        }
        let n = u32::try_from(data.len()).map_err(|_| IntakeError::TooLarge)?;
        let permit = tokio::time::timeout(WAIT_FOR_ROOM, pool.clone().acquire_many_owned(n))
            .await
            .map_err(|_| IntakeError::Busy)?
            .map_err(|_| IntakeError::Busy)?;
        match &mut held {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
        len += data.len();
        chunks.push(data);
    }
    let body = match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut whole = Vec::with_capacity(len);
            for c in chunks.drain(..) {
                whole.extend_from_slice(&c);
            }
            Bytes::from(whole)
        }
    };
    Ok((body, Held { _room: held }))
}

/// The body limit layer's error means the body was too large; anything else is a read error.
fn read_error(e: &axum::Error) -> IntakeError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return IntakeError::TooLarge;
        }
        source = s.source();
    }
    IntakeError::Read(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_held_while_the_body_is_kept_and_released_after() {
        let budget = BodyBudget::new(4096, Duration::from_secs(1));
        // No declared length: the large share (3072 of 4096).
        let (bytes, held) = budget
            .read(Body::from(vec![1u8; 2000]), None, 10_000)
            .await
            .unwrap();
        assert_eq!(bytes.len(), 2000);
        assert_eq!(budget.small.available_permits(), 1024);
        assert_eq!(budget.large.available_permits(), 3072 - 2000);
        drop(held);
        assert_eq!(budget.large.available_permits(), 3072);
        assert!(matches!(
            budget.read(Body::from(vec![0u8; 20]), Some(20), 10).await,
            Err(IntakeError::TooLarge)
        ));
        assert!(matches!(
            budget.read(Body::from(vec![0u8; 20]), None, 10).await,
            Err(IntakeError::TooLarge)
        ));
    }
}
