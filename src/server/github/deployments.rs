//! GitHub's deployment webhooks: `deployment_protection_rule` (a run waits on the App's
//! custom protection rule), `deployment` and `deployment_status`.
//!
//! Shapes from octokit/webhooks' examples (tests/fixtures) and GitHub's published webhook
//! schema (`deployment_protection_rule` has no captured example; see tests/fixtures/README.md).

use super::{WireRepo, WireUser};
use crate::model::{
    DeploymentEvent, DeploymentEventKind, DeploymentState, EventPayload, Repo, User, parse_time,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A payload that parses as JSON but lacks what the event is about: refused (400).
fn malformed(what: &str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(what)
}

#[derive(Deserialize)]
struct WireDeployment {
    id: Option<u64>,
    sha: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    environment: Option<String>,
    creator: Option<WireUser>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct WirePull {
    number: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct ProtectionRule {
    action: Option<String>,
    environment: Option<String>,
    sha: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    deployment_callback_url: Option<String>,
    deployment: Option<WireDeployment>,
    #[serde(default)]
    pull_requests: Option<Vec<WirePull>>,
    repository: Option<WireRepo>,
    sender: Option<WireUser>,
}

#[derive(Deserialize)]
pub(super) struct DeploymentCreated {
    action: Option<String>,
    deployment: Option<WireDeployment>,
    repository: Option<WireRepo>,
    sender: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireStatus {
    state: Option<String>,
    environment: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct StatusCreated {
    action: Option<String>,
    deployment_status: Option<WireStatus>,
    deployment: Option<WireDeployment>,
    repository: Option<WireRepo>,
    sender: Option<WireUser>,
}

fn repo(r: &Option<WireRepo>) -> Result<Repo, serde_json::Error> {
    r.as_ref()
        .map(Repo::from)
        .ok_or_else(|| malformed("the payload names no repository"))
}

fn default_branch(r: &Option<WireRepo>) -> Option<String> {
    r.as_ref().and_then(|r| nonempty(&r.default_branch))
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(parse_time)
}

fn ignored(event: &str, action: &str) -> EventPayload {
    EventPayload::Ignored {
        reason: format!("`{event}` action `{action}` is not one changegate acts on"),
    }
}

/// The run id of `…/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`.
/// Only read: the bot answers on a URL it builds from the repository and this id, never on
/// a URL a payload names.
pub fn run_id_of_callback(url: &str) -> Option<u64> {
    let path = url.split(['?', '#']).next()?;
    let (_, rest) = path.rsplit_once("/actions/runs/")?;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if tail.trim_end_matches('/') != "deployment_protection_rule" {
        return None;
    }
    id.parse().ok().filter(|&n| n > 0)
}

pub(super) fn protection_rule(p: ProtectionRule) -> Result<EventPayload, serde_json::Error> {
    let action = p.action.as_deref().unwrap_or("");
    if action != "requested" {
        return Ok(ignored("deployment_protection_rule", action));
    }
    let repo = repo(&p.repository)?;
    let environment = nonempty(&p.environment)
        .ok_or_else(|| malformed("deployment_protection_rule without an environment"))?;
    let run_id = p
        .deployment_callback_url
        .as_deref()
        .and_then(run_id_of_callback)
        .ok_or_else(|| {
            malformed("deployment_callback_url does not name a workflow run's protection rule")
        })?;
    let d = p.deployment.as_ref();
    // The schema puts the commit in `deployment.sha`; some deliveries also carry a top-level
    // `sha`. Two different commits are a contradiction, refused; none is left to the gate to
    // deny.
    let deployed = d.and_then(|d| nonempty(&d.sha));
    if let (Some(top), Some(deployed)) = (nonempty(&p.sha), &deployed)
        && !top.eq_ignore_ascii_case(deployed)
    {
        return Err(malformed(
            "deployment_protection_rule names two different commits (sha, deployment.sha)",
        ));
    }
    let sha = deployed.or_else(|| nonempty(&p.sha));
    let git_ref = nonempty(&p.git_ref).or_else(|| d.and_then(|d| nonempty(&d.git_ref)));
    Ok(EventPayload::Deployment(Box::new(DeploymentEvent {
        repo,
        kind: DeploymentEventKind::ProtectionRequested { run_id },
        environment,
        sha,
        git_ref,
        default_branch: default_branch(&p.repository),
        deployment_id: d.and_then(|d| d.id),
        creator: d.and_then(|d| d.creator.as_ref()).map(User::from),
        actor: super::user(&p.sender),
        at: d.and_then(|d| time(&d.created_at)),
        pull_requests: p
            .pull_requests
            .unwrap_or_default()
            .iter()
            .filter_map(|pr| pr.number)
            .collect(),
    })))
}

/// A deployment's id, environment and SHA: without them the event is about nothing.
fn deployment_of(
    event: &str,
    d: &Option<WireDeployment>,
) -> Result<(u64, String, String), serde_json::Error> {
    let d = d
        .as_ref()
        .ok_or_else(|| malformed(&format!("`{event}` without a deployment")))?;
    let id =
        d.id.ok_or_else(|| malformed(&format!("`{event}` deployment without an id")))?;
    let env = nonempty(&d.environment)
        .ok_or_else(|| malformed(&format!("`{event}` deployment without an environment")))?;
    let sha = nonempty(&d.sha)
        .ok_or_else(|| malformed(&format!("`{event}` deployment without a sha")))?;
    Ok((id, env, sha))
}

pub(super) fn deployment(p: DeploymentCreated) -> Result<EventPayload, serde_json::Error> {
    // GHES 3.4/3.5 send no action (they only deliver creations).
    let action = p.action.as_deref().unwrap_or("created");
    if action != "created" {
        return Ok(ignored("deployment", action));
    }
    let repo = repo(&p.repository)?;
    let (id, environment, sha) = deployment_of("deployment", &p.deployment)?;
    let d = p.deployment.as_ref();
    Ok(EventPayload::Deployment(Box::new(DeploymentEvent {
        repo,
        kind: DeploymentEventKind::Created,
        environment,
        sha: Some(sha),
        git_ref: d.and_then(|d| nonempty(&d.git_ref)),
        default_branch: default_branch(&p.repository),
        deployment_id: Some(id),
        creator: d.and_then(|d| d.creator.as_ref()).map(User::from),
        actor: super::user(&p.sender),
        at: d.and_then(|d| time(&d.created_at)),
        pull_requests: vec![],
    })))
}

pub(super) fn deployment_status(p: StatusCreated) -> Result<EventPayload, serde_json::Error> {
    let action = p.action.as_deref().unwrap_or("created");
    if action != "created" {
        return Ok(ignored("deployment_status", action));
    }
    let repo = repo(&p.repository)?;
    let (id, deployment_env, sha) = deployment_of("deployment_status", &p.deployment)?;
    let status = p
        .deployment_status
        .as_ref()
        .ok_or_else(|| malformed("`deployment_status` without its status"))?;
    let state =
        nonempty(&status.state).ok_or_else(|| malformed("`deployment_status` without a state"))?;
    // The deployment's environment is the one it was created for; a status naming another
    // is contradictory, and what is contradictory is refused.
    if let Some(env) = nonempty(&status.environment)
        && !env.eq_ignore_ascii_case(&deployment_env)
    {
        return Err(malformed(
            "`deployment_status` names another environment than its deployment",
        ));
    }
    let d = p.deployment.as_ref();
    Ok(EventPayload::Deployment(Box::new(DeploymentEvent {
        repo,
        kind: DeploymentEventKind::Status {
            state: DeploymentState::from_forge(&state),
            deployable_id: None,
        },
        environment: deployment_env,
        sha: Some(sha),
        git_ref: d.and_then(|d| nonempty(&d.git_ref)),
        default_branch: default_branch(&p.repository),
        deployment_id: Some(id),
        creator: d.and_then(|d| d.creator.as_ref()).map(User::from),
        actor: super::user(&p.sender),
        at: time(&status.updated_at).or(time(&status.created_at)),
        pull_requests: vec![],
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_come_only_from_protection_rule_callbacks() {
        let ok = "https://api.github.com/repos/o/r/actions/runs/1234/deployment_protection_rule";
        assert_eq!(run_id_of_callback(ok), Some(1234));
        let ghes = "https://ghe.example/api/v3/repos/o/r/actions/runs/9/deployment_protection_rule";
        assert_eq!(run_id_of_callback(ghes), Some(9));
        for bad in [
            "https://api.github.com/repos/o/r/actions/runs/x/deployment_protection_rule",
            "https://api.github.com/repos/o/r/actions/runs/12",
            "https://api.github.com/repos/o/r/actions/runs/12/approve",
            "https://api.github.com/repos/o/r/actions/runs/0/deployment_protection_rule",
            "https://api.github.com/repos/o/r/actions/runs/-1/deployment_protection_rule",
            "",
        ] {
            assert_eq!(run_id_of_callback(bad), None, "{bad}");
        }
    }
}
