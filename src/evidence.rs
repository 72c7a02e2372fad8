//! The audit log's records, typed: what the worker writes and what exports and pages read
//! back are the same serde types, so a renamed or missing field is an error when reading,
//! never an empty column.

use crate::actions::PlannedAction;
use crate::model::{ChangeKind, ChangeState, Label, User};
use crate::policy::{Decision, Snapshot};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// A decision with what it was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvidence {
    #[serde(flatten)]
    pub decision: Decision,
    pub change: ChangeAtDecision,
    /// `forge` (read from the forge) or `payload` (the webhook alone, without a token).
    pub source: String,
    /// What made changegate decide, as it was when the decision was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// The event a decision was made on: its name and action (`pull_request labeled`,
/// `Merge Request Hook update`, `reconcile`) and who caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// Events changegate makes itself: their change event is a copy of an earlier one, so its
/// actor is not who caused them.
const OWN_EVENTS: [&str; 4] = ["reconcile", "timer", "rules changed", "period boundary"];

impl Trigger {
    pub fn of(event: &crate::model::Event, change: &crate::model::ChangeEvent) -> Self {
        if OWN_EVENTS.contains(&event.event_name.as_str()) {
            return Trigger {
                event: format!("{} (changegate)", event.event_name),
                actor: None,
            };
        }
        let action = change.forge_action.trim();
        Trigger {
            event: if action.is_empty() || action == event.event_name {
                event.event_name.clone()
            } else {
                format!("{} {action}", event.event_name)
            },
            actor: (change.actor.username.is_some() || change.actor.id.is_some())
                .then(|| change.actor.mention()),
        }
    }
}

/// The change as it was when decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeAtDecision {
    pub kind: ChangeKind,
    pub state: ChangeState,
    pub title: String,
    pub labels: Vec<Label>,
    pub head_sha: Option<String>,
    pub author: User,
    pub web_url: Option<String>,
    /// When the forge says it merged (its `merged_at`), not when changegate decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl DecisionEvidence {
    pub fn of(snap: &Snapshot, d: &Decision, source: &str) -> Self {
        let c = &snap.change;
        DecisionEvidence {
            decision: d.clone(),
            change: ChangeAtDecision {
                kind: c.kind,
                state: c.state,
                title: c.title.clone(),
                labels: c.labels.clone(),
                head_sha: c.head_sha.clone(),
                author: c.author.clone(),
                web_url: c.web_url.clone(),
                merged_at: c.merged_at,
            },
            source: source.to_string(),
            trigger: None,
        }
    }
}

/// A write to the forge: planned, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEvidence {
    pub planned: PlannedAction,
    /// Only logged (dry run, or no token for the forge).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The details page a status links (`server.public_url` set): in the record, so that a
    /// dry run's page can be found from its audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
}

/// One audit record's detail, by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    Decision(Box<DecisionEvidence>),
    /// `action` and `action_failed`.
    Action(ActionEvidence),
    /// What a merged change owes, as fixed at its first evaluation after merge.
    Debt(crate::policy::Debt),
    /// The diff an approval under `reset_on_push: changed_diff` was given on, recorded when
    /// changegate first saw the approval.
    ApprovedDiff(Box<crate::diff::ApprovedDiff>),
    /// A deployment decision with what it was made on.
    Deployment(Box<DeploymentEvidence>),
    /// An operator's record: a baseline, or a commit accepted without a change.
    DeploymentOperator(serde_json::Value),
    /// A deployment seen running without a valid allow.
    DeploymentUnapproved(serde_json::Value),
    /// `comment_command`: a comment command read, accepted or refused (with its link).
    Command(crate::commands::CommandRecord),
    /// `comment_approval_withdrawn`: an approval by comment taken back because its comment
    /// was deleted, edited by someone else, or its review dismissed.
    Withdrawn(CommentWithdrawal),
}

/// An approval by comment withdrawn without its giver's command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentWithdrawal {
    pub approval: crate::commands::CommentApproval,
    pub why: String,
}

/// A deployment decision: environment, SHA, the changes it brought with their verdicts at
/// merge, window or exception (who requested, approved, confirmed, when), staging evidence,
/// checklist, and the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentEvidence {
    pub id: String,
    pub environment: String,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub deployment_id: Option<u64>,
    /// `protection_rule`, `gitlab_blocked`, `gate`, `cli`.
    pub source: String,
    pub decision: crate::policy::deploy::DeployDecision,
    /// What it was decided on (none for an environment no entry governs).
    pub facts: Option<crate::policy::deploy::DeployFacts>,
}

impl Evidence {
    /// Reads a stored record; a detail that does not fit its kind is an error.
    pub fn read(kind: &str, detail: &serde_json::Value) -> Result<Self> {
        match kind {
            "decision" => Ok(Evidence::Decision(Box::new(
                serde_json::from_value(detail.clone())
                    .context("an audit decision record does not read as a decision")?,
            ))),
            "action" | "action_failed" => Ok(Evidence::Action(
                serde_json::from_value(detail.clone())
                    .context("an audit action record does not read as an action")?,
            )),
            "debt" => Ok(Evidence::Debt(
                serde_json::from_value(detail.clone())
                    .context("an audit debt record does not read as a debt")?,
            )),
            "approved_diff" => Ok(Evidence::ApprovedDiff(Box::new(
                serde_json::from_value(detail.clone())
                    .context("an audit approved_diff record does not read as an approved diff")?,
            ))),
            "deployment_decision" => Ok(Evidence::Deployment(Box::new(
                serde_json::from_value(detail.clone())
                    .context("an audit deployment record does not read as a deployment decision")?,
            ))),
            "deployment_baseline" | "deployment_accepted_commit" => {
                Ok(Evidence::DeploymentOperator(detail.clone()))
            }
            "deployment_unapproved" => Ok(Evidence::DeploymentUnapproved(detail.clone())),
            "comment_command" => Ok(Evidence::Command(
                serde_json::from_value(detail.clone())
                    .context("an audit command record does not read as a command")?,
            )),
            "comment_approval_withdrawn" => Ok(Evidence::Withdrawn(
                serde_json::from_value(detail.clone())
                    .context("an audit withdrawal record does not read as one")?,
            )),
            other => anyhow::bail!("unknown audit record kind `{other}`"),
        }
    }
}
