//! The decision: rules + a change's state in, what the bot should do out. Pure and synchronous.

mod approvals;
pub mod change_issue;
mod checklist;
pub mod commands;
mod conditions;
mod debt;
mod decide;
pub mod deploy;
mod freeze;
mod gitlab_blocks;
mod labels;
mod same_diff;
mod sections;
#[cfg(test)]
mod tests;
mod timed;

use crate::markdown::code;
pub use crate::model::Gap;
pub use approvals::{
    ApprovalOutcome, ApprovalState, Approver, CommentLink, Via, membership_questions,
};
pub use conditions::glob;
pub use debt::{Debt, DebtFacts, labels_at_merge};
use decide::decide;
pub use decide::{MAX_SUMMARY_CHARS, clip};
pub use gitlab_blocks::{
    BlockFacts, CheckFacts, blocks_in_force, check_covers, forge_blocks, missing_blocks,
};
pub use labels::deciding_labels;
pub(crate) use labels::last_applied;
use labels::{LabelSet, one_value_per_scope, undeclared_values};
pub use timed::{Blocked, Given, Owed, OwedItem, Reminder, periods_covering};

pub use crate::model::{History, LabelEvent, holds_latest};

use crate::model::{Change, ChangeEvent, ChangeKind, Label, Review, User};
use crate::rules::Rules;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The latest push of new commits to the change: when its head arrived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Push {
    pub sha: Option<String>,
    /// When the head arrived (unknown: approvals that reset on push cannot be placed after it).
    pub at: Option<DateTime<Utc>>,
    /// Nothing says when the head arrived: `at` is only when changegate first saw it, and
    /// approvals before then were given on code it could not see.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub seen_only: bool,
}

/// The latest change of a merge request's target branch: approvals that new commits reset
/// are reset by it too (the same commits now merge into something else).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retarget {
    /// The branch before, when known.
    pub from: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// Answers to "is this user in this approver group?", keyed by group name and lowercase
/// username (or `#id`). Static members from the rules are answered by the evaluator itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memberships {
    #[serde(flatten)]
    groups: HashMap<String, HashMap<String, bool>>,
    /// Usernames of the rules' static lists (lowercase) and the account id each was first
    /// resolved to (`None`: no account had it); static members are matched by these ids.
    #[serde(rename = "@logins", skip_serializing_if = "HashMap::is_empty")]
    logins: HashMap<String, Option<u64>>,
}

impl Memberships {
    pub fn set(&mut self, group: &str, user: &User, member: bool) {
        if let Some(key) = user_key(user) {
            self.groups
                .entry(group.to_string())
                .or_default()
                .insert(key, member);
        }
    }

    pub fn get(&self, group: &str, user: &User) -> Option<bool> {
        self.groups.get(group)?.get(&user_key(user)?).copied()
    }

    /// Records the account id a static username was first resolved to.
    pub fn resolve(&mut self, login: &str, id: Option<u64>) {
        self.logins.insert(login.to_lowercase(), id);
    }

    /// What a static username resolved to: `None` when not resolved yet, `Some(None)` when no
    /// account had it.
    pub fn resolved(&self, login: &str) -> Option<Option<u64>> {
        self.logins.get(&login.to_lowercase()).copied()
    }

    /// Static usernames no account had when they were resolved, sorted.
    pub fn unresolved(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .logins
            .iter()
            .filter(|(_, id)| id.is_none())
            .map(|(l, _)| l.as_str())
            .collect();
        out.sort();
        out
    }
}

fn user_key(u: &User) -> Option<String> {
    u.username
        .as_ref()
        .map(|n| n.to_lowercase())
        .or(u.id.map(|id| format!("#{id}")))
}

/// Everything the evaluator knows about one change.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub change: Change,
    /// Label history, oldest first.
    pub label_events: Vec<LabelEvent>,
    /// Native approvals that currently stand (GitHub reviews, GitLab MR approvals).
    pub reviews: Vec<Review>,
    pub last_push: Option<Push>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retarget: Option<Retarget>,
    pub memberships: Memberships,
    /// The bot's own account: labels it applied stand for native approvals.
    pub bot: Option<User>,
    /// Accounts that authored or committed the merge request's commits (read only when the
    /// rules count them as authors and someone approved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commit_authors: Vec<User>,
    /// What could not be read completely (a history longer than the bot reads): the change
    /// cannot be verified and fails.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
    /// When the evaluation happens: blocked periods and deadlines are judged at it.
    pub now: DateTime<Utc>,
    /// The files a merge request touches (read only when a rule looks at paths).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_files: Option<crate::model::ChangedFiles>,
    /// The change issue the description links (`change_issue`), as read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_issue: Option<LinkedIssue>,
    /// Authors of the changes this one gates (on a change issue: its merge requests' authors),
    /// who may not approve it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gated_authors: Vec<User>,
    /// What a merged change's debt was fixed as, and what of its label history cannot be placed.
    #[serde(skip_serializing_if = "debt::DebtFacts::is_empty")]
    pub debt: DebtFacts,
    /// What `changed_diff` approvals are judged on: the diffs approvals were given on, as
    /// recorded, and the diff now.
    #[serde(skip_serializing_if = "crate::diff::DiffFacts::is_empty")]
    pub diffs: crate::diff::DiffFacts,
    /// Approvals given by comment command that stand (the store's records): the labels the bot
    /// applied for them count only with one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comment_approvals: Vec<crate::commands::CommentApproval>,
}

