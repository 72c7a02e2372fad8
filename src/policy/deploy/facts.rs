//! What the deployment evaluator is told: the deployment, the environment's baseline and
//! the range it brings, each change's verdict at merge and approvals, the evidence that
//! counts, and the exception events. The worker gathers them from changegate's own records
//! (never from the forge's deployment list) and the forge's present state.

use crate::model::{Forge, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything the evaluator knows about one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployFacts {
    pub forge: Forge,
    pub repo: String,
    pub environment: String,
    pub sha: String,
    /// The deployed branch (`main`), when the forge says.
    #[serde(default)]
    pub git_ref: Option<String>,
    /// The repository's default branch, when known: the branch an entry without
    /// `branches` admits.
    #[serde(default)]
    pub default_branch: Option<String>,
    pub now: DateTime<Utc>,
    /// Whether the deployed SHA is on the deployed branch, as the forge says now; `None`:
    /// not known (no branch given, or the forge could not say).
    #[serde(default)]
    pub on_branch: Option<bool>,
    /// The environment's last deployment that counts; `None`: its first deployment.
    #[serde(default)]
    pub baseline: Option<Baseline>,
    /// The commits between the baseline and this SHA; `None`: they could not be read.
    #[serde(default)]
    pub range: Option<Range>,
    /// The changes that brought the range's commits, as merged into the deployed branch.
    #[serde(default)]
    pub changes: Vec<DeployedChange>,
    /// Whether changegate allowed this SHA to this environment before (a redeploy/rollback).
    #[serde(default)]
    pub allowed_before: bool,
    /// Successes that count as evidence (changegate allowed them and saw them succeed, or a
    /// trusted deployer created them), of this SHA in other environments.
    #[serde(default)]
    pub successes: Vec<Success>,
    /// Successes seen that do not count, with why (said in the reasons).
    #[serde(default)]
    pub uncounted: Vec<Uncounted>,
    /// Exceptions already used by an allowed deployment: (change number, request time).
    #[serde(default)]
    pub spent: Vec<SpentException>,
    /// What the forge shows of the environment's protection.
    #[serde(default)]
    pub settings: Option<EnvironmentFacts>,
    /// What could not be read: the deployment is denied.
    #[serde(default)]
    pub incomplete: Vec<String>,
}

/// Where the baseline comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub sha: String,
    /// In words: `allowed by changegate and seen succeeding on …`, `recorded by NAME`.
    pub how: String,
}

/// How the deployed SHA relates to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Ahead,
    Behind,
    Identical,
    Diverged,
}

/// The commits a deployment brings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub relation: Relation,
    pub commits: Vec<RangeCommit>,
    /// False when the forge could not list them all.
    pub complete: bool,
}

/// One commit of the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeCommit {
    pub sha: String,
    /// Its parents, the first one first (the branch it was made on).
    #[serde(default)]
    pub parents: Vec<String>,
    /// Changes merged into the deployed branch that contain it (numbers).
    #[serde(default)]
    pub changes: Vec<u64>,
    /// An operator's acceptance of a commit that reached the branch without a change.
    #[serde(default)]
    pub accepted: Option<Accepted>,
}

/// `changegate deployments accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What changegate recorded of a change when it merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum MergeVerdict {
    /// It passed its policy for the branch it merged into.
    Passed { how: String },
    /// It did not (merged past a failing status, or not enforced there).
    Failed { why: String },
    /// It cannot be verified.
    Unknown { why: String },
}

/// A change the deployment brings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedChange {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    pub author: User,
    #[serde(default)]
    pub target_branch: Option<String>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    pub verdict: MergeVerdict,
    /// The commits it landed on its target branch as (merge, squash or last rebased commit,
    /// and its approved head): one of them on the deployment's first-parent line says the
    /// change's merged result is what is deployed.
    #[serde(default)]
    pub landed_as: Vec<String>,
    /// An emergency (it merged owing approvals after merge): what it still owes.
    #[serde(default)]
    pub emergency_owes: Option<Vec<String>>,
    /// Approval roles given on it or its change issue, by eligible people (group members,
    /// not its authors), each with when.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Its change issue's task list; `None`: it links none.
    #[serde(default)]
    pub issue: Option<IssueTasks>,
    /// Blocked periods whose `when` holds for it.
    #[serde(default)]
    pub periods: Vec<String>,
    /// Requests and confirmations of an exception deployment, on it or its change issue.
    #[serde(default)]
    pub exception_events: Vec<ExceptionEvent>,
}

/// An approval role given by someone eligible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub role: String,
    pub by: User,
    /// When; unknown: it cannot be placed after a request, so it never lifts a window.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A change issue's task list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueTasks {
    /// `#12`, `group/project#12`.
    pub reference: String,
    pub tasks: Vec<Task>,
    /// False when the issue could not be read.
    #[serde(default = "yes")]
    pub readable: bool,
}

fn yes() -> bool {
    true
}

/// One `- [ ]`/`- [x]` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub text: String,
    pub checked: bool,
}

/// An exception request or confirmation, as recorded when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionEvent {
    pub kind: ExceptionEventKind,
    pub by: User,
    /// Unknown: it cannot be placed, so it is not used.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    pub source: ExceptionSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionEventKind {
    Requested,
    Confirmed,
}

/// Where an exception event came from: a label, or a comment command (by its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionSource {
    Label,
    Comment { id: u64 },
}

/// An exception already used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpentException {
    pub change: u64,
    pub requested_at: DateTime<Utc>,
    /// When the deployment that used it was decided; `None`: not known (then no later
    /// request can be told apart from it).
    #[serde(default)]
    pub spent_at: Option<DateTime<Utc>>,
}

/// A success that counts as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Success {
    pub environment: String,
    pub sha: String,
    pub at: DateTime<Utc>,
    /// Why it counts, in words.
    pub how: String,
}

/// A success that does not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uncounted {
    pub environment: String,
    pub why: String,
}

/// The environment's protection as the forge shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentFacts {
    /// Whether changegate's own protection rule (GitHub App) is among the environment's rules;
    /// `None`: not shown.
    #[serde(default)]
    pub has_changegate_rule: Option<bool>,
    #[serde(default)]
    pub admins_can_bypass: Option<bool>,
}

/// The task list of a Markdown text: `- [ ] text` and `- [x] text` lines outside code fences.
pub fn tasks(markdown: &str) -> Vec<Task> {
    let mut out = vec![];
    let mut fenced = false;
    for line in markdown.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let Some(rest) = ["- ", "* ", "+ "].iter().find_map(|b| t.strip_prefix(b)) else {
            continue;
        };
        let rest = rest.trim_start();
        let (checked, text) = if let Some(x) = rest.strip_prefix("[ ]") {
            (false, x)
        } else if let Some(x) = rest
            .strip_prefix("[x]")
            .or_else(|| rest.strip_prefix("[X]"))
        {
            (true, x)
        } else {
            continue;
        };
        out.push(Task {
            text: text.trim().to_string(),
            checked,
        });
    }
    out
}

#[cfg(test)]
mod task_tests {
    #[test]
    fn task_lists_are_read_outside_code_fences() {
        let t = super::tasks(
            "Plan\n- [x] Notify the service desk\n  * [ ] Rollback plan\n- [X] Done\n```\n- [ ] in code\n```\n- not a task\n- [y] neither\n",
        );
        let got: Vec<(&str, bool)> = t.iter().map(|t| (t.text.as_str(), t.checked)).collect();
        assert_eq!(
            got,
            vec![
                ("Notify the service desk", true),
                ("Rollback plan", false),
                ("Done", true)
            ]
        );
    }
}
