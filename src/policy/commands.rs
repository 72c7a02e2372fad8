//! Judging a comment command against the change as read: the same checks as a label (a member
//! of the role's approvers, not the change's author nor a commit author, distinct people), and
//! for roles that new commits reset, a head whose push is known to come before the comment.
//! All or nothing: the first refused role refuses the command.

use super::approvals::{committed, gated_author, is_member, reset_since, unseen_code};
use super::{ApprovalOutcome, ApprovalState, Snapshot};
use crate::markdown::code;
use crate::model::User;
use crate::rules::Rules;
use chrono::{DateTime, Utc};

/// An approval a command may give: the role, and the head it is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: String,
    pub head: Option<String>,
}

/// The people whose group membership judging `roles` for `person` needs: (group, person).
pub fn approve_questions(
    rules: &Rules,
    snap: &Snapshot,
    person: &User,
    roles: &[String],
) -> Vec<(String, User)> {
    roles
        .iter()
        .filter_map(|r| rules.approval(r))
        .filter_map(|a| rules.group(&a.approvers))
        .filter(|g| is_member(snap, g, person).is_none())
        .map(|g| (g.name.clone(), person.clone()))
        .collect()
}

/// Whether `person` is in any approver group (they get a reaction; strangers get nothing).
/// Unknown counts as not.
pub fn in_some_group(rules: &Rules, snap: &Snapshot, person: &User) -> bool {
    rules
        .groups
        .iter()
        .any(|g| is_member(snap, g, person) == Some(true))
}

/// Whether `person` may ask for an exception deployment or confirm one by comment: the change's
/// author, or a member of some approver group (a stranger must not become the requester).
pub fn may_ask_exception(rules: &Rules, snap: &Snapshot, person: &User) -> Result<(), String> {
    if snap.change.author.same_as(person) == Some(true) || in_some_group(rules, snap, person) {
        return Ok(());
    }
    Err(format!(
        "{} is neither the author of this change nor in an approver group: only they may ask for or confirm an exception deployment",
        person.mention()
    ))
}

/// `approve ROLE… [@SHA]` by `person` in a comment written at `at`: what it grants, or why it
/// is refused. `approvals`: the change's approvals as last decided (who fills which role).
pub fn judge_approve(
    rules: &Rules,
    snap: &Snapshot,
    approvals: &[ApprovalOutcome],
    person: &User,
    roles: &[String],
    sha: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Vec<Grant>, String> {
    let who = person.mention();
    let head = snap.change.head_sha.as_deref();
    if let Some(sha) = sha {
        match head {
            Some(h) if h.to_ascii_lowercase().starts_with(sha) => {}
            Some(h) => {
                return Err(format!(
                    "{} is not the head of this change ({}); approve the head",
                    code(sha),
                    code(h.get(..7).unwrap_or(h))
                ));
            }
            None => return Err(format!("{} is not a commit of this change", code(sha))),
        }
    }
    let mut grants: Vec<Grant> = vec![];
    for name in roles {
        let Some(a) = rules.approval(name) else {
            let known: Vec<String> = rules
                .approvals
                .iter()
                .filter(|a| a.by_comment)
                .map(|a| code(&a.name))
                .collect();
            return Err(format!(
                "{} is not an approval role (roles: {})",
                code(name),
                known.join(", ")
            ));
        };
        if grants.iter().any(|g| &g.role == name) {
            continue;
        }
        if !a.by_comment {
            return Err(format!(
                "{} cannot be given by comment; apply {}",
                code(name),
                code(&a.label)
            ));
        }
        if !a.author_may_approve {
            match snap.change.author.same_as(person) {
                Some(true) => {
                    return Err(format!(
                        "{who} is the author of this change; nobody approves their own change"
                    ));
                }
                None => {
                    return Err(format!(
                        "cannot tell whether {who} is the author of this change"
                    ));
                }
                Some(false) => {}
            }
            if committed(rules, snap, person) {
                return Err(format!(
                    "{who} authored commits of this change; nobody approves their own code"
                ));
            }
            if gated_author(snap, person) {
                return Err(format!(
                    "{who} authored a merge request this issue approves; nobody approves their own change"
                ));
            }
        }
        let group = rules.group(&a.approvers);
        match group.and_then(|g| is_member(snap, g, person)) {
            Some(true) => {}
            Some(false) => return Err(format!("{who} is not in {}", code(&a.approvers))),
            None => {
                return Err(format!(
                    "could not check whether {who} is in {}",
                    code(&a.approvers)
                ));
            }
        }
        if rules.distinct_approvers {
            let elsewhere = approvals.iter().find(|o| {
                o.name != a.name
                    && match &o.state {
                        ApprovalState::Met { by, .. } => {
                            by.same_as(person) == Some(true)
                                || o.others.iter().any(|x| x.by.same_as(person) == Some(true))
                        }
                        _ => false,
                    }
            });
            if let Some(o) = elsewhere {
                return Err(format!(
                    "{who} already approved this change as {}; one person can fill only one approval role",
                    code(&o.name)
                ));
            }
            if let Some(other) = grants.first() {
                return Err(format!(
                    "{who} cannot give both {} and {}; one person can fill only one approval role",
                    code(&other.role),
                    code(name)
                ));
            }
        }
        if a.reset_on_push.resets() && snap.change.kind == crate::model::ChangeKind::MergeRequest {
            if head.is_none() {
                return Err("the change's head is not known; approve again later".into());
            }
            if unseen_code(snap, Some(at)) {
                return Err(format!(
                    "changegate cannot place the push of the head ({}) before this comment; approve again",
                    code(head.map(|h| h.get(..7).unwrap_or(h)).unwrap_or(""))
                ));
            }
            if let Some(what) = reset_since(snap, Some(at)) {
                return Err(format!(
                    "{what} after this comment was written; approve the new head"
                ));
            }
        }
        grants.push(Grant {
            role: a.name.clone(),
            head: head.map(str::to_string),
        });
    }
    Ok(grants)
}
