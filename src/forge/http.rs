//! What both forge clients share: reading a reply, classifying failures, and the one retry
//! policy (capped exponential backoff with jitter, honouring `Retry-After` and rate-limit resets).

use super::ForgeError;
use ::http::HeaderMap;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// A forge's answer, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads a response whole (status, headers, body).
    pub async fn read<B>(resp: ::http::Response<B>) -> Result<Reply, ForgeError>
    where
        B: http_body::Body,
        B::Error: std::fmt::Display,
    {
        use http_body_util::BodyExt;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ForgeError::Transient(format!("reading the reply: {e}")))?
            .to_bytes()
            .to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Counts a GraphQL call (forge, what it does, status) without counting a REST unit: its
    /// points are counted from the `rateLimit` its answer states. What is left of GraphQL's own
    /// budget is recorded under `budget` when the answer's headers say it.
    pub fn observe_points(self, forge: &'static str, budget: &str, what: &str) -> Self {
        metrics::counter!(crate::telemetry::FORGE_CALLS, "forge" => forge, "endpoint" => what.to_string(), "status" => self.status.to_string())
            .increment(1);
        let number = |a: &str| self.header(a).and_then(|v| v.trim().parse::<i64>().ok());
        if let Ok(kind) = forge.parse::<crate::model::Forge>() {
            super::quota::record(
                kind,
                budget,
                number("x-ratelimit-remaining"),
                number("x-ratelimit-limit"),
                number("x-ratelimit-reset"),
            );
        }
        self
    }

    /// Counts the call (forge, what it does, status) and records the rate limit left for the
    /// credential `token` names (never the credential itself, see [`super::quota::token_label`]).
    pub fn observe(self, forge: &'static str, token: &str, what: &str) -> Self {
        let what = what.to_string();
        metrics::counter!(crate::telemetry::FORGE_CALLS, "forge" => forge, "endpoint" => what, "status" => self.status.to_string())
            .increment(1);
        if self.status != 304 {
            metrics::counter!(crate::telemetry::QUOTA_UNITS, "forge" => forge).increment(1);
            super::quota::spend();
        }
        let number = |a: &str, b: &str| {
            self.header(a)
                .or(self.header(b))
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        // GitHub counts search and GraphQL apart from the REST core the bot spends.
        if self
            .header("x-ratelimit-resource")
            .is_some_and(|r| r != "core")
        {
            return self;
        }
        let remaining = number("x-ratelimit-remaining", "ratelimit-remaining");
        let limit = number("x-ratelimit-limit", "ratelimit-limit");
        let reset = number("x-ratelimit-reset", "ratelimit-reset");
        if let Some(left) = remaining {
            metrics::gauge!(crate::telemetry::RATE_LIMIT_REMAINING, "forge" => forge, "token" => token.to_string())
                .set(left as f64);
        }
        if let Ok(kind) = forge.parse::<crate::model::Forge>() {
            super::quota::record(kind, token, remaining, limit, reset);
        }
        self
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ForgeError> {
        serde_json::from_slice(&self.body).map_err(|e| ForgeError::Decode(e.to_string()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error this reply stands for, if it is not a success.
    pub fn check(self, what: &str) -> Result<Reply, ForgeError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        if let Some(wait) = self.rate_limit_wait() {
            return Err(ForgeError::RateLimited { retry_after: wait });
        }
        let message = self.message();
        Err(match self.status {
            404 => ForgeError::NotFound(what.to_string()),
            s if s >= 500 => ForgeError::Transient(format!("{what}: {s} {message}")),
            s => ForgeError::Refused {
                status: s,
                message: format!("{what}: {message}"),
            },
        })
    }

    /// The API's own error message, shortened; never the request.
    fn message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct ApiError {
            message: Option<serde_json::Value>,
            error: Option<serde_json::Value>,
        }
        let text = serde_json::from_slice::<ApiError>(&self.body)
            .ok()
            .and_then(|e| e.message.or(e.error))
            .map(|m| match m {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_default();
        text.chars().take(200).collect()
    }

    /// 429, GitHub's secondary rate limit (403 with a message), or an exhausted primary limit.
    fn rate_limit_wait(&self) -> Option<Duration> {
        let retry_after = self.header("retry-after").and_then(parse_retry_after);
        let exhausted = self.header("x-ratelimit-remaining") == Some("0");
        let secondary = self.status == 403 && self.message().to_lowercase().contains("rate limit");
        if self.status != 429
            && !(self.status == 403 && (exhausted || secondary || retry_after.is_some()))
        {
            return None;
        }
        let reset = self
            .header("x-ratelimit-reset")
            .and_then(|r| r.parse::<i64>().ok())
            .map(|epoch| {
                // Checked: the header is the forge's to write, whatever its value.
                let left = epoch.saturating_sub(chrono::Utc::now().timestamp());
                Duration::from_secs(left.max(1).unsigned_abs())
            });
        // GitHub's docs: without either header, wait at least a minute.
        Some(retry_after.or(reset).unwrap_or(Duration::from_secs(60)))
    }
}

/// `Retry-After` in seconds or as an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let secs = (when
        .timestamp()
        .saturating_sub(chrono::Utc::now().timestamp()))
    .max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

/// The one retry policy for forge calls.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// First backoff; doubled on each retry.
    pub base: Duration,
    /// Longest backoff between two tries.
    pub cap: Duration,
    /// A rate-limit wait longer than this is not slept in place: the job is requeued instead.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Runs `call` until it succeeds, fails for good, or the tries run out. A call that is
    /// not idempotent (creating a comment) is tried once: the job's retry re-reads first.
    pub async fn run<T, F, Fut>(&self, idempotent: bool, mut call: F) -> Result<T, ForgeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ForgeError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let last = !idempotent || attempt >= self.attempts;
            let wait = match &err {
                ForgeError::RateLimited { retry_after } if *retry_after <= self.max_wait => {
                    *retry_after
                }
                ForgeError::Transient(_) => self.backoff(attempt),
                _ => return Err(err),
            };
            if last {
                return Err(err);
            }
            tracing::debug!(error = %err, attempt, wait_ms = wait.as_millis() as u64, "retrying forge call");
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1 << (attempt - 1).min(16));
        let capped = exp.min(self.cap);
        // Jitter up to a quarter of the wait, so that workers do not retry in step.
        let jitter_ms = (chrono::Utc::now().timestamp_subsec_nanos() as u64 % 1000)
            * capped.as_millis() as u64
            / 4000;
        capped + Duration::from_millis(jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                ::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Reply {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn classification() {
        assert!(reply(200, &[], "").check("x").is_ok());
        assert_eq!(
            reply(404, &[], "").check("x").unwrap_err(),
            ForgeError::NotFound("x".into())
        );
        assert!(matches!(
            reply(502, &[], "").check("x"),
            Err(ForgeError::Transient(_))
        ));
        assert_eq!(
            reply(429, &[("retry-after", "7")], "")
                .check("x")
                .unwrap_err(),
            ForgeError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        let secondary = reply(
            403,
            &[],
            r#"{"message":"You have exceeded a secondary rate limit"}"#,
        );
        assert_eq!(
            secondary.check("x").unwrap_err(),
            ForgeError::RateLimited {
                retry_after: Duration::from_secs(60)
            }
        );
        let reset = (chrono::Utc::now().timestamp() + 120).to_string();
        let primary = reply(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            "{}",
        );
        let ForgeError::RateLimited { retry_after } = primary.check("x").unwrap_err() else {
            panic!()
        };
        assert!(retry_after.as_secs() >= 100 && retry_after.as_secs() <= 120);
        // Values at i64's limits are waits, not overflows (a panic in the job).
        for reset in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let extreme = reply(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
                "{}",
            );
            assert!(matches!(
                extreme.check("x"),
                Err(ForgeError::RateLimited { .. })
            ));
        }
        let refused = reply(
            403,
            &[],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert_eq!(
            refused.check("add labels").unwrap_err(),
            ForgeError::Refused {
                status: 403,
                message: "add labels: Resource not accessible by integration".into()
            }
        );
    }

    #[tokio::test]
    async fn retries_transient_failures_then_gives_up() {
        let policy = RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_wait: Duration::from_millis(50),
        };
        let mut calls = 0;
        let r: Result<u8, _> = policy
            .run(true, || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(ForgeError::Transient("502".into()))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<u8, _> = policy
            .run(true, || {
                calls += 1;
                async { Err(ForgeError::Transient("502".into())) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r: Result<u8, _> = policy
            .run(false, || {
                calls += 1;
                async { Err(ForgeError::Transient("502".into())) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1, "non-idempotent calls are not retried in place");
        let mut calls = 0;
        let long = ForgeError::RateLimited {
            retry_after: Duration::from_secs(3600),
        };
        let r: Result<u8, _> = policy
            .run(true, || {
                calls += 1;
                let e = long.clone();
                async move { Err(e) }
            })
            .await;
        assert_eq!(
            r,
            Err(long),
            "a long rate-limit wait goes back to the queue"
        );
        assert_eq!(calls, 1);
    }
}
