//! The `deployments:` key as written: which environments changegate gates, when they may be
//! deployed, and what every deployment must show.

use super::Sp;
use schemars::JsonSchema;
use serde::Deserialize;

/// A gated set of environments. A deployment to an environment matching no entry deploys
/// freely (ad-hoc); the first entry whose `environments` match governs it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentDef {
    /// Unique name, shown in the decisions and the audit log.
    pub name: Sp<String>,
    /// What the entry is for (documentation only).
    #[serde(default)]
    pub description: Option<String>,
    /// Globs on the forge's environment name (`production`, `prod-*`; `*` matches any run of
    /// characters). GitHub treats environment names case-insensitively, and so does the match
    /// there; on GitLab it is exact.
    pub environments: Vec<Sp<String>>,
    /// Globs on the branch a deployment may come from (`main`, `release/*`; exact case).
    /// A deployment from any other branch is denied, whatever its changes passed: their
    /// approvals were given for the branch they merged into. Omitted: the repository's
    /// default branch only, as the webhook says it; when it is not known (a `/gate` call),
    /// the deployment is denied, so name the branches when a CI step asks.
    #[serde(default)]
    pub branches: Vec<Sp<String>>,
    /// When deployments may happen. Outside every window (or inside a blocked period) a
    /// deployment needs an `exception`; a deployment asked for shortly before a window opens
    /// waits for it. Omitted or empty: at any time.
    #[serde(default)]
    pub windows: Vec<Sp<WindowDef>>,
    /// Another environment the same commit must have been deployed to successfully, at least
    /// `succeeded_for` ago (staging first). It must be governed by a `deployments` entry, or
    /// this entry must name `trusted_deployers`: otherwise no success there could count.
    #[serde(default)]
    pub after: Option<Sp<AfterDef>>,
    /// Approvals (names from `approvals`) every deployment needs, given on each change it
    /// brings. A redeploy or rollback brings no change, so nothing can give them: it is denied.
    #[serde(default)]
    pub require: Vec<Sp<String>>,
    /// What lets a deployment happen outside the windows or inside a blocked period: approval
    /// roles given after a request (label `Exception Deployment::Requested`) on each change it
    /// brings or its change issue, then the requester's confirmation (label
    /// `Exception Deployment::Confirmed`). Omitted: nothing lifts the windows.
    #[serde(default)]
    pub exception: Option<Sp<DeployExceptionDef>>,
    /// `complete`: every linked change issue has at least one task and all are checked; or a
    /// list of task texts that must exist and be checked in each linked change issue.
    #[serde(default)]
    pub checklist: Option<Sp<ChecklistDef>>,
    /// Accounts whose deployments count as evidence (a baseline, staging) even when
    /// changegate did not allow them: a login trusts that user only, `app:slug` (or
    /// `slug[bot]`) that GitHub App's bot only. Only accounts a change's author cannot drive:
    /// never `github-actions[bot]` unless deployments are created only from protected branches.
    #[serde(default)]
    pub trusted_deployers: Vec<Sp<String>>,
    /// How long an allow stays valid: a deployment seen running after it expired is recorded
    /// and counted as unapproved. A duration such as `30m` or `2h`. Default: `1h`.
    #[serde(default)]
    pub allow_for: Option<Sp<String>>,
}

/// A recurring time when deployments may happen. Every field given must hold.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDef {
    /// Unique name within its entry, shown in decisions (`business hours`).
    pub name: Sp<String>,
    /// Days of the week the window opens on (`Mon`…`Sun`, or full names).
    #[serde(default)]
    pub weekdays: Vec<Sp<String>>,
    /// Days of the month the window opens on (1–31).
    #[serde(default)]
    pub days_of_month: Vec<Sp<u32>>,
    /// `HH:MM-HH:MM`, from the first time included to the second excluded, in `timezone`.
    /// A range may cross midnight (`22:00-02:00`): it belongs to the day it starts on.
    /// Omitted: the whole day.
    #[serde(default)]
    pub hours: Option<Sp<String>>,
    /// An IANA time zone name (`Europe/London`), with its daylight saving time. Default: `UTC`.
    #[serde(default)]
    pub timezone: Option<Sp<String>>,
    /// The window holds no more from this time on: RFC 3339 UTC (`2027-01-01T00:00:00Z`).
    #[serde(default)]
    pub until: Option<Sp<String>>,
}

/// Staging first: the same commit deployed there successfully.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterDef {
    /// The environment's name (exact; case-insensitive on GitHub).
    pub environment: Sp<String>,
    /// How long it must have run there successfully: `30m`, `2h`, `1d`.
    pub succeeded_for: Sp<String>,
}

/// What lifts the windows (and blocked periods use their own `exception` roles).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployExceptionDef {
    /// Approval roles (names from `approvals`), all needed, given after the request.
    pub require: Vec<Sp<String>>,
    /// Who confirms after the approvals: only `requester` exists, and it is the default.
    #[serde(default)]
    pub confirm: Option<Sp<ConfirmDef>>,
}

/// Who confirms an exception.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmDef {
    /// The first person who requested the exception.
    Requester,
}

/// `complete`, or the items that must exist and be checked.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "`complete`, or a list of task texts")]
pub enum ChecklistDef {
    All(ChecklistAll),
    Items(Vec<String>),
}

/// Every task of the change issue.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChecklistAll {
    Complete,
}
