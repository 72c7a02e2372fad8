//! The rules file as written: strict serde types that remember where each value stands, so
//! that every problem can be reported as `file:line:column`. `changegate schema` publishes
//! the JSON Schema generated from these doc comments.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::borrow::Cow;

mod deploy;
pub use deploy::{
    AfterDef, ChecklistAll, ChecklistDef, ConfirmDef, DeployExceptionDef, DeploymentDef, WindowDef,
};

/// A value with the line and column it was read from.
#[derive(Debug, Clone)]
pub struct Sp<T>(pub Spanned<T>);

impl<T> Sp<T> {
    pub fn value(&self) -> &T {
        &self.0.value
    }
    pub fn pos(&self) -> Pos {
        Pos {
            line: self.0.referenced.line(),
            column: self.0.referenced.column(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sp<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::deserialize(d).map(Sp)
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A 1-based line and column in the rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// changegate rules: which changes are enforced, which labels and approvals count, and what
/// the bot does when something is missing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "changegate rules")]
pub struct RulesFile {
    /// Format version of this file. Only `1` exists.
    pub version: Sp<u32>,
    /// Which changes the bot enforces at all. A change is enforced when it matches any entry;
    /// others are left alone (no status, no comment, no labels).
    pub enforce: Sp<Vec<Sp<Condition>>>,
    /// Scoped-label families (`Scope::Value`) that the bot governs. A change may carry at most
    /// one value of each; on GitHub, which lacks scoped labels, the bot keeps the value applied
    /// last and removes the others. Every `Scope::Value` label named elsewhere in this file must
    /// be a declared value when its scope is declared here.
    #[serde(default)]
    pub scopes: Vec<ScopeDef>,
    /// Named sets of people allowed to give an approval.
    #[serde(default)]
    pub approver_groups: Vec<ApproverGroupDef>,
    /// Approval roles: a label that only members of a group may apply, never the author.
    #[serde(default)]
    pub approvals: Vec<ApprovalDef>,
    /// When true, one person's approval satisfies at most one approval role on a change
    /// (a peer reviewer cannot also be the manager who approves it). Default: true.
    #[serde(default)]
    pub distinct_approvers: Option<bool>,
    /// When true, whoever authored or committed commits of a merge request counts as one of
    /// its authors: they cannot approve it, as its author cannot. Default: true.
    #[serde(default)]
    pub commit_authors_are_authors: Option<bool>,
    /// The rules, evaluated in order. Each applies when its `when` holds.
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    /// Times when changes may not merge unless the period's exception approvals are all given
    /// (quarter closes, holidays). While one covers an open change, its status fails.
    #[serde(default)]
    pub blocked_periods: Vec<BlockedPeriodDef>,
    /// Change issues: merge requests link the issue that carries their approvals (business
    /// owner, manager…) and cannot merge until it is approved.
    #[serde(default)]
    pub change_issue: Option<Sp<ChangeIssueDef>>,
    /// Repositories (path globs, `acme/legacy-*`) where the bot only reports: it comments as
    /// usual, writes a passing status saying what it would block, and changes no labels.
    #[serde(default)]
    pub report_only: Vec<Sp<String>>,
    /// Lets repositories add to these rules with a file of their own on their default branch.
    /// It can add enforce entries, scopes, approver groups, approvals and rules (which only add
    /// requirements): a team can tighten its process, never loosen the organization's.
    #[serde(default)]
    pub repository_rules: Option<RepositoryRulesDef>,
    /// Deployment gates: the environments changegate guards (production), their windows, and
    /// what every deployment to them must show (every change it brings passed, staging first,
    /// change issues done, approvals, exceptions outside the windows).
    #[serde(default)]
    pub deployments: Vec<DeploymentDef>,
    /// Comment commands (`/changegate approve business-owner`): people the rules name give
    /// approvals, withdraw them, ask for a recheck, and ask for or confirm an exception
    /// deployment by commenting. Absent: off. Only this file may turn them on (a repository's
    /// own rules file cannot).
    #[serde(default)]
    pub commands: Option<Sp<CommandsDef>>,
}

/// Comment commands.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandsDef {
    /// Whether comment commands are read at all.
    pub enabled: Sp<bool>,
    /// What a command line starts with: `/` and a word that is not a GitLab quick action.
    /// Default: `/changegate`.
    #[serde(default)]
    pub prefix: Option<Sp<String>>,
}

/// Where repositories keep their own rules.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryRulesDef {
    /// The file's path in the repository, for example `.changegate.yaml`.
    pub path: Sp<String>,
}

/// A repository's own rules: additions to the central file, in the same language.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "changegate repository rules")]
pub struct RepoRulesFile {
    /// Format version of this file. Only `1` exists.
    pub version: Sp<u32>,
    /// More changes to enforce.
    #[serde(default)]
    pub enforce: Vec<Sp<Condition>>,
    #[serde(default)]
    pub scopes: Vec<ScopeDef>,
    #[serde(default)]
    pub approver_groups: Vec<ApproverGroupDef>,
    #[serde(default)]
    pub approvals: Vec<ApprovalDef>,
    /// Must stay true when given: one person, one approval role.
    #[serde(default)]
    pub distinct_approvers: Option<Sp<bool>>,
    /// More rules, evaluated after the central ones.
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    /// More blocked periods.
    #[serde(default)]
    pub blocked_periods: Vec<BlockedPeriodDef>,
}

/// A scoped-label family.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    /// The part before `::`, for example `CMT`.
    pub name: Sp<String>,
    /// The allowed values, the part after `::`, for example `[Minor, Standard]`.
    pub values: Vec<Sp<String>>,
}

/// A named set of approvers. Members come from a forge team/group, a static list, or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproverGroupDef {
    /// Name used by `approvals[].approvers`.
    pub name: Sp<String>,
    /// Who these people are, shown in the bot's comment.
    #[serde(default)]
    pub description: Option<String>,
    /// GitHub team as `org/team-slug`; `{owner}` stands for the repository's owner,
    /// as in `{owner}/business-owners`.
    #[serde(default)]
    pub github_team: Option<Sp<String>>,
    /// GitLab group path; `{top_level_group}` stands for the project's top-level namespace,
    /// as in `{top_level_group}/business-owners` (`acme/business-owners` for `acme/platypus`).
    #[serde(default)]
    pub gitlab_group: Option<Sp<String>>,
    /// People who belong to the group whatever the forge teams say, by username or id. A
    /// username is resolved to its account's id once, when changegate first reads it, and
    /// approvals are matched by that id.
    #[serde(default)]
    pub users: Option<StaticUsers>,
}

