//! The HTTP edge: one endpoint per forge that caps, verifies, parses, stores and acknowledges.
//! Nothing here calls a forge: the worker does, after the delivery is on disk.

pub mod gate;
pub mod github;
pub mod gitlab;
pub mod gitlab_pipeline;
pub mod intake;
pub mod signature;
pub mod status_check;

use crate::model::{Event, EventPayload};
use crate::store::{DeliveryWriter, Enqueued, Store};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use intake::IntakeError;
use serde_json::json;
use signature::SignatureError;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

/// A body that is not the JSON its event header promises.
#[derive(Debug, thiserror::Error)]
#[error("malformed payload: {0}")]
pub struct ParseError(serde_json::Error);

// Not `#[from]`: that would make the JSON error the source as well, and an error chain
// (`{e:#}`) would print its message twice.
impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError(e)
    }
}

/// What the receiver needs: the store and its delivery writer (which wakes the worker), the
/// secrets.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Group-commits deliveries to `store`.
    pub writer: DeliveryWriter,
    pub github_secrets: Arc<Vec<Vec<u8>>>,
    pub gitlab: Arc<gitlab::GitlabVerifier>,
    /// GitLab external status check shared secrets (`X-Gitlab-Signature`); none: the
    /// status check route answers 401.
    pub status_check_secrets: Arc<Vec<Vec<u8>>>,
    pub allow_unsigned: bool,
    pub max_body_bytes: usize,
    /// Room for bodies being received, shared by all requests.
    pub intake: Arc<intake::BodyBudget>,
    /// Renders /metrics; none when no recorder is installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// False while no valid rules were ever loaded: /readyz fails, deliveries are still stored.
    pub rules_ready: Arc<std::sync::atomic::AtomicBool>,
    /// Why a forge's credentials do not work (a refused token), checked at start: while any
    /// is here the process is not ready.
    pub forge_problems: Arc<std::sync::RwLock<Vec<String>>>,
}

/// The one error type at the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(#[from] SignatureError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the delivery could not be stored; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("{0}")]
    Intake(#[from] intake::IntakeError),
}

