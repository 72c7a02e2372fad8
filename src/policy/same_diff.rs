//! `reset_on_push: changed_diff`: whether an approval given on an earlier head (or before a
//! push whose time is unknown) still stands because the change's diff against its target is
//! identical to the one approved. Decided only from the fingerprint recorded when the approval
//! was given and the diff now; anything missing resets it, with the reason.

use super::{Retarget, Snapshot};
use crate::diff::{ApprovedDiff, DiffNow};
use crate::markdown::code;
use crate::model::User;
use chrono::{DateTime, Utc};

/// What a push since an approval did to it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SameDiff {
    /// No fingerprint was recorded for this approval: the other push rules decide (and reset
    /// it once the head moves).
    NoRecord,
    /// The approval was given on the current head and target: nothing moved.
    Unmoved,
    /// The diff is identical: the approval stands (the comment's words).
    Kept(String),
    /// The approval resets (the comment's words).
    Reset(String),
}

/// Judges one approval under `changed_diff`: `role` given by `by` through `via` at `at`.
pub(super) fn judge(
    snap: &Snapshot,
    role: &str,
    via: &str,
    by: &User,
    at: Option<DateTime<Utc>>,
) -> SameDiff {
    let Some(record) = snap
        .diffs
        .approved
        .iter()
        .rev()
        .find(|r| r.is_of(role, via, by, at))
    else {
        return SameDiff::NoRecord;
    };
    let who = by.mention();
    let change = &snap.change;
    if record.target_branch != change.target_branch || retargeted_after(snap, record.given_at) {
        let from = record
            .target_branch
            .as_deref()
            .map(|b| format!(" (from {})", code(b)))
            .unwrap_or_default();
        return SameDiff::Reset(format!(
            "reset: the target branch changed{from} after {who} approved"
        ));
    }
    if change.head_sha.as_deref() == Some(record.head_sha.as_str()) {
        return SameDiff::Unmoved;
    }
    match compare(snap, record) {
        Ok(how) => SameDiff::Kept(format!(
            "kept: the change is identical to what {who} approved at {} ({how})",
            code(short(&record.head_sha))
        )),
        Err(why) => SameDiff::Reset(format!("reset: {why}")),
    }
}

/// How the branch moved without changing the diff, or why the diff cannot be called the same.
fn compare(snap: &Snapshot, record: &ApprovedDiff) -> Result<String, String> {
    let who = record.by.mention();
    let approved = match (&record.fingerprint, &record.problem) {
        (Some(f), _) => f,
        (None, problem) => {
            return Err(format!(
                "changegate could not fingerprint the diff {who} approved at {}: {}",
                code(short(&record.head_sha)),
                problem.as_deref().unwrap_or("no reason recorded")
            ));
        }
    };
    let head = snap.change.head_sha.as_deref().unwrap_or("");
    let now = current(snap, head)?;
    let Some(print) = &now.fingerprint else {
        return Err(format!(
            "the diff at {} cannot be verified: {}",
            code(short(head)),
            now.problem.as_deref().unwrap_or("it was not read")
        ));
    };
    if let Some(path) = approved.first_difference(print) {
        return Err(format!("{} differs from what {who} approved", code(path)));
    }
    if !now.blobs_given {
        same_results(snap, record, head)?;
    }
    Ok(how_moved(snap, record, now))
}

/// The diff now, read for the current head and target.
fn current<'a>(snap: &'a Snapshot, head: &str) -> Result<&'a DiffNow, String> {
    match &snap.diffs.now {
        Some(now) if now.head_sha == head && now.target_branch == snap.change.target_branch => {
            Ok(now)
        }
        _ => Err(format!("the diff at {} was not read", code(short(head)))),
    }
}

/// Where the forge gives no blob ids (GitLab): every touched path has the same content and
/// mode at the approved head and the new one.
fn same_results(snap: &Snapshot, record: &ApprovedDiff, head: &str) -> Result<(), String> {
    let who = record.by.mention();
    let compared = snap
        .diffs
        .heads
        .iter()
        .find(|h| h.from == record.head_sha && h.to == head);
    let paths = match compared {
        Some(h) => match (&h.paths, &h.problem) {
            (Some(p), _) => p,
            (None, problem) => {
                return Err(format!(
                    "the files at {} cannot be compared with what {who} approved: {}",
                    code(short(head)),
                    problem.as_deref().unwrap_or("no reason given")
                ));
            }
        },
        None => {
            return Err(format!(
                "the files at {} were not compared with what {who} approved",
                code(short(head))
            ));
        }
    };
    let touched = record.fingerprint.iter().flat_map(|f| f.files.iter());
    for f in touched {
        if paths.contains(&f.path) {
            return Err(format!(
                "{} differs from what {who} approved",
                code(&f.path)
            ));
        }
    }
    Ok(())
}

/// The comment's words for how the head moved: never a decision input.
fn how_moved(snap: &Snapshot, record: &ApprovedDiff, now: &DiffNow) -> String {
    let target = snap
        .change
        .target_branch
        .as_deref()
        .map(code)
        .unwrap_or_else(|| "its target".into());
    match (&record.merge_base, &now.merge_base) {
        (Some(a), Some(b)) if a == b => "new commits leave the diff unchanged".into(),
        (Some(_), Some(_)) if now.commits.contains(&record.head_sha) => {
            format!("{target} was merged into the branch")
        }
        (Some(_), Some(_)) => format!("the branch was rebased onto {target}"),
        _ => "the branch was updated".into(),
    }
}

/// Whether the target branch changed after `at` (or at an unknown time).
fn retargeted_after(snap: &Snapshot, at: DateTime<Utc>) -> bool {
    snap.retarget
        .as_ref()
        .is_some_and(|r: &Retarget| r.at.is_none_or(|t| t > at))
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// One line per `changed_diff` approval on the change whose head moved since it was given:
/// kept or reset, and why (for the comment).
pub(super) fn notes(rules: &crate::rules::Rules, snap: &Snapshot) -> Vec<String> {
    let mut out = vec![];
    for a in rules
        .approvals
        .iter()
        .filter(|a| a.reset_on_push.keeps_same_diff())
    {
        for (via, by, at) in given(rules, snap, a) {
            match judge(snap, &a.name, via, &by, at) {
                SameDiff::Kept(words) | SameDiff::Reset(words) => {
                    if !out.contains(&words) {
                        out.push(words);
                    }
                }
                SameDiff::NoRecord | SameDiff::Unmoved => {}
            }
        }
    }
    out
}

/// The approvals of role `a` on the change: the label's latest application, the native
/// approvals and the approvals by comment, as (via, by, at).
fn given(
    rules: &crate::rules::Rules,
    snap: &Snapshot,
    a: &crate::rules::Approval,
) -> Vec<(&'static str, User, Option<DateTime<Utc>>)> {
    let mut out = vec![];
    if snap.change.has_label(&a.label)
        && let Some(ev) = super::last_applied(snap, &a.label)
    {
        out.push(("label", ev.actor.clone(), ev.at));
    }
    if a.native_approvals {
        out.extend(
            snap.reviews
                .iter()
                .filter(|r| r.approved)
                .map(|r| ("review", r.reviewer.clone(), r.submitted_at)),
        );
    }
    if a.by_comment && rules.commands.is_some() {
        out.extend(
            snap.comment_approvals
                .iter()
                .filter(|c| c.role == a.name)
                .map(|c| ("comment", c.by.clone(), Some(c.at))),
        );
    }
    out
}