/// The change issue a merge request links.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkedIssue {
    /// Linked, but the bot cannot read it (it does not exist, or is not visible to the bot).
    Unreadable { reference: String, reason: String },
    /// Read, and not this change's to link: closed, a pull request, or someone else's issue
    /// (`change_issue.linked_by`). It gates nothing, and the merge request fails for it.
    Refused { reference: String, reason: String },
    /// The issue as read: its state, label history and approvers' memberships.
    Read {
        reference: String,
        issue: Box<Snapshot>,
    },
}

impl Snapshot {
    /// What can be known from a webhook payload alone (used by `simulate` and dry runs):
    /// the labels this event added were applied by its actor, now; a push happened now.
    pub fn from_event(event: &ChangeEvent, now: DateTime<Utc>) -> Self {
        let label_events = event
            .labels_added
            .iter()
            .map(|l| LabelEvent {
                label: l.clone(),
                added: true,
                actor: event.actor.clone(),
                at: Some(now),
            })
            .collect();
        let reviews = event
            .review
            .iter()
            .filter(|r| r.approved)
            .cloned()
            .collect();
        let last_push = event.previous_head_sha.as_ref().map(|_| Push {
            sha: event.change.head_sha.clone(),
            at: Some(now),
            seen_only: false,
        });
        let retarget = event.previous_target_branch.as_ref().map(|from| Retarget {
            from: Some(from.clone()),
            at: Some(now),
        });
        Snapshot {
            change: event.change.clone(),
            label_events,
            reviews,
            last_push,
            retarget,
            memberships: Memberships::default(),
            bot: None,
            commit_authors: vec![],
            incomplete: vec![],
            now,
            changed_files: None,
            linked_issue: None,
            gated_authors: vec![],
            comment_approvals: vec![],
            debt: DebtFacts::default(),
            diffs: Default::default(),
        }
    }
}

impl Snapshot {
    /// Without the forge (`simulate`, no token) a linked change issue cannot be read: it is
    /// recorded as such, so the decision says so instead of "link the change issue".
    pub fn offline_link(mut self, rules: &Rules) -> Self {
        if let Some(reference) = change_issue::find_reference(rules, &self.change) {
            self.linked_issue = Some(LinkedIssue::Unreadable {
                reference,
                reason: "it is not read without the forge (offline evaluation)".into(),
            });
        }
        self
    }
}

/// Pass or fail, as the commit status will say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The change is outside `enforce`: the bot leaves it alone.
    NotEnforced,
}

/// A label the bot adds or removes, and why (shown in the audit log and `simulate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelChange {
    pub label: Label,
    pub reason: String,
}

/// One line of the checklist in the bot's comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub title: String,
    pub met: bool,
    /// Who satisfied it and when, or why it is not satisfied.
    pub detail: String,
    /// What to do next and who can do it, when unmet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// What the rules conclude about one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// Short text for the commit status (at most 140 characters).
    pub summary: String,
    pub matched_rules: Vec<String>,
    pub checklist: Vec<ChecklistItem>,
    /// Messages of matched rules that do not block.
    pub notes: Vec<String>,
    pub approvals: Vec<ApprovalOutcome>,
    pub add_labels: Vec<LabelChange>,
    pub remove_labels: Vec<LabelChange>,
    pub rules_hash: String,
    /// Blocked periods covering the change, lifted or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<Blocked>,
    /// What the change owes after merge (emergencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owed: Option<Owed>,
    /// What the change owes after merge, fixed by this evaluation (its first after merge):
    /// the worker stores it, and later evaluations read it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debt: Option<Debt>,
    /// Report-only mode (`report_only`): what the bot would have done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_only: Option<ReportOnly>,
}

/// What a decision in report-only mode would have done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOnly {
    /// The status would have failed.
    pub would_block: bool,
    /// Label changes not made, in words.
    pub label_changes: Vec<String>,
}

