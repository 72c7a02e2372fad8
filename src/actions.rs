//! The writes a decision calls for, forge-neutral: what `simulate` prints, what a dry run
//! logs, and what the worker reduces to the minimal diff against the forge's current state.

pub use crate::model::StatusState;

use crate::comment;
use crate::model::{Change, Label};
use crate::policy::{self, Decision, Verdict};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlannedAction {
    SetStatus {
        sha: String,
        state: StatusState,
        context: String,
        description: String,
    },
    AddLabels {
        labels: Vec<Label>,
    },
    RemoveLabels {
        labels: Vec<Label>,
    },
    /// Approve the merge request as the bot (or withdraw that approval).
    SetApproval {
        sha: String,
        approve: bool,
    },
    /// Create or edit the sticky comment so that it reads `body`.
    UpsertComment {
        body: String,
    },
}

/// Every write the decision implies, before comparing with the forge's current state.
pub fn plan(change: &Change, d: &Decision, status_context: &str) -> Vec<PlannedAction> {
    if d.verdict == Verdict::NotEnforced {
        return vec![];
    }
    let mut out = vec![];
    if !d.remove_labels.is_empty() {
        out.push(PlannedAction::RemoveLabels {
            labels: d.remove_labels.iter().map(|c| c.label.clone()).collect(),
        });
    }
    if !d.add_labels.is_empty() {
        out.push(PlannedAction::AddLabels {
            labels: d.add_labels.iter().map(|c| c.label.clone()).collect(),
        });
    }
    if let (true, Some(sha)) = (policy::has_status(change), &change.head_sha) {
        out.push(PlannedAction::SetStatus {
            sha: sha.clone(),
            state: if d.verdict == Verdict::Pass {
                StatusState::Success
            } else {
                StatusState::Failure
            },
            context: status_context.to_string(),
            description: d.summary.clone(),
        });
    }
    out.push(PlannedAction::UpsertComment {
        body: comment::sticky(change, d),
    });
    out
}
