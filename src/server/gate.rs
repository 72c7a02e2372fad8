//! `GET /gate?forge=F&repo=R&sha=SHA&environment=E`: the deployment gate a CI job asks
//! (`curl --fail`). Bearer token compared in constant time (`server.gate_token`, or a
//! repository's own in `server.gate_tokens`); 401 without a valid one. The decision is made
//! and recorded like a forge's question: 200 only for allow, 403 for deny and wait.

use crate::model::{Forge, Repo, RepoPath};
use crate::policy::deploy::Outcome;
use crate::worker::Worker;
use crate::worker::deploy::DeployRequest;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What the gate needs.
#[derive(Clone)]
pub struct GateState {
    pub worker: Worker,
    /// Valid for every repository.
    pub token: Option<Arc<SecretString>>,
    /// Valid for one repository of one forge each (`forge:path`, compared without case): a
    /// path alone names a repository on either forge, so it opens nothing.
    pub tokens: Arc<BTreeMap<String, SecretString>>,
}

impl GateState {
    /// Whether the gate is on (some token configured).
    pub fn enabled(&self) -> bool {
        self.token.is_some() || !self.tokens.is_empty()
    }
}

/// The router of `/gate` (off without a token: 404).
pub fn router(state: GateState) -> axum::Router {
    if !state.enabled() {
        return axum::Router::new();
    }
    axum::Router::new()
        .route("/gate", get(gate))
        .with_state(state)
}

#[derive(Deserialize)]
struct GateQuery {
    forge: Option<String>,
    repo: Option<String>,
    sha: Option<String>,
    environment: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `given` opens the gate for `repo` on `forge`: the global token, or the
/// repository's own. Every configured token is compared, so timing says nothing of which.
fn authorized(s: &GateState, given: &str, forge: &str, repo: &str) -> bool {
    let global = s
        .token
        .as_ref()
        .is_some_and(|t| equal(t.expose_secret(), given));
    let own = repository_token(&s.tokens, given, forge, repo);
    global | own
}

/// Whether `given` is the token of `forge:repo` (every token compared).
fn repository_token(
    tokens: &BTreeMap<String, SecretString>,
    given: &str,
    forge: &str,
    repo: &str,
) -> bool {
    let wanted = format!("{forge}:{}", repo.to_lowercase());
    let mut ok = false;
    for (key, token) in tokens.iter() {
        let for_repo = key.to_lowercase() == wanted;
        let matches = equal(token.expose_secret(), given);
        ok |= for_repo && matches;
    }
    ok
}

/// Why the per-repository tokens cannot be used: a key that does not name its forge
/// (`github:acme/shop`, `gitlab:group/project`) would be valid for a repository of that path
/// on either forge.
pub fn tokens_refusal(tokens: &BTreeMap<String, SecretString>) -> Option<String> {
    let bad: Vec<&str> = tokens
        .keys()
        .filter(|k| {
            let k = k.to_lowercase();
            !["github:", "gitlab:"]
                .iter()
                .any(|p| k.strip_prefix(p).is_some_and(|path| path.contains('/')))
        })
        .map(String::as_str)
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "server.gate_tokens keys must name the forge and the repository (`github:acme/shop`, `gitlab:group/project`): {}",
            bad.join(", ")
        )
    })
}

fn answer(status: StatusCode, decision: &str, reasons: Vec<String>) -> Response {
    let body = json!({ "decision": decision, "reasons": reasons, "until": null });
    (status, Json(body)).into_response()
}

async fn gate(
    State(s): State<GateState>,
    headers: HeaderMap,
    Query(q): Query<GateQuery>,
) -> Response {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let (Some(forge), Some(repo), Some(sha), Some(environment)) =
        (&q.forge, &q.repo, &q.sha, &q.environment)
    else {
        if bearer.is_none() {
            return answer(
                StatusCode::UNAUTHORIZED,
                "deny",
                vec!["a Bearer token is needed".into()],
            );
        }
        return answer(
            StatusCode::BAD_REQUEST,
            "deny",
            vec!["forge, repo, sha and environment are all needed".into()],
        );
    };
    let Some(token) = bearer.filter(|t| authorized(&s, t, forge, repo)) else {
        return answer(
            StatusCode::UNAUTHORIZED,
            "deny",
            vec!["a valid Bearer token for this repository is needed".into()],
        );
    };
    let _ = token;
    let forge = match forge.as_str() {
        "github" => Forge::Github,
        "gitlab" => Forge::Gitlab,
        other => {
            return answer(
                StatusCode::BAD_REQUEST,
                "deny",
                vec![format!("unknown forge `{other}`: github or gitlab")],
            );
        }
    };
    let Some(connected) = s.worker.forges.get(forge) else {
        return answer(
            StatusCode::FORBIDDEN,
            "deny",
            vec![format!(
                "changegate has no {} token: it cannot verify the deployment",
                forge.display_name()
            )],
        );
    };
    let req = DeployRequest {
        forge,
        repo: Repo {
            path: RepoPath::new(repo),
            id: None,
        },
        environment: environment.clone(),
        sha: sha.clone(),
        git_ref: q.git_ref.clone(),
        default_branch: None,
        deployment_id: None,
        source: "gate",
        delivery_id: None,
    };
    let span =
        tracing::info_span!("gate", forge = %forge, repo = %repo, environment = %environment);
    let decided = match tracing::Instrument::instrument(
        s.worker
            .decide_deployment(&connected.client, &connected.bot, &req),
        span,
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the gate could not decide");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "deny",
                vec!["changegate could not decide now; try again".into()],
            );
        }
    };
    let d = decided.decision;
    let status = if d.decision == Outcome::Allow {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let body = json!({
        "decision": d.decision,
        "reasons": d.reasons,
        "until": d.until,
        "expires": d.expires,
        "id": decided.id,
    });
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(keys: &[&str]) -> BTreeMap<String, SecretString> {
        keys.iter()
            .map(|k| (k.to_string(), SecretString::from(format!("t-{k}"))))
            .collect()
    }

    #[test]
    fn a_repository_token_opens_its_repository_on_its_forge_only() {
        let t = tokens(&["github:Acme/Shop", "acme/api"]);
        assert_eq!(
            tokens_refusal(&t).as_deref(),
            Some(
                "server.gate_tokens keys must name the forge and the repository (`github:acme/shop`, `gitlab:group/project`): acme/api"
            )
        );
        assert_eq!(tokens_refusal(&tokens(&["gitlab:group/sub/project"])), None);
        assert!(tokens_refusal(&tokens(&["gitlab:"])).is_some());
        let key = "t-github:Acme/Shop";
        assert!(repository_token(&t, key, "github", "acme/shop"));
        assert!(
            !repository_token(&t, key, "gitlab", "acme/shop"),
            "the same path on GitLab"
        );
        assert!(!repository_token(&t, key, "github", "acme/other"));
        // A key without its forge opens nothing.
        assert!(!repository_token(&t, "t-acme/api", "github", "acme/api"));
        assert!(!repository_token(&t, "t-acme/api", "gitlab", "acme/api"));
    }
}