/// The decision as a report-only repository gets it: a passing status that says what would
/// block, and no label changes (listed instead).
pub fn report_only(mut d: Decision) -> Decision {
    if d.verdict == Verdict::NotEnforced {
        return d;
    }
    let would_block = d.verdict == Verdict::Fail;
    let mut label_changes: Vec<String> = d
        .add_labels
        .drain(..)
        .map(|c| format!("add {} ({})", code(&c.label), c.reason))
        .collect();
    label_changes.extend(
        d.remove_labels
            .drain(..)
            .map(|c| format!("remove {} ({})", code(&c.label), c.reason)),
    );
    if would_block {
        let missing = d
            .summary
            .strip_prefix("Missing: ")
            .map(|m| format!("missing {m}"))
            .unwrap_or_else(|| d.summary.clone());
        d.summary = clip(&format!("report only: would block — {missing}"));
        d.verdict = Verdict::Pass;
    }
    d.report_only = Some(ReportOnly {
        would_block,
        label_changes,
    });
    d
}

impl Decision {
    fn not_enforced(rules: &Rules) -> Self {
        Decision {
            verdict: Verdict::NotEnforced,
            summary: "not subject to change management".into(),
            matched_rules: vec![],
            checklist: vec![],
            notes: vec![],
            approvals: vec![],
            add_labels: vec![],
            remove_labels: vec![],
            rules_hash: rules.hash.clone(),
            blocked: vec![],
            owed: None,
            debt: None,
            report_only: None,
        }
    }
}

/// Each rule and, when it does not apply, the conditions that fail — judged on the labels as
/// the decision leaves them (for `changegate explain`).
pub fn explain_rules(rules: &Rules, snap: &Snapshot, d: &Decision) -> Vec<(String, Vec<String>)> {
    let mut labels = snap.change.labels.clone();
    labels.retain(|l| !d.remove_labels.iter().any(|c| &c.label == l));
    labels.extend(d.add_labels.iter().map(|c| c.label.clone()));
    let approved: Vec<String> = d
        .approvals
        .iter()
        .filter(|a| a.is_met())
        .map(|a| a.name.clone())
        .collect();
    let facts = conditions::Facts {
        change: &snap.change,
        labels: &labels,
        approved: &approved,
        files: snap.changed_files.as_ref(),
    };
    rules
        .rules
        .iter()
        .map(|r| {
            let why = if d.matched_rules.contains(&r.name) {
                vec![]
            } else {
                conditions::failing(&r.when, &facts)
            };
            (r.name.clone(), why)
        })
        .collect()
}

/// Whether the rules' `enforce` selects this change at all.
pub fn is_enforced(rules: &Rules, change: &Change) -> bool {
    let facts = conditions::Facts {
        change,
        labels: &change.labels,
        approved: &[],
        files: None,
    };
    rules.enforce.iter().any(|c| conditions::holds(c, &facts))
}

/// Evaluates the rules against a change.
pub fn evaluate(rules: &Rules, snap: &Snapshot) -> Decision {
    if !is_enforced(rules, &snap.change) {
        return Decision::not_enforced(rules);
    }
    let decision = settle(rules, snap).0;
    if rules.reports_only(&snap.change.repo.path) {
        report_only(decision)
    } else {
        decision
    }
}

/// Whether the change's native approvals (reviews, merge request approvals) can matter: some
/// role that takes them is required, judged on a snapshot without them. When not, the worker
/// does not read them, and the decision is the same as if it had.
pub fn reads_reviews(rules: &Rules, snap: &Snapshot) -> bool {
    is_enforced(rules, &snap.change) && !settle(rules, snap).1.is_empty()
}

/// Judges the change until what it needs stops growing: native approvals count only for the
/// roles the change requires, and approvals that matched rules need from several people
/// (`count`) are judged with those counts (one person per role holds across them). Both sets
/// only grow and are bounded by the rules, so this ends. Returns the decision and the roles
/// whose native approvals counted.
fn settle(rules: &Rules, snap: &Snapshot) -> (Decision, Vec<String>) {
    let mut needs: Vec<(String, u32)> = vec![];
    let mut counted: Vec<String> = vec![];
    loop {
        let (decision, required) = decide(rules, snap, &needs, &counted);
        let mut grown = false;
        let more_needs = rules
            .rules
            .iter()
            .filter(|r| decision.matched_rules.contains(&r.name))
            .flat_map(|r| r.counts.iter());
        for need in more_needs {
            if !needs.contains(need) {
                needs.push(need.clone());
                grown = true;
            }
        }
        let natives = rules
            .approvals
            .iter()
            .filter(|a| a.native_approvals && required.contains(&a.name));
        for a in natives {
            if !counted.contains(&a.name) {
                counted.push(a.name.clone());
                grown = true;
            }
        }
        if !grown {
            return (decision, counted);
        }
    }
}

/// Whether a change is a merge request (the only kind that carries a commit status).
pub fn has_status(change: &Change) -> bool {
    change.kind == ChangeKind::MergeRequest && change.head_sha.is_some()
}
