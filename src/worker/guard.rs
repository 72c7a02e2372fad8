//! A job that panics fails alone: the panic is caught where the job's future is polled, the
//! job fails for good (an error status on its change), and the worker loop goes on. Without
//! this, one input that panicked on every evaluation killed the loops one by one while the
//! receiver kept acknowledging deliveries.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

/// A job's run panicked; the message is the panic's.
#[derive(Debug, thiserror::Error)]
#[error("the job panicked: {0}")]
pub struct Panicked(pub String);

/// `work`, with a panic while it is polled turned into [`Panicked`].
pub(super) fn catch_panic<F: Future>(work: F) -> CatchPanic<F> {
    CatchPanic(Box::pin(work))
}

pub(super) struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let work = self.0.as_mut();
        // Unwind safety: after a panic the future is dropped, never polled again, and the
        // state it shares (the job's audit records, caches) is behind poison-tolerant locks.
        match std::panic::catch_unwind(AssertUnwindSafe(|| work.poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(Panicked(message(payload.as_ref())))),
        }
    }
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Deliveries whose job panics on purpose: tests show with it that a panicking job leaves
/// its loop running. Empty in production; nothing but tests adds to it.
static PROVOKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Makes the job of delivery `id` panic when it runs (tests only).
#[doc(hidden)]
pub fn panic_on_delivery_for_tests(id: &str) {
    PROVOKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(id.to_string());
}

/// Panics when a test asked for this delivery's job to.
pub(super) fn provoked(delivery: Option<&str>) {
    let Some(id) = delivery else {
        return;
    };
    let hit = PROVOKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|p| p == id);
    if hit {
        panic!("provoked by a test for delivery {id}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_inside_a_future_becomes_an_error_and_output_passes_through() {
        assert_eq!(catch_panic(async { 7 }).await.unwrap(), 7);
        let caught = catch_panic(async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = vec![];
            v[usize::from(v.is_empty())]
        })
        .await;
        let err = caught.unwrap_err();
        assert!(err.0.contains("index out of bounds"), "{err}");
    }
}
