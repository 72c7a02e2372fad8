//! Domain rules (`rules.yaml`): parsing with positions, validation, and the validated
//! [`Rules`] the policy evaluates.

pub mod deploy;
mod describe;
mod periods;
pub mod schema;
#[cfg(test)]
mod tests;
mod validate;
pub mod watch;
pub mod windows;
mod yaml;

pub use crate::model::TeamRef;
pub use periods::{AfterMerge, BlockedPeriod, Window, human as human_duration, parse_time};

use crate::model::{ChangeKind, Forge, Label, RepoPath};
use schema::Pos;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// The rules in force, swapped whole on reload; readers keep the version they started with.
pub type SharedRules = std::sync::Arc<std::sync::RwLock<std::sync::Arc<Rules>>>;

/// Validated rules: every reference resolved, every label well-formed.
#[derive(Debug, Clone)]
pub struct Rules {
    pub enforce: Vec<Condition>,
    pub scopes: Vec<Scope>,
    pub groups: Vec<ApproverGroup>,
    pub approvals: Vec<Approval>,
    pub distinct_approvers: bool,
    /// People whose commits are in a merge request count as its authors.
    pub commit_authors_are_authors: bool,
    pub rules: Vec<Rule>,
    /// Times when changes may not merge without an exception.
    pub blocked_periods: Vec<BlockedPeriod>,
    /// Repository path globs where the bot reports without blocking or relabelling.
    pub report_only: Vec<String>,
    /// How merge requests link the change issue that carries their approvals.
    pub change_issue: Option<ChangeIssue>,
    /// SHA-256 of the file's bytes, recorded with every decision.
    pub hash: String,
    /// The file's text, when repositories may add to it (`repository_rules`).
    pub source: Option<std::sync::Arc<str>>,
    /// The path of repositories' own rules files, when allowed.
    pub repository_rules: Option<String>,
    /// Deployment gates, in order: the first entry governing an environment applies.
    pub deployments: Vec<deploy::DeploymentRule>,
    /// Comment commands, when on (`commands.enabled`): the prefix they start with.
    pub commands: Option<Commands>,
    /// What is valid but leaves a way around (`changegate check` prints them; no refusal).
    pub warnings: Vec<Problem>,
}

/// Comment commands are on, with this prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commands {
    pub prefix: String,
}

#[derive(Debug, Clone)]
pub struct Scope {
    pub name: String,
    pub values: Vec<String>,
}

/// A named set of approvers.
#[derive(Debug, Clone)]
pub struct ApproverGroup {
    pub name: String,
    pub description: Option<String>,
    /// `org/slug`, possibly with `{owner}`.
    pub github_team: Option<String>,
    /// Group path, possibly with `{top_level_group}`.
    pub gitlab_group: Option<String>,
    pub github_users: Vec<String>,
    pub gitlab_users: Vec<String>,
    pub github_ids: Vec<u64>,
    pub gitlab_ids: Vec<u64>,
}

impl ApproverGroup {
    /// Static usernames for a forge.
    pub fn users(&self, forge: Forge) -> &[String] {
        match forge {
            Forge::Github => &self.github_users,
            Forge::Gitlab => &self.gitlab_users,
        }
    }

    /// Static account ids for a forge.
    pub fn ids(&self, forge: Forge) -> &[u64] {
        match forge {
            Forge::Github => &self.github_ids,
            Forge::Gitlab => &self.gitlab_ids,
        }
    }

    /// The forge team this group stands for in `repo`, placeholders filled in.
    pub fn team(&self, forge: Forge, repo: &RepoPath) -> Option<TeamRef> {
        match forge {
            Forge::Github => {
                let full = self
                    .github_team
                    .as_ref()?
                    .replace("{owner}", repo.top_level());
                let (org, slug) = full.split_once('/')?;
                Some(TeamRef::GithubTeam {
                    org: org.to_string(),
                    slug: slug.to_string(),
                })
            }
            Forge::Gitlab => {
                let path = self
                    .gitlab_group
                    .as_ref()?
                    .replace("{top_level_group}", repo.top_level());
                Some(TeamRef::GitlabGroup { path })
            }
        }
    }
}

