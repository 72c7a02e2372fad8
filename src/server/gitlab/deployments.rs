//! GitLab's Deployment Hook: a deployment was created, started, finished, or (protected
//! environments with approvals) is blocked waiting for approval, approved or rejected.
//! Shapes from the docs example and gitlab.com captures (tests/fixtures/gitlab/deployment.*).

use super::{WireProject, WireUser};
use crate::model::{
    DeploymentEvent, DeploymentEventKind, DeploymentState, EventPayload, Repo, parse_time,
};
use serde::Deserialize;

fn malformed(what: &str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(what)
}

#[derive(Deserialize)]
pub(super) struct DeploymentHook {
    status: Option<String>,
    status_changed_at: Option<String>,
    deployment_id: Option<u64>,
    /// The job; null for a deployment created through the API without one.
    deployable_id: Option<u64>,
    environment: Option<String>,
    project: Option<WireProject>,
    short_sha: Option<String>,
    user: Option<WireUser>,
    commit_url: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// The full SHA at the end of `…/-/commit/<sha>`, when it is one (40 or 64 hex digits).
pub fn sha_of_commit_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let (_, sha) = path.trim_end_matches('/').rsplit_once("/commit/")?;
    let full = (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit());
    full.then(|| sha.to_ascii_lowercase())
}

pub(super) fn deployment(h: DeploymentHook) -> Result<EventPayload, serde_json::Error> {
    let repo = h
        .project
        .as_ref()
        .map(Repo::from)
        .ok_or_else(|| malformed("Deployment Hook without a project"))?;
    let deployment_id = h
        .deployment_id
        .ok_or_else(|| malformed("Deployment Hook without a deployment_id"))?;
    let environment = h
        .environment
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| malformed("Deployment Hook without an environment"))?
        .to_string();
    let status = h
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("Deployment Hook without a status"))?;
    let sha = h.commit_url.as_deref().and_then(sha_of_commit_url);
    // The short SHA and the commit URL must name the same commit.
    if let (Some(full), Some(short)) = (&sha, h.short_sha.as_deref().map(str::trim))
        && !short.is_empty()
        && !full.starts_with(&short.to_ascii_lowercase())
    {
        return Err(malformed(
            "Deployment Hook's short_sha and commit_url name different commits",
        ));
    }
    // Never fail on a timestamp (the corpus has unreadable ones): unplaced, the gate decides
    // without it and fails closed where it needed it.
    let at = h.status_changed_at.as_deref().and_then(parse_time);
    let user = super::user(&h.user);
    let creator = (user.id.is_some() || user.username.is_some()).then(|| user.clone());
    Ok(EventPayload::Deployment(Box::new(DeploymentEvent {
        repo,
        kind: DeploymentEventKind::Status {
            state: DeploymentState::from_forge(status),
            deployable_id: h.deployable_id,
        },
        environment,
        sha,
        git_ref: h.git_ref.filter(|r| !r.trim().is_empty()),
        default_branch: h
            .project
            .as_ref()
            .and_then(|p| p.default_branch.as_deref())
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string),
        deployment_id: Some(deployment_id),
        creator,
        actor: user,
        at,
        pull_requests: vec![],
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_shas_only_from_commit_urls() {
        let sha = "279484c09fbe69ededfced8c1bb6e6d24616b468";
        assert_eq!(
            sha_of_commit_url(&format!("http://h/root/p/-/commit/{sha}")).as_deref(),
            Some(sha)
        );
        for bad in [
            "http://h/root/p/-/commit/279484c0",
            "http://h/root/p/-/commits/main",
            "http://h/root/p/-/commit/zz9484c09fbe69ededfced8c1bb6e6d24616b468",
            "",
        ] {
            assert_eq!(sha_of_commit_url(bad), None, "{bad}");
        }
    }
}