impl From<ParseError> for AppError {
    fn from(e: ParseError) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        use intake::IntakeError;
        let status = match &self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::BadRequest(_) | AppError::Intake(IntakeError::Read(_)) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Unavailable(e) => {
                tracing::error!(error = format!("{e:#}"), "cannot store delivery");
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Intake(IntakeError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Intake(IntakeError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Intake(IntakeError::Timeout | IntakeError::TooSlow) => {
                StatusCode::REQUEST_TIMEOUT
            }
        };
        let mut response = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

/// The router, with body cap and request tracing. Tests drive this directly.
pub fn app(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/webhooks/github", post(github_webhook))
        .route("/webhooks/gitlab", post(gitlab_webhook))
        .route(status_check::ROUTE, post(gitlab_status_check))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::from_fn(count_too_large))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Bodies over the limit are refused before any handler runs; count them here.
async fn count_too_large(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let forge = match req.uri().path() {
        "/webhooks/github" => "github",
        "/webhooks/gitlab" | status_check::ROUTE => "gitlab",
        _ => return next.run(req).await,
    };
    let response = next.run(req).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "event" => "other", "outcome" => "too_large").increment(1);
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn event_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, AppError> {
    header(headers, name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| AppError::BadRequest(format!("missing {name} header")))
}

async fn github_webhook(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let event = header(&parts.headers, "x-github-event")
        .unwrap_or("")
        .to_string();
    let result = async {
        // Refuse what cannot be signed before reading a byte of the body.
        if !state.github_secrets.is_empty() {
            github::precheck(header(&parts.headers, "x-hub-signature-256"))?;
        }
        let (body, _held) = read_body(&state, &parts.headers, body).await?;
        github_delivery(&state, &parts.headers, &body).await
    }
    .await;
    let delivery = header(&parts.headers, "x-github-delivery");
    observed("github", &event, delivery, result)
}

async fn gitlab_webhook(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let event = header(&parts.headers, "x-gitlab-event")
        .unwrap_or("")
        .to_string();
    let result = async {
        if state.gitlab.is_configured() {
            state.gitlab.precheck(
                &gitlab_headers(&parts.headers),
                chrono::Utc::now().timestamp(),
            )?;
        }
        let (body, _held) = read_body(&state, &parts.headers, body).await?;
        gitlab_delivery(&state, &parts.headers, &body).await
    }
    .await;
    let delivery = header(&parts.headers, "idempotency-key")
        .or_else(|| header(&parts.headers, "x-gitlab-event-uuid"));
    observed("gitlab", &event, delivery, result)
}

/// GitLab's external status check: verified by `X-Gitlab-Signature`, then taken as a merge
/// request event (a trigger: the worker reads everything it decides on from the API).
async fn gitlab_status_check(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = async {
        let signed = header(&parts.headers, status_check::HEADER);
        status_check::precheck(&state.status_check_secrets, signed)?;
        let (body, _held) = read_body(&state, &parts.headers, body).await?;
        status_check::verify(&state.status_check_secrets, signed, &body)?;
        let mut event = gitlab::parse("Merge Request Hook", None, &body)?;
        event.event_name = "Status Check".into();
        // Signed without an id or a time: a replayed body is a duplicate within its window.
        let now = state.store.clock().now_ms();
        event.delivery_id = Some(status_check::delivery_id(&body, now));
        accept(&state, event).await
    }
    .await;
    observed("gitlab", "Status Check", None, result)
}

/// The body, read within the shared budget; the room it holds is released when `Held` drops.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(Bytes, intake::Held), AppError> {
    let declared = header(headers, "content-length").and_then(|v| v.trim().parse().ok());
    Ok(state
        .intake
        .read(body, declared, state.max_body_bytes)
        .await?)
}

fn gitlab_headers(headers: &HeaderMap) -> gitlab::GitlabHeaders<'_> {
    gitlab::GitlabHeaders {
        token: header(headers, "x-gitlab-token"),
        webhook_id: header(headers, "webhook-id"),
        webhook_timestamp: header(headers, "webhook-timestamp"),
        webhook_signature: header(headers, "webhook-signature"),
    }
}

/// Counts the delivery by forge, event and outcome, and answers.
fn observed(
    forge: &'static str,
    event: &str,
    delivery: Option<&str>,
    result: Result<(StatusCode, &'static str), AppError>,
) -> Response {
    if let Err(e) = &result
        && !matches!(e, AppError::Unavailable(_))
    {
        // The delivery id is the sender's to choose: shown, never trusted.
        let delivery: String = delivery.unwrap_or("none").chars().take(100).collect();
        tracing::warn!(
            forge,
            delivery,
            error = %e,
            "webhook refused"
        );
    }
    let outcome = match &result {
        Ok((_, status)) => *status,
        Err(AppError::Unauthorized(_)) => {
            metrics::counter!(crate::telemetry::SIGNATURE_FAILURES, "forge" => forge).increment(1);
            "unauthorized"
        }
        Err(AppError::BadRequest(_)) | Err(AppError::Intake(IntakeError::Read(_))) => "bad_request",
        Err(AppError::Unavailable(_)) | Err(AppError::Intake(IntakeError::Busy)) => "unavailable",
        Err(AppError::Intake(IntakeError::TooLarge)) => "too_large",
        Err(AppError::Intake(IntakeError::Timeout)) => "timeout",
        Err(AppError::Intake(IntakeError::TooSlow)) => "too_slow",
    };
    // Unknown event names are not labels: they would grow the metric without bound.
    let event = if outcome == "ignored" || outcome == "unauthorized" {
        "other"
    } else {
        crate::telemetry::event_label(forge, event)
    };
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "event" => event, "outcome" => outcome)
        .increment(1);
    match result {
        Ok((code, status)) => (code, Json(json!({ "status": status }))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn github_delivery(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, &'static str), AppError> {
    if state.github_secrets.is_empty() {
        if !state.allow_unsigned {
            return Err(SignatureError::NotConfigured.into());
        }
    } else {
        github::verify(
            &state.github_secrets,
            header(headers, "x-hub-signature-256"),
            body,
        )?;
    }
    let name = event_header(headers, "x-github-event")?;
    let delivery = header(headers, "x-github-delivery").map(str::to_string);
    let event = github::parse(name, delivery, body)?;
    accept(state, event).await
}

async fn gitlab_delivery(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, &'static str), AppError> {
    if !state.gitlab.is_configured() {
        if !state.allow_unsigned {
            return Err(SignatureError::NotConfigured.into());
        }
    } else {
        state.gitlab.verify(
            &gitlab_headers(headers),
            body,
            chrono::Utc::now().timestamp(),
        )?;
    }
    let name = event_header(headers, "x-gitlab-event")?;
    // With a signing token, `webhook-id` is signed with the body: a replay under a new,
    // unsigned Idempotency-Key must still be a duplicate. Otherwise Idempotency-Key (stable
    // across retries and "Resend Request"), then the older UUID.
    let delivery = if state.gitlab.signs() {
        header(headers, "webhook-id")
    } else {
        header(headers, "idempotency-key")
            .or(header(headers, "x-gitlab-event-uuid"))
            .or(header(headers, "webhook-id"))
    }
    .map(str::to_string);
    let event = gitlab::parse(name, delivery, body)?;
    accept(state, event).await
}

/// Stores a change event (acknowledging only once it is durable) or acknowledges the rest.
async fn accept(state: &AppState, event: Event) -> Result<(StatusCode, &'static str), AppError> {
    let delivery = event.delivery_id.clone().unwrap_or_default();
    // The bot's own timers are deliveries with ids of these forms: a webhook taking one first
    // would keep the timer from ever being scheduled.
    if crate::store::is_internal_delivery(&delivery) {
        return Err(AppError::BadRequest(format!(
            "delivery id `{delivery}` is reserved for changegate's own timers"
        )));
    }
    match &event.payload {
        EventPayload::Ping { .. } => {
            tracing::info!(forge = %event.forge, delivery, "ping");
            Ok((StatusCode::OK, "pong"))
        }
        EventPayload::Ignored { reason } => {
            tracing::debug!(forge = %event.forge, delivery, reason, "ignored");
            Ok((StatusCode::ACCEPTED, "ignored"))
        }
        EventPayload::PeriodBoundary { .. } => Ok((StatusCode::ACCEPTED, "ignored")),
        EventPayload::Deployment(d) => {
            let span = tracing::info_span!(
                "delivery",
                forge = %event.forge,
                repo = %d.repo.path,
                environment = %d.environment,
                delivery = %delivery,
            );
            let queued = state
                .store
                .enqueue_deployment(&event, d, None)
                .instrument(span)
                .await
                .map_err(AppError::Unavailable)?;
            if queued {
                // The worker's idle poll finds it (no change key to wake by).
                Ok((StatusCode::ACCEPTED, "queued"))
            } else {
                Ok((StatusCode::OK, "duplicate"))
            }
        }
        EventPayload::Change(change) => {
            let span = tracing::info_span!(
                "delivery",
                forge = %event.forge,
                repo = %change.change.repo.path,
                number = change.change.number,
                delivery = %delivery,
            );
            store_change(state, &event).instrument(span).await
        }
    }
}

async fn store_change(
    state: &AppState,
    event: &Event,
) -> Result<(StatusCode, &'static str), AppError> {
    match state
        .writer
        .enqueue(event.clone())
        .await
        .map_err(AppError::Unavailable)?
    {
        Enqueued::New { .. } => {
            if let Some(c) = event.change() {
                tracing::info!(event = %event.event_name, action = %c.forge_action, "queued");
            }
            Ok((StatusCode::ACCEPTED, "queued"))
        }
        Enqueued::Duplicate => {
            tracing::info!("duplicate delivery acknowledged, not processed again");
            Ok((StatusCode::OK, "duplicate"))
        }
    }
}

/// Ready when the store answers, valid rules are loaded and every worker loop started is
/// still running (deliveries acknowledged with no loop to process them would only queue).
async fn readyz(State(state): State<AppState>) -> Response {
    let rules = state.rules_ready.load(std::sync::atomic::Ordering::Relaxed);
    let store = state.store.ping().await;
    let lost = state.writer.workers_lost();
    let forges: Vec<String> = state
        .forge_problems
        .read()
        .map(|p| p.clone())
        .unwrap_or_else(|_| vec!["the forge check could not be read".into()]);
    let code = if rules && store && lost == 0 && forges.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "store": store, "rules": rules, "workers_lost": lost, "forges": forges });
    (code, Json(body)).into_response()
}

/// Prometheus metrics; queue depth and age, and emergencies owing approvals, are sampled now.
async fn metrics_page(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled").into_response();
    };
    if let Ok((depth, age)) = state.store.queue_stats().await {
        metrics::gauge!(crate::telemetry::QUEUE_DEPTH).set(depth as f64);
        metrics::gauge!(crate::telemetry::QUEUE_AGE).set(age);
    }
    if let Ok((owing, overdue)) = state.store.owed_emergencies_count().await {
        metrics::gauge!(crate::telemetry::EMERGENCIES_OWED, "state" => "owed")
            .set((owing - overdue) as f64);
        metrics::gauge!(crate::telemetry::EMERGENCIES_OWED, "state" => "overdue")
            .set(overdue as f64);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}