/// An approval role.
#[derive(Debug, Clone)]
pub struct Approval {
    pub name: String,
    pub title: String,
    pub label: Label,
    pub pending_label: Option<Label>,
    /// Name of an existing approver group.
    pub approvers: String,
    pub author_may_approve: bool,
    pub reset_on_push: ResetOnPush,
    pub native_approvals: bool,
    /// Whether the role may be given by a comment command.
    pub by_comment: bool,
}

/// What a push (new commits, or a new target branch) does to an approval given before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResetOnPush {
    /// Nothing: the approval stands (`false`).
    #[default]
    Never,
    /// It resets (`true`).
    Always,
    /// It resets unless the change's diff against its target is identical to the one
    /// approved (`changed_diff`; see docs/changed-diff.md).
    ChangedDiff,
}

impl ResetOnPush {
    /// Whether pushes reset the approval at all (`true` or `changed_diff`).
    pub fn resets(self) -> bool {
        self != ResetOnPush::Never
    }

    /// Whether an identical diff keeps the approval through a push.
    pub fn keeps_same_diff(self) -> bool {
        self == ResetOnPush::ChangedDiff
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub title: String,
    pub when: Condition,
    pub require: Vec<String>,
    /// Approvals of `require` that need more than one person: (name, how many).
    pub counts: Vec<(String, u32)>,
    /// Description sections that must be present with text.
    pub require_sections: Vec<String>,
    pub add_labels: Vec<Label>,
    pub remove_labels: Vec<Label>,
    pub block: bool,
    pub message: Option<String>,
    /// What a matching change owes after it merged.
    pub after_merge: Option<AfterMerge>,
}

/// A validated condition; every field given must hold.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub kind: Option<ChangeKind>,
    pub labels: Vec<Label>,
    pub any_labels: Vec<Label>,
    pub not_labels: Vec<Label>,
    pub has_scope: Vec<String>,
    pub no_scope: Vec<String>,
    pub approved: Vec<String>,
    pub not_approved: Vec<String>,
    pub target_branch: Vec<String>,
    pub author: Vec<String>,
    pub not_author: Vec<String>,
    pub draft: Option<bool>,
    /// Compiled path globs: some changed file must match one.
    pub changed_paths: Option<PathGlobs>,
}

/// Change issues gate the merge requests that link them.
#[derive(Debug, Clone)]
pub struct ChangeIssue {
    /// Finds the link in a description; capture group 1 is the reference.
    pub reference: regex::Regex,
    /// Which changes must link one.
    pub required_for: Condition,
    /// Roles a linked issue's approvals satisfy.
    pub approvals: Vec<String>,
    /// Who of the issue's people the merge request's author must be for the link to count.
    pub linked_by: Vec<IssueLinker>,
}

/// Who of a change issue's people may link it to their merge request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueLinker {
    /// The issue's author.
    Author,
    /// One of the issue's assignees.
    Assignees,
}

/// The default `change_issue.reference`.
pub const DEFAULT_ISSUE_REFERENCE: &str = r"(?im)^\s*change(?: issue)?:\s*(\S+)";

/// Path globs as written and compiled (`*` within a directory, `**` across).
#[derive(Debug, Clone)]
pub struct PathGlobs {
    pub patterns: Vec<String>,
    pub set: globset::GlobSet,
}

impl PathGlobs {
    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

impl Rules {
    pub fn group(&self, name: &str) -> Option<&ApproverGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn approval(&self, name: &str) -> Option<&Approval> {
        self.approvals.iter().find(|a| a.name == name)
    }

    /// The entry governing deployments to `environment`, if one does.
    pub fn deployment_for(
        &self,
        forge: Forge,
        environment: &str,
    ) -> Option<&deploy::DeploymentRule> {
        self.deployments
            .iter()
            .find(|d| d.governs(forge, environment))
    }

    /// Whether the bot only reports on this repository (`report_only`).
    pub fn reports_only(&self, repo: &RepoPath) -> bool {
        self.report_only
            .iter()
            .any(|p| crate::policy::glob(&p.to_lowercase(), &repo.as_str().to_lowercase()))
    }