/// Static members, per forge.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticUsers {
    /// GitHub logins.
    #[serde(default)]
    pub github: Vec<Sp<String>>,
    /// GitLab usernames.
    #[serde(default)]
    pub gitlab: Vec<Sp<String>>,
    /// GitHub accounts by numeric id (`GET /users/{login}` gives it): an id stays with its
    /// account when the login is renamed or taken by someone else.
    #[serde(default)]
    pub github_ids: Vec<Sp<u64>>,
    /// GitLab accounts by numeric id (`GET /users?username=NAME` gives it).
    #[serde(default)]
    pub gitlab_ids: Vec<Sp<u64>>,
}

/// An approval role, given by applying a label.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDef {
    /// Name used by `rules[].require` and conditions' `approved`.
    pub name: Sp<String>,
    /// How the checklist names this approval, for example `Peer review`.
    #[serde(default)]
    pub title: Option<String>,
    /// The label that gives the approval, for example `Peer Approval::Approved`.
    pub label: Sp<String>,
    /// The label put back when an invalid or stale approval is removed, for example
    /// `Peer Approval::Needs Approval`. Must be in the same scope as `label`.
    #[serde(default)]
    pub pending_label: Option<Sp<String>>,
    /// The approver group whose members may apply `label`.
    pub approvers: Sp<String>,
    /// Whether the change's author may approve it. Default: false (segregation of duties).
    #[serde(default)]
    pub author_may_approve: bool,
    /// What new commits pushed (or a new target branch set) after the approval do to it:
    /// `true` resets it, `false` keeps it, `changed_diff` resets it unless the change's diff
    /// against its target is identical to the one approved (a rebase onto a target that
    /// changed other files keeps it). Default: false.
    #[serde(default)]
    pub reset_on_push: ResetOnPushDef,
    /// Whether a native forge approval (GitHub review approving the current head, GitLab merge
    /// request approval) by a member of the group, not the author, counts; the bot then applies
    /// `label` itself. Default: false.
    #[serde(default)]
    pub native_approvals: bool,
    /// Whether a member of the group may give this approval by a comment command
    /// (`/changegate approve NAME`) when `commands` are on. Default: true in the organization's
    /// rules; a repository's own approvals are never given by comment (`true` is refused there).
    #[serde(default)]
    pub by_comment: Option<Sp<bool>>,
}

