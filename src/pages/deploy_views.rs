//! The deployment pages: one decision's details (signed link, like a status's), and the
//! rows the audit page lists.

use crate::evidence::DeploymentEvidence;
use crate::policy::deploy::{MergeVerdict, Outcome};
use crate::store::StoredDecision;
use anyhow::Result;
use askama::Template;
use chrono::{DateTime, Utc};

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "deployment.html")]
struct DeploymentPage {
    forge_name: &'static str,
    repo: String,
    id: String,
    sha: String,
    environment: String,
    outcome: &'static str,
    outcome_class: &'static str,
    timing: String,
    decided_at: String,
    source: String,
    entry: String,
    until: String,
    expires: String,
    reasons: Vec<Vec<super::audit_view::Piece>>,
    changes: Vec<(u64, String, String)>,
    exceptions: Vec<String>,
    owed: Vec<String>,
}

/// One decision's page.
pub fn details(d: &StoredDecision) -> Result<String> {
    let ev: DeploymentEvidence = serde_json::from_value(d.detail.clone())?;
    let dec = &ev.decision;
    let (outcome, outcome_class) = match dec.decision {
        Outcome::Allow => ("Allowed", "pass"),
        Outcome::Deny => ("Denied", "fail"),
        Outcome::Wait => ("Waiting", "muted"),
    };
    let forge_name = if d.forge == "gitlab" {
        "GitLab"
    } else {
        "GitHub"
    };
    let page = DeploymentPage {
        forge_name,
        repo: d.repo.clone(),
        id: d.id.clone(),
        sha: ev.sha.clone(),
        environment: ev.environment.clone(),
        outcome,
        outcome_class,
        timing: dec.timing.clone().unwrap_or_default(),
        decided_at: when(d.decided_at),
        source: ev.source.clone(),
        entry: dec.entry.clone().unwrap_or_default(),
        until: time(dec.until),
        expires: time(dec.expires),
        reasons: dec
            .reasons
            .iter()
            .map(|r| super::audit_view::pieces(r))
            .collect(),
        changes: dec
            .changes
            .iter()
            .map(|c| {
                let v = match &c.verdict {
                    MergeVerdict::Passed { how } => format!("passed: {how}"),
                    MergeVerdict::Failed { why } => format!("failed: {why}"),
                    MergeVerdict::Unknown { why } => format!("unknown: {why}"),
                };
                (c.number, c.title.clone(), v)
            })
            .collect(),
        exceptions: dec
            .exceptions
            .iter()
            .map(|e| {
                format!(
                    "#{} ({}): requested by {} at {}; {}; confirmed at {}",
                    e.change,
                    e.lifts,
                    e.requester,
                    e.requested_at.format("%Y-%m-%d %H:%M UTC"),
                    e.approvals
                        .iter()
                        .map(|(r, by, at)| format!(
                            "{r} by {by} at {}",
                            at.format("%Y-%m-%d %H:%M UTC")
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    time(e.confirmed_at)
                )
            })
            .collect(),
        owed: dec.owed.clone(),
    };
    Ok(page.render()?)
}

/// A decision as the audit page lists it.
pub struct DeploymentRow {
    pub decided_at: String,
    pub environment: String,
    pub sha: String,
    pub outcome: String,
    pub link: String,
}

pub fn rows(list: &[StoredDecision], link: impl Fn(&str) -> String) -> Vec<DeploymentRow> {
    list.iter()
        .map(|d| DeploymentRow {
            decided_at: when(d.decided_at),
            environment: d.environment.clone(),
            sha: d.sha.get(..12).unwrap_or(&d.sha).to_string(),
            outcome: d.outcome.clone(),
            link: link(&d.id),
        })
        .collect()
}