    /// Every condition the rules evaluate: enforce entries, rules, blocked periods and the
    /// change issue's `required_for`.
    fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.enforce
            .iter()
            .chain(self.rules.iter().map(|r| &r.when))
            .chain(self.blocked_periods.iter().map(|p| &p.when))
            .chain(self.change_issue.iter().map(|c| &c.required_for))
    }

    /// Whether some condition reads the label (`labels`, `any_labels`, `not_labels`). Scopes
    /// that conditions read are declared, so their labels are governed already.
    pub fn reads_label(&self, label: &Label) -> bool {
        self.conditions().any(|c| {
            c.labels
                .iter()
                .chain(&c.any_labels)
                .chain(&c.not_labels)
                .any(|l| l == label)
        })
    }

    /// Whether some rule needs the change's files.
    pub fn reads_files(&self) -> bool {
        let uses = |c: &Condition| c.changed_paths.is_some();
        self.rules.iter().any(|r| uses(&r.when))
            || self.enforce.iter().any(uses)
            || self.blocked_periods.iter().any(|p| uses(&p.when))
    }

    /// The scope that classifies changes (`CMT`): the first one declared.
    pub fn classification(&self) -> Option<&str> {
        self.scopes.first().map(|s| s.name.as_str())
    }

    /// Whether a label's scope is one the rules govern.
    pub fn governs_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.name == scope)
    }

    /// One-line summary for `changegate check`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} rules, {} approvals, {} approver groups, {} scopes, {} blocked periods",
            self.rules.len(),
            self.approvals.len(),
            self.groups.len(),
            self.scopes.len(),
            self.blocked_periods.len()
        );
        if !self.deployments.is_empty() {
            s.push_str(&format!(", {} deployment gates", self.deployments.len()));
        }
        s
    }
}

/// One thing wrong with a rules file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
}

/// Every problem found in one file, printed one per line as `path:line:column: message`.
#[derive(Debug, Clone, thiserror::Error)]
pub struct RulesError {
    pub path: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.path, p.pos.line, p.pos.column, p.message
            )?;
        }
        Ok(())
    }
}

/// Parses and validates rules from text. `path` is only used in messages.
pub fn parse(path: &str, text: &str) -> Result<Rules, RulesError> {
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let err = |problems| RulesError {
        path: path.to_string(),
        problems,
    };
    let file = yaml::deserialize_all(text).map_err(err)?;
    let repository_rules = file
        .repository_rules
        .as_ref()
        .map(|r| r.path.value().clone());
    let mut rules = validate::validate(file, hash).map_err(err)?;
    if repository_rules.is_some() {
        rules.source = Some(text.into());
        rules.repository_rules = repository_rules;
    }
    Ok(rules)
}