/// One rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Unique name, shown in `simulate` and the audit log.
    pub name: Sp<String>,
    /// What the rule is for (documentation only).
    #[serde(default)]
    pub description: Option<String>,
    /// For a blocking rule: the checklist line and the commit status text while it blocks,
    /// for example `Classify the change`. Default: the rule's name.
    #[serde(default)]
    pub title: Option<String>,
    /// When the rule applies; every condition given must hold. Omitted: always.
    #[serde(default)]
    pub when: Option<Sp<Condition>>,
    /// Approvals (names from `approvals`) that must all be present and valid; the status
    /// fails until they are. `{approval: peer, count: 2}` needs two distinct eligible people
    /// (a label is one, its applier; each native approving review on the head one more).
    #[serde(default)]
    pub require: Vec<Sp<RequireDef>>,
    /// Sections the change's description must have, each with text: a Markdown heading (any
    /// level), or a line starting with `**Name**` or `Name:`. Case is ignored.
    #[serde(default)]
    pub require_sections: Vec<Sp<String>>,
    /// Labels the bot adds when the rule applies and they are missing.
    #[serde(default)]
    pub add_labels: Vec<Sp<String>>,
    /// Labels the bot removes when the rule applies.
    #[serde(default)]
    pub remove_labels: Vec<Sp<String>>,
    /// When true, the status fails while the rule applies (with `message` as the reason).
    #[serde(default)]
    pub block: bool,
    /// Text for the bot's comment while the rule applies: the reason when it blocks, a note
    /// otherwise. Markdown.
    #[serde(default)]
    pub message: Option<String>,
    /// What is owed after merge (emergency changes): merging is allowed now, these approvals
    /// are due within a time of the merge, chased with reminders, and marked overdue after.
    #[serde(default)]
    pub after_merge: Option<Sp<AfterMergeDef>>,
}

/// How merge requests link their change issue, and what the issue gives them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIssueDef {
    /// A regular expression finding the link in the change's description; its first capture
    /// group is `#12`, `group/project#12` (GitHub `owner/repo#12`) or the issue's URL on the
    /// same forge. Default: `(?im)^\s*change(?: issue)?:\s*(\S+)`.
    #[serde(default)]
    pub reference: Option<Sp<String>>,
    /// Which changes must link one (a condition); omitted: every merge request.
    #[serde(default)]
    pub required_for: Option<Sp<Condition>>,
    /// Approvals (names from `approvals`) met on a merge request when they are met on its
    /// linked issue, judged by the issue's own label history with every segregation-of-duties
    /// check (the merge request's author may not approve on the issue either).
    pub approvals: Vec<Sp<String>>,
    /// Whose issue a merge request may link: the merge request's author must be the issue's
    /// `author` or one of its `assignees` (either, as listed). Default: `[author, assignees]`.
    /// Any other link is refused and the merge request fails, saying why.
    #[serde(default)]
    pub linked_by: Option<Sp<Vec<IssueLinkerDef>>>,
}

/// Who of a change issue's people may link it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueLinkerDef {
    Author,
    Assignees,
}

/// A required approval: its name, or its name with how many distinct people must give it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "an approval name, or {approval: NAME, count: N}"
)]
pub enum RequireDef {
    Name(String),
    Counted(CountedDef),
}

/// An approval that needs several distinct people.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountedDef {
    /// The approval's name (from `approvals`).
    pub approval: String,
    /// How many distinct people must give it (at least 1).
    pub count: u32,
}

/// Approvals owed after a change merged.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterMergeDef {
    /// Approvals (names from `approvals`) owed after merge, with every segregation-of-duties
    /// check: the author cannot give them.
    #[serde(default)]
    pub require: Vec<Sp<String>>,
    /// How long after the merge they are due: a duration such as `90s`, `45m`, `24h`, `7d`.
    pub within: Sp<String>,
    /// A label that records the retrospective, also owed; anyone but the author may apply it.
    #[serde(default)]
    pub retrospective_label: Option<Sp<String>>,
    /// Times after the merge (durations) at which the bot mentions who still owes what, in a
    /// new comment so that they are notified.
    #[serde(default)]
    pub remind: Vec<Sp<String>>,
    /// A label the bot applies when the deadline passes with something still owed, and
    /// removes when the last owed approval arrives.
    #[serde(default)]
    pub overdue_label: Option<Sp<String>>,
}

