//! The deployment decision: rules + the facts of one deployment in, allow / deny / wait out.
//! Pure and synchronous, like the change evaluator; the worker gathers the facts.

mod checks;
mod exception;
pub mod facts;
mod range;
#[cfg(test)]
mod tests;

pub use facts::*;

use crate::markdown::code;
use crate::rules::Rules;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// GitHub waits at most 30 days for a protection rule's answer: a wait longer than that
/// is a denial.
pub const LONGEST_WAIT_DAYS: i64 = 30;

/// What changegate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    Deny,
    Wait,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Wait => "wait",
        }
    }
}

/// An exception a deployment used: who asked, who approved, who confirmed, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsedException {
    pub change: u64,
    /// `window` (outside the windows) or the blocked period's name.
    pub lifts: String,
    pub requester: String,
    pub requested_at: DateTime<Utc>,
    /// (role, by, at).
    pub approvals: Vec<(String, String, DateTime<Utc>)>,
    #[serde(default)]
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A change the deployment brings, with its verdict at merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeLine {
    pub number: u64,
    pub title: String,
    #[serde(flatten)]
    pub verdict: MergeVerdict,
}

/// The decision on one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployDecision {
    pub decision: Outcome,
    /// Why, in order: what denies, what it waits for, then what holds and notes.
    pub reasons: Vec<String>,
    /// When it becomes decidable (a wait), if a time says.
    pub until: Option<DateTime<Utc>>,
    /// The `deployments` entry that governed it (`None`: no entry, deployed freely).
    pub entry: Option<String>,
    /// Until when an allow is valid.
    pub expires: Option<DateTime<Utc>>,
    pub changes: Vec<ChangeLine>,
    /// How it stands in time: `window NAME`, `exception`, `emergency`, `any time`.
    pub timing: Option<String>,
    pub exceptions: Vec<UsedException>,
    /// What the emergency changes it brings still owe.
    pub owed: Vec<String>,
}

/// Reasons gathered while checking, by what they do to the outcome.
#[derive(Default)]
pub(super) struct Findings {
    deny: Vec<String>,
    /// Each with when it stops waiting, if a time says.
    wait: Vec<(String, Option<DateTime<Utc>>)>,
    holds: Vec<String>,
    notes: Vec<String>,
    timing: Option<String>,
    exceptions: Vec<UsedException>,
    owed: Vec<String>,
}

impl Findings {
    fn deny(&mut self, why: impl Into<String>) {
        self.deny.push(why.into());
    }
    fn wait(&mut self, why: impl Into<String>, until: Option<DateTime<Utc>>) {
        self.wait.push((why.into(), until));
    }
    fn holds(&mut self, what: impl Into<String>) {
        self.holds.push(what.into());
    }
    fn note(&mut self, what: impl Into<String>) {
        self.notes.push(what.into());
    }
}

/// Decides one deployment.
pub fn evaluate(rules: &Rules, facts: &DeployFacts) -> DeployDecision {
    let Some(entry) = rules.deployment_for(facts.forge, &facts.environment) else {
        return DeployDecision {
            decision: Outcome::Allow,
            reasons: vec![format!(
                "no `deployments` entry governs environment {}: it deploys freely",
                code(&facts.environment)
            )],
            until: None,
            entry: None,
            // No expiry: an allow nothing governed is never evidence (a deployment's success
            // counts only after a governed allow, or from a trusted deployer).
            expires: None,
            changes: vec![],
            timing: None,
            exceptions: vec![],
            owed: vec![],
        };
    };
    let mut f = Findings::default();
    for why in &facts.incomplete {
        f.deny(format!("cannot be verified: {why}"));
    }
    checks::settings(facts, &mut f);
    checks::deployed_from(entry, facts, &mut f);
    let changes = range::check(entry, facts, &mut f);
    checks::required(entry, &changes, &mut f);
    checks::checklist(entry, &changes, &mut f);
    checks::staging(entry, facts, &mut f);
    exception::check_time(rules, entry, facts, &changes, &mut f);
    let lines = changes
        .iter()
        .map(|c| ChangeLine {
            number: c.number,
            title: c.title.clone(),
            verdict: c.verdict.clone(),
        })
        .collect();
    finish(entry, facts, f, lines)
}

fn finish(
    entry: &crate::rules::deploy::DeploymentRule,
    facts: &DeployFacts,
    f: Findings,
    changes: Vec<ChangeLine>,
) -> DeployDecision {
    let decision = if !f.deny.is_empty() {
        Outcome::Deny
    } else if !f.wait.is_empty() {
        Outcome::Wait
    } else {
        Outcome::Allow
    };
    let until = match decision {
        Outcome::Wait => f.wait.iter().filter_map(|(_, t)| *t).max(),
        _ => None,
    };
    let expires = match decision {
        Outcome::Allow => facts.now.checked_add_signed(entry.allow_for),
        _ => None,
    };
    let mut reasons = f.deny;
    reasons.extend(f.wait.into_iter().map(|(w, _)| w));
    reasons.extend(f.holds);
    reasons.extend(f.notes);
    DeployDecision {
        decision,
        reasons,
        until,
        entry: Some(entry.name.clone()),
        expires,
        changes,
        timing: f.timing,
        // Only an allow uses its exceptions up.
        exceptions: if decision == Outcome::Allow {
            f.exceptions
        } else {
            vec![]
        },
        owed: f.owed,
    }
}

/// A SHA as people read it.
pub(super) fn short(sha: &str) -> String {
    code(sha.get(..12).unwrap_or(sha))
}

/// A time as the reasons show it.
pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `a + d`, or the end of time when it cannot be represented.
pub(super) fn plus(a: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    a.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}
