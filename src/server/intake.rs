//! Reading webhook bodies within a memory budget that all requests share. A body must be whole
//! before its signature can be checked, so anyone on the internet can make the server buffer:
//! the bytes held at once are bounded, counted as they arrive (a declared length costs nothing
//! until sent), and a reserve is kept for bodies of webhook size, so that a flood of large
//! unsigned bodies cannot crowd out the forges' deliveries. A body must also keep arriving:
//! one that stalls or trickles below a minimum rate is cut, so that senders who never finish
//! cannot hold the room they took.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bodies declaring at most this many bytes draw on the reserve (GitHub's and GitLab's
/// deliveries are tens of kilobytes).
pub const SMALL_BODY: usize = 1024 * 1024;

/// How long a request waits for room in the budget before it is told to come back.
const WAIT_FOR_ROOM: Duration = Duration::from_secs(2);

/// The default of `server.min_body_rate_bytes`: bytes per second a body must keep arriving
/// at (the forges send from data centres, far faster).
pub const DEFAULT_MIN_BODY_RATE: u64 = 64 * 1024;

/// Time a body has to start arriving before it must keep up with the minimum rate.
const GRACE: Duration = Duration::from_secs(1);

/// How far ahead bytes already received pay for: a body that stalls is cut this long after
/// it stopped, however much it had sent before. (Shorter than [`WAIT_FOR_ROOM`]: room held
/// by stalled bodies frees before a delivery waiting for it gives up.)
const CREDIT: Duration = Duration::from_secs(1);

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the body is larger than server.max_body_bytes")]
    TooLarge,
    #[error("too many bytes are being received at once; retry later")]
    Busy,
    #[error("the body did not arrive within server.read_timeout_secs")]
    Timeout,
    #[error("the body arrived slower than server.min_body_rate_bytes")]
    TooSlow,
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
    /// Bytes per second a body must keep arriving at; 0: no minimum.
    min_rate: u64,
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
            min_rate: DEFAULT_MIN_BODY_RATE,
        }
    }

    /// Bodies must arrive at `bytes_per_sec` at least (0: no minimum, for tests that hold
    /// bodies stalled on purpose; the setting refuses it).
    pub fn with_min_rate(mut self, bytes_per_sec: u64) -> Self {
        self.min_rate = bytes_per_sec;
        self
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
        let pace = Pace::new(self.min_rate);
        tokio::time::timeout(self.read_timeout, collect(body, pool.clone(), max, pace))
            .await
            .map_err(|_| IntakeError::Timeout)?
    }
}

/// Keeps a body to the minimum rate: each byte received pays for `1 / rate` seconds, at most
/// [`CREDIT`] ahead of now; when the time paid for runs out before the next bytes arrive,
/// the body is cut.
struct Pace {
    rate: u64,
    paid_until: Instant,
}

impl Pace {
    fn new(rate: u64) -> Self {
        Pace {
            rate,
            paid_until: Instant::now() + GRACE,
        }
    }

    /// When the body is cut unless more arrives; none without a minimum.
    fn deadline(&self) -> Option<Instant> {
        (self.rate > 0).then_some(self.paid_until)
    }

    /// `n` bytes arrived.
    fn received(&mut self, n: usize) {
        if self.rate == 0 {
            return;
        }
        let now = Instant::now();
        let secs = (n as f64 / self.rate as f64).min(CREDIT.as_secs_f64());
        let paid = self.paid_until.max(now) + Duration::from_secs_f64(secs);
        self.paid_until = self.paid_until.max(paid.min(now + CREDIT));
    }

    /// The body waited `d` for room: not the sender's doing.
    fn waited(&mut self, d: Duration) {
        self.paid_until += d;
    }
}

async fn collect(
    mut body: Body,
    pool: Arc<Semaphore>,
    max: usize,
    mut pace: Pace,
) -> Result<(Bytes, Held), IntakeError> {
    let mut held: Option<OwnedSemaphorePermit> = None;
    // The chunks as they came, joined once at the end: a growing buffer would hold up to
    // twice the body while it doubles.
    let mut chunks: Vec<Bytes> = vec![];
    let mut len = 0;
    loop {
        let next = match pace.deadline() {
            Some(at) => tokio::time::timeout_at(at, body.frame())
                .await
                .map_err(|_| IntakeError::TooSlow)?,
            None => body.frame().await,
        };
        let Some(frame) = next else {
            break;
        };
        let frame = frame.map_err(|e| read_error(&e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if len + data.len() > max {
            return Err(IntakeError::TooLarge);
        }
        pace.received(data.len());
        let n = u32::try_from(data.len()).map_err(|_| IntakeError::TooLarge)?;
        let asked = Instant::now();
        let permit = tokio::time::timeout(WAIT_FOR_ROOM, pool.clone().acquire_many_owned(n))
            .await
            .map_err(|_| IntakeError::Busy)?
            .map_err(|_| IntakeError::Busy)?;
        pace.waited(asked.elapsed());
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

    /// A body that sends `first` bytes and then nothing, never ending.
    fn stalling(first: usize) -> Body {
        Body::new(Stalling(Some(Bytes::from(vec![b' '; first]))))
    }

    struct Stalling(Option<Bytes>);

    impl http_body::Body for Stalling {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            match self.0.take() {
                Some(b) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
                None => std::task::Poll::Pending,
            }
        }
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_cut_after_its_credit_however_much_it_sent() {
        let budget = BodyBudget::new(64 << 20, Duration::from_secs(30));
        let started = std::time::Instant::now();
        let cut = budget.read(stalling(900_000), Some(1 << 20), 2 << 20).await;
        assert!(matches!(cut, Err(IntakeError::TooSlow)), "{cut:?}");
        let took = started.elapsed();
        assert!(took >= GRACE && took < Duration::from_secs(10), "{took:?}");
        assert_eq!(
            budget.small.available_permits(),
            16 << 20,
            "its room is free"
        );
        let patient = BodyBudget::new(64 << 20, Duration::from_millis(1500)).with_min_rate(0);
        let timed_out = patient
            .read(stalling(900_000), Some(1 << 20), 2 << 20)
            .await;
        assert!(
            matches!(timed_out, Err(IntakeError::Timeout)),
            "{timed_out:?}"
        );
    }

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