/// A time during which changes may not merge without an exception.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockedPeriodDef {
    /// Unique name, shown in the commit status: `Blocked period quarter-close until …`.
    pub name: Sp<String>,
    /// What the period is for, shown in the bot's comment.
    #[serde(default)]
    pub description: Option<String>,
    /// Around the last day of every quarter (31 March, 30 June, 30 September, 31 December,
    /// 00:00 UTC): from `before` that moment to `after` it. Give this or `from` and `to`.
    #[serde(default)]
    pub quarter_end: Option<Sp<QuarterEndDef>>,
    /// Start of a one-off period: an RFC 3339 time (`2026-12-20T00:00:00Z`) or a date
    /// (`2026-12-20`, midnight UTC).
    #[serde(default)]
    pub from: Option<Sp<String>>,
    /// End of a one-off period (exclusive), written like `from`.
    #[serde(default)]
    pub to: Option<Sp<String>>,
    /// Which changes the period covers; omitted: every enforced change.
    #[serde(default)]
    pub when: Option<Sp<Condition>>,
    /// Approvals (names from `approvals`) that lift the period for a change, all needed;
    /// empty: nothing lifts it.
    #[serde(default)]
    pub exception: Vec<Sp<String>>,
}

/// Durations around the last day of a quarter.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarterEndDef {
    /// How long before the last day's midnight the period starts, for example `14d`.
    pub before: Sp<String>,
    /// How long after the last day's midnight it ends, for example `14d`.
    pub after: Sp<String>,
}

/// Which changes something applies to. Every condition given must hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `merge_request` (GitHub pull requests too) or `issue`.
    #[serde(default)]
    pub kind: Option<Sp<KindDef>>,
    /// Labels that must all be present.
    #[serde(default)]
    pub labels: Vec<Sp<String>>,
    /// At least one of these labels must be present.
    #[serde(default)]
    pub any_labels: Vec<Sp<String>>,
    /// None of these labels may be present.
    #[serde(default)]
    pub not_labels: Vec<Sp<String>>,
    /// Scopes (from `scopes`) of which some value must be present.
    #[serde(default)]
    pub has_scope: Vec<Sp<String>>,
    /// Scopes (from `scopes`) of which no value may be present.
    #[serde(default)]
    pub no_scope: Vec<Sp<String>>,
    /// Approvals (from `approvals`) that must be present and valid.
    #[serde(default)]
    pub approved: Vec<Sp<String>>,
    /// Approvals (from `approvals`) that must not be present and valid.
    #[serde(default)]
    pub not_approved: Vec<Sp<String>>,
    /// Target branch patterns (`*` matches any run of characters); one must match.
    #[serde(default)]
    pub target_branch: Vec<Sp<String>>,
    /// Authors (usernames) of whom the change's author must be one.
    #[serde(default)]
    pub author: Vec<Sp<String>>,
    /// Authors (usernames) the change's author must not be.
    #[serde(default)]
    pub not_author: Vec<Sp<String>>,
    /// Whether the change must be a draft (true) or not (false).
    #[serde(default)]
    pub draft: Option<bool>,
    /// Path globs (`src/auth/**`, `**/crypto/**`, `deploy/**/secrets*`): some file the change
    /// touches (added, modified, removed, or renamed from or to) must match one. `*` stays within
    /// a directory, `**` crosses them. When the forge cannot list every file (more than 3,000
    /// on GitHub) the condition counts as met.
    #[serde(default)]
    pub changed_paths: Vec<Sp<String>>,
}

/// Change kinds.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindDef {
    MergeRequest,
    Issue,
}

/// `reset_on_push` as written: `true`, `false` or `changed_diff`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetOnPushDef(pub super::ResetOnPush);

impl<'de> Deserialize<'de> for ResetOnPushDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = ResetOnPushDef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or changed_diff")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ResetOnPushDef(match v {
                    true => super::ResetOnPush::Always,
                    false => super::ResetOnPush::Never,
                }))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "changed_diff" => Ok(ResetOnPushDef(super::ResetOnPush::ChangedDiff)),
                    other => Err(E::invalid_value(
                        serde::de::Unexpected::Str(other),
                        &"true, false or changed_diff",
                    )),
                }
            }
        }
        d.deserialize_any(Visit)
    }
}

impl JsonSchema for ResetOnPushDef {
    fn schema_name() -> Cow<'static, str> {
        "ResetOnPush".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "description": "`true` resets the approval on a push, `false` keeps it, `changed_diff` keeps it only while the change's diff against its target is identical to the one approved.",
            "oneOf": [
                { "type": "boolean" },
                { "type": "string", "enum": ["changed_diff"] }
            ]
        })
    }
}