/// The central rules with a repository's additions (tighten only). Problems are reported
/// against the repository's file (`path`).
pub fn with_repository(central: &Rules, path: &str, text: &str) -> Result<Rules, RulesError> {
    let err = |problems| RulesError {
        path: path.to_string(),
        problems,
    };
    let Some(source) = &central.source else {
        return Err(err(vec![Problem {
            pos: schema::Pos { line: 1, column: 1 },
            message: "the central rules do not allow repository rules (`repository_rules`)".into(),
        }]));
    };
    let mut file = yaml::deserialize(source).map_err(|p| err(vec![p]))?;
    let extra = yaml::deserialize_repo(text).map_err(|p| err(vec![p]))?;
    let mut problems = vec![];
    if let Some(d) = &extra.distinct_approvers
        && !*d.value()
    {
        problems.push(Problem {
            pos: d.pos(),
            message:
                "a repository cannot turn distinct_approvers off: it may only tighten the rules"
                    .into(),
        });
    }
    // The central file's labels (its scopes' values, its approvals' labels) classify and
    // approve: a repository may neither apply them by a rule nor reuse them for a role.
    let governed = |name: &str| {
        let label = Label::new(name);
        label.scope().is_some_and(|s| central.governs_scope(s))
            || central
                .approvals
                .iter()
                .any(|a| a.label == label || a.pending_label.as_ref() == Some(&label))
    };
    for r in &extra.rules {
        // A label a central condition reads could switch a central rule off (`not_labels:
        // [EMERGENCY]`) or on: adding one is not a repository's to do.
        for l in &r.add_labels {
            let label = Label::new(l.value());
            if !governed(l.value()) && central.reads_label(&label) {
                problems.push(Problem {
                    pos: l.pos(),
                    message: format!(
                        "repository rules cannot add {}: the organization's rules read that label in a condition",
                        crate::markdown::code(&label)
                    ),
                });
            }
        }
        for l in r.add_labels.iter().filter(|l| governed(l.value())) {
            problems.push(Problem {
                pos: l.pos(),
                message: format!(
                    "repository rules cannot add `{}`: the organization's rules govern that label",
                    l.value()
                ),
            });
        }
    }
    for a in &extra.approvals {
        if let Some(b) = &a.by_comment
            && *b.value()
        {
            problems.push(Problem {
                pos: b.pos(),
                message: "a repository approval cannot be given by comment (`by_comment: true`): only the organization's rules may allow it".into(),
            });
        }
    }
    for a in &extra.approvals {
        for l in std::iter::once(&a.label)
            .chain(a.pending_label.as_ref())
            .filter(|l| governed(l.value()))
        {
            problems.push(Problem {
                pos: l.pos(),
                message: format!(
                    "a repository approval cannot use `{}`: the organization's rules govern that label",
                    l.value()
                ),
            });
        }
    }
    for r in &extra.rules {
        if let Some(l) = r.remove_labels.first() {
            problems.push(Problem {
                pos: l.pos(),
                message: "repository rules cannot remove labels; they may only add requirements"
                    .into(),
            });
        }
    }
    if *extra.version.value() != 1 {
        problems.push(Problem {
            pos: extra.version.pos(),
            message: format!(
                "unsupported version {}; only `version: 1` exists",
                extra.version.value()
            ),
        });
    }
    if !problems.is_empty() {
        return Err(err(problems));
    }
    // The repository's prose reaches the bot's comment: it may neither mention nor inject.
    let mut extra = extra;
    for r in &mut extra.rules {
        r.title = Some(crate::markdown::tame(
            r.title.as_deref().unwrap_or(r.name.value()),
        ));
        r.message = r.message.as_deref().map(crate::markdown::tame);
    }
    for a in &mut extra.approvals {
        a.title = Some(crate::markdown::tame(
            a.title.as_deref().unwrap_or(a.label.value()),
        ));
    }
    for g in &mut extra.approver_groups {
        g.description = g.description.as_deref().map(crate::markdown::tame);
    }
    let mut enforce = std::mem::take(&mut file.enforce.0.value);
    enforce.extend(extra.enforce);
    file.enforce.0.value = enforce;
    file.scopes.extend(extra.scopes);
    file.approver_groups.extend(extra.approver_groups);
    let own_roles: Vec<String> = extra
        .approvals
        .iter()
        .map(|a| a.name.value().clone())
        .collect();
    file.approvals.extend(extra.approvals);
    file.rules.extend(extra.rules);
    file.blocked_periods.extend(extra.blocked_periods);
    let hash = hex::encode(Sha256::digest(
        format!("{}\n{text}", central.hash).as_bytes(),
    ));
    let mut rules = validate::validate(file, hash).map_err(err)?;
    // Never by comment: a repository may not open a way to approve the organization did not.
    for a in rules.approvals.iter_mut() {
        if own_roles.contains(&a.name) {
            a.by_comment = false;
        }
    }
    Ok(rules)
}

/// Reads, parses and validates a rules file.
pub fn load(path: &Path) -> Result<Rules, RulesError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&shown, &text),
        Err(e) => Err(RulesError {
            path: shown,
            problems: vec![Problem {
                pos: Pos { line: 1, column: 1 },
                message: format!("cannot read the rules file: {e}"),
            }],
        }),
    }
}

/// The JSON Schema of the rules file, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(schema::RulesFile)).unwrap_or_default()
}

/// The JSON Schema of a repository's own rules file.
pub fn repository_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(schema::RepoRulesFile)).unwrap_or_default()
}
