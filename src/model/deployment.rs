//! Deployment webhooks, normalized: GitHub `deployment_protection_rule`, `deployment` and
//! `deployment_status`; GitLab's Deployment Hook. What the forges send, not what it proves:
//! anyone with push access can create deployments and statuses (see docs/deployment-forges.md).

use super::{Repo, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A deployment webhook, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentEvent {
    pub repo: Repo,
    pub kind: DeploymentEventKind,
    /// The environment's name as the forge spells it.
    pub environment: String,
    /// Full SHA when the payload has it (GitLab: from `commit_url`; else `None`, to be
    /// resolved through the API).
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    /// The repository's default branch as the payload says (GitHub `repository`, GitLab
    /// `project`); `None` when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    pub deployment_id: Option<u64>,
    /// Who created the deployment (GitHub `deployment.creator`; GitLab: the hook's `user`).
    pub creator: Option<User>,
    /// Who caused this event (GitHub `sender`, GitLab `user`).
    pub actor: User,
    /// When the state changed (GitHub `deployment_status.updated_at`/`created_at`, the
    /// deployment's `created_at`; GitLab `status_changed_at`).
    pub at: Option<DateTime<Utc>>,
    /// GitHub protection rule: the run's pull request numbers, informational only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_requests: Vec<u64>,
}

/// What a deployment webhook says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeploymentEventKind {
    /// GitHub `deployment_protection_rule` `requested`: answer through the run's callback.
    ProtectionRequested { run_id: u64 },
    /// GitHub `deployment` created.
    Created,
    /// A deployment's state changed (GitHub `deployment_status`; GitLab Deployment Hook incl.
    /// `blocked`). GitLab: `deployable_id` is the job (`None`: an API-created deployment
    /// without a job).
    Status {
        state: DeploymentState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployable_id: Option<u64>,
    },
}

/// A deployment's state, both forges' words mapped onto one set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// GitHub `pending`; GitLab `created`.
    Pending,
    /// GitHub `queued`.
    Queued,
    /// GitHub `in_progress`; GitLab `running`.
    InProgress,
    Success,
    /// GitHub `failure`; GitLab `failed`.
    Failure,
    /// GitHub `error`.
    Error,
    /// GitHub `inactive` (a newer deployment to the environment replaced it).
    Inactive,
    /// GitLab `canceled`.
    Canceled,
    /// GitLab: waiting for approval in a protected environment.
    Blocked,
    /// GitLab hook `status: approved`: an approval of a blocked deployment was given (the
    /// deployment itself stays blocked until every required approval is in).
    Approved,
    /// GitLab hook `status: rejected`: an approval was refused.
    Rejected,
    /// A word neither forge documents (GitLab `skipped`…), kept as written.
    Other(String),
}

impl DeploymentState {
    /// Reads GitHub's (`deployment_status.state`, `statuses[].state`) or GitLab's
    /// (`status`) word; case-insensitive as GraphQL writes them upper-case.
    pub fn from_forge(word: &str) -> Self {
        match word.to_ascii_lowercase().as_str() {
            "pending" | "created" => DeploymentState::Pending,
            "queued" => DeploymentState::Queued,
            "in_progress" | "running" => DeploymentState::InProgress,
            "success" => DeploymentState::Success,
            "failure" | "failed" => DeploymentState::Failure,
            "error" => DeploymentState::Error,
            "inactive" => DeploymentState::Inactive,
            "canceled" | "cancelled" => DeploymentState::Canceled,
            "blocked" => DeploymentState::Blocked,
            "approved" => DeploymentState::Approved,
            "rejected" => DeploymentState::Rejected,
            _ => DeploymentState::Other(word.to_string()),
        }
    }

    /// The name used in records and reasons.
    pub fn as_str(&self) -> &str {
        match self {
            DeploymentState::Pending => "pending",
            DeploymentState::Queued => "queued",
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Error => "error",
            DeploymentState::Inactive => "inactive",
            DeploymentState::Canceled => "canceled",
            DeploymentState::Blocked => "blocked",
            DeploymentState::Approved => "approved",
            DeploymentState::Rejected => "rejected",
            DeploymentState::Other(w) => w,
        }
    }
}

impl std::fmt::Display for DeploymentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forges_words_map_onto_one_set() {
        for (word, state) in [
            ("success", DeploymentState::Success),
            ("failed", DeploymentState::Failure),
            ("failure", DeploymentState::Failure),
            ("running", DeploymentState::InProgress),
            ("IN_PROGRESS", DeploymentState::InProgress),
            ("created", DeploymentState::Pending),
            ("blocked", DeploymentState::Blocked),
            ("approved", DeploymentState::Approved),
        ] {
            assert_eq!(DeploymentState::from_forge(word), state, "{word}");
        }
        assert_eq!(
            DeploymentState::from_forge("skipped"),
            DeploymentState::Other("skipped".into())
        );
    }

    #[test]
    fn a_deployment_event_is_stored_and_read_back_whole() {
        let event = super::super::EventPayload::Deployment(Box::new(DeploymentEvent {
            repo: Repo {
                path: super::super::RepoPath::new("acme/platypus"),
                id: Some(42),
            },
            kind: DeploymentEventKind::ProtectionRequested { run_id: 9 },
            environment: "production".into(),
            sha: Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e".into()),
            git_ref: Some("main".into()),
            default_branch: None,
            deployment_id: Some(1),
            creator: Some(User::named("github-actions[bot]")),
            actor: User::named("octocat"),
            at: "2026-01-01T00:00:00Z".parse().ok(),
            pull_requests: vec![2, 3],
        }));
        let text = serde_json::to_string(&event).unwrap();
        let back: super::super::EventPayload = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn states_round_trip_through_json() {
        let kind = DeploymentEventKind::Status {
            state: DeploymentState::Other("skipped".into()),
            deployable_id: Some(7),
        };
        let text = serde_json::to_string(&kind).unwrap();
        let back: DeploymentEventKind = serde_json::from_str(&text).unwrap();
        assert_eq!(back, kind);
    }
}
