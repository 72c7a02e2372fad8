//! Pages people look at: a details page behind every status (signed, expiring link bound to
//! the change) and an audit page per repository (`server.audit_token`). Server-rendered HTML
//! (askama escapes every forge-provided string), no scripts, a strict Content-Security-Policy.

mod audit_view;
mod deploy_views;
mod headline;
pub mod links;
mod views;

use crate::evidence::{DecisionEvidence, Evidence};
use crate::model::Forge;
use crate::store::Store;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use links::Links;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct PagesState {
    pub store: Store,
    pub links: Arc<Links>,
    /// The audit pages' token; `None` turns them off.
    pub audit_token: Option<Arc<SecretString>>,
    /// The classification scope (`CMT`) for the audit page.
    pub classification: String,
}

pub fn router(state: PagesState) -> Router {
    Router::new()
        .route("/changes/{forge}/{*rest}", get(details))
        .route("/audit", get(audit_index))
        .route("/audit/{forge}/{*repo}", get(audit))
        .route("/deployments/{id}", get(deployment))
        .route("/static/changegate.css", get(stylesheet))
        .with_state(state)
}

/// No script, no frames, styles and images from here only; no referrer (links carry tokens).
fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    r
}

/// The same answer whether the change exists or the token is wrong.
fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        views::message(
            "Not found",
            "There is no page here, or the link is not valid (any more). Follow the link in the change's status on the forge.",
        ),
    )
}

async fn stylesheet() -> Response {
    let mut r = include_str!("../../assets/changegate.css").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

async fn details(
    State(s): State<PagesState>,
    Path((forge, rest)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(forge) = forge.parse::<Forge>() else {
        return not_found();
    };
    let Some((repo, kind, number)) = split_change(&rest) else {
        return not_found();
    };
    let path = links::page_path(forge.as_str(), repo, kind, number);
    let now = s.store.clock().now();
    let token = q.get("token").map(String::as_str).unwrap_or("");
    if !s.links.check(&path, token, now) {
        return not_found();
    }
    let rows = match s
        .store
        .audit_rows(forge.as_str(), repo, Some(number), 0)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return unavailable(e),
    };
    let mut decided: Vec<(i64, DecisionEvidence, Option<String>)> = vec![];
    for row in rows.iter().filter(|r| r.kind == "decision") {
        match Evidence::read(&row.kind, &row.detail) {
            Ok(Evidence::Decision(ev)) if ev.change.kind.as_str() == kind => {
                decided.push((row.at, *ev, row.rules_hash.clone()))
            }
            Ok(_) => {}
            Err(e) => return unavailable(e),
        }
    }
    if decided.is_empty() {
        return not_found();
    }
    // A dry run's actions are on record as such: the page says so instead of reading as live.
    let dry_run = rows
        .iter()
        .rev()
        .find(|r| r.kind == "action")
        .is_some_and(|r| r.detail["dry_run"] == true);
    match views::details(forge, repo, number, &decided, dry_run) {
        Ok(html) => page(StatusCode::OK, html),
        Err(e) => unavailable(e),
    }
}

/// `acme/platypus/merge_request/7` → (`acme/platypus`, `merge_request`, 7).
fn split_change(rest: &str) -> Option<(&str, &str, u64)> {
    let (head, number) = rest.trim_end_matches('/').rsplit_once('/')?;
    let (repo, kind) = head.rsplit_once('/')?;
    let number = number.parse().ok()?;
    matches!(kind, "merge_request" | "issue").then_some((repo, kind, number))
}

/// One deployment decision's page, behind its signed link.
async fn deployment(
    State(s): State<PagesState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q.get("token").map(String::as_str).unwrap_or("");
    if !s
        .links
        .check(&links::deployment_path(&id), token, s.store.clock().now())
    {
        return not_found();
    }
    match s.store.deploy_decision(&id).await {
        Ok(Some(d)) => match deploy_views::details(&d) {
            Ok(html) => page(StatusCode::OK, html),
            Err(e) => unavailable(e),
        },
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

fn unavailable(e: anyhow::Error) -> Response {
    tracing::error!(error = format!("{e:#}"), "cannot render a page");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        views::message(
            "Unavailable",
            "changegate cannot read its records right now.",
        ),
    )
}

/// Bearer, or HTTP basic with the token as password (any user name).
fn authorized(headers: &HeaderMap, token: &SecretString) -> bool {
    use base64::Engine;
    use subtle::ConstantTimeEq;
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let given = if let Some(b) = value.strip_prefix("Bearer ") {
        b.trim().to_string()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .unwrap_or_default();
        decoded
            .split_once(':')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default()
    } else {
        return false;
    };
    let expected = token.expose_secret().as_bytes();
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected))
}

/// Why the audit pages are not shown: off (404) or no valid token (401 asking for it).
fn audit_refusal(s: &PagesState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &s.audit_token else {
        return Some(not_found());
    };
    if authorized(headers, token) {
        return None;
    }
    let mut r = page(
        StatusCode::UNAUTHORIZED,
        views::message("Sign in", "The audit pages need the audit token."),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"changegate audit\""),
    );
    Some(r)
}

async fn audit(
    State(s): State<PagesState>,
    Path((forge, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = audit_refusal(&s, &headers) {
        return refused;
    }
    let Ok(forge) = forge.parse::<Forge>() else {
        return not_found();
    };
    let repo = repo.trim_end_matches('/');
    let rows = match s.store.audit_rows(forge.as_str(), repo, None, 0).await {
        Ok(rows) => rows,
        Err(e) => return unavailable(e),
    };
    let mut records = match crate::report::build(&rows, &s.classification) {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let head = s
        .store
        .audit_head(forge.as_str(), repo)
        .await
        .ok()
        .flatten();
    for r in &mut records {
        r.chain_head = head.clone();
    }
    let filter = audit_view::AuditFilter::from_query(&q);
    records.retain(|r| filter.keeps(r));
    match q.get("format").map(String::as_str) {
        Some("csv") => {
            let mut r = crate::report::to_csv(&records).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            r
        }
        Some("json") => axum::Json(records).into_response(),
        _ => {
            let decisions = match s.store.deploy_decisions(forge.as_str(), repo, 0).await {
                Ok(d) => d,
                Err(e) => return unavailable(e),
            };
            let now = s.store.clock().now();
            let deployments = deploy_views::rows(&decisions, |id| {
                let path = links::deployment_path(id);
                format!("{path}?token={}", s.links.token(&path, now))
            });
            let details = |r: &crate::report::ChangeRecord| {
                let kind = match r.kind.as_str() {
                    "issue" => crate::model::ChangeKind::Issue,
                    _ => crate::model::ChangeKind::MergeRequest,
                };
                s.links.url_for(forge, repo, kind, r.number, now)
            };
            match audit_view::audit(
                forge,
                repo,
                &filter,
                &records,
                head.as_deref(),
                deployments,
                &details,
            ) {
                Ok(html) => page(StatusCode::OK, html),
                Err(e) => unavailable(e),
            }
        }
    }
}

/// `/audit`: the repositories with records, behind the audit token.
async fn audit_index(State(s): State<PagesState>, headers: HeaderMap) -> Response {
    if let Some(refused) = audit_refusal(&s, &headers) {
        return refused;
    }
    let rendered = match s.store.audited_repositories().await {
        Ok(list) => audit_view::audit_index(&list),
        Err(e) => Err(e),
    };
    match rendered {
        Ok(html) => page(StatusCode::OK, html),
        Err(e) => unavailable(e),
    }
}
