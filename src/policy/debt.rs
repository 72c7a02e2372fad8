//! What a merged change owes is decided once, at its first evaluation after the merge, from
//! its state at merge, and stored: labels, links and histories can be edited afterwards, so
//! later evaluations read the stored debt back and nothing after the merge reduces it. When
//! the history cannot establish the state at merge, the change owes what an emergency owes.

use super::Snapshot;
use super::conditions::{self, Facts};
use crate::model::{ChangeState, Gap, Label};
use crate::rules::{AfterMerge, Rules};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// What a merged change owes after its merge, as fixed at its first evaluation after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Debt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<DateTime<Utc>>,
    /// The rules it owes under.
    pub rules: Vec<String>,
    /// The approvals owed (names from the rules); only these pay it.
    pub require: Vec<String>,
    /// How long after the merge it is due, in seconds.
    pub within_secs: i64,
    /// The deadline (merge time + within), when the merge time is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrospective_label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_label: Option<Label>,
    /// Reminder points, seconds after the merge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remind_secs: Vec<i64>,
    /// How it was determined, in words.
    pub how: String,
}

/// How a debt presumed for want of a readable history begins (see [`Debt::presumed`]).
const PRESUMED: &str = "changegate could not establish this change's labels at its merge";

impl Debt {
    /// Whether it was presumed (the state at merge could not be read) rather than found: such
    /// a change owes what an emergency owes, but was not shown to be one.
    pub fn presumed(&self) -> bool {
        self.how.starts_with(PRESUMED)
    }

    /// Whether it owes anything at all.
    pub fn owes(&self) -> bool {
        !self.require.is_empty() || self.retrospective_label.is_some()
    }

    /// The `after_merge` it stands for.
    pub(super) fn after_merge(&self) -> AfterMerge {
        AfterMerge {
            require: self.require.clone(),
            within: Duration::try_seconds(self.within_secs).unwrap_or(Duration::zero()),
            retrospective_label: self.retrospective_label.clone(),
            remind: self
                .remind_secs
                .iter()
                .filter_map(|s| Duration::try_seconds(*s))
                .collect(),
            overdue_label: self.overdue_label.clone(),
        }
    }
}

/// What the worker knows of a change's debt besides the forge's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DebtFacts {
    /// The debt stored at the change's first evaluation after merge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<Debt>,
    /// What the change would have owed had it merged, as changegate last judged it open
    /// (stored then): a link or label removed before the first evaluation after merge does
    /// not take it away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_open: Option<Debt>,
    /// What of the label history cannot be placed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
}

/// What a change owes under, for this evaluation.
pub(super) struct Owing {
    /// Rules whose `after_merge` applies now.
    pub rules: Vec<String>,
    /// The debt fixed at merge: stored, or decided by this evaluation.
    pub debt: Option<Debt>,
    /// What this evaluation decided, for the worker to store: the debt fixed at merge, or
    /// for an open change what it would owe if merged now.
    pub decided: Option<Debt>,
    pub notes: Vec<String>,
}

/// What the change owes under: the rules matched now and, once merged, the debt fixed at
/// merge (decided now from the state at merge when none is stored yet).
pub(super) fn owing(rules: &Rules, snap: &Snapshot, matched: &[String], met: &[String]) -> Owing {
    let mut out = Owing {
        rules: matched.to_vec(),
        debt: None,
        decided: None,
        notes: vec![],
    };
    if snap.change.state == ChangeState::Open {
        out.decided = super::timed::combined(rules, matched).map(|_| {
            let how = "what it would owe if merged now, as changegate last saw it open";
            fix(rules, matched, None, how.into())
        });
        return out;
    }
    if snap.change.state != ChangeState::Merged {
        return out;
    }
    if let Some(d) = &snap.debt.fixed {
        let gone: Vec<String> = d
            .rules
            .iter()
            .filter(|r| !matched.contains(r))
            .map(|r| format!("`{r}`"))
            .collect();
        if d.owes() && !gone.is_empty() {
            out.notes.push(format!(
                "This change merged under {}: what it owes after merge was fixed then ({}) and stays owed, whatever its labels or links say now.",
                gone.join(", "),
                d.how
            ));
        }
        out.debt = Some(d.clone());
        return out;
    }
    if !rules.rules.iter().any(|r| r.after_merge.is_some()) {
        return out;
    }
    let merged_at = snap.change.merged_at;
    let unknown = unknowable(snap, merged_at);
    let how = match (unknown, labels_at_merge(snap, &snap.change.labels)) {
        (Some(why), _) => {
            // Fail closed: the state at merge cannot be established, so the change owes what
            // an emergency owes.
            for r in rules.rules.iter().filter(|r| r.after_merge.is_some()) {
                if !out.rules.contains(&r.name) {
                    out.rules.push(r.name.clone());
                }
            }
            let how = format!("{PRESUMED} ({why}), so it owes what an emergency owes");
            out.notes.push(format!("{how}."));
            how
        }
        (None, Some(at_merge)) => {
            let facts = Facts {
                change: &snap.change,
                labels: &at_merge,
                approved: met,
                files: snap.changed_files.as_ref(),
            };
            for r in rules.rules.iter().filter(|r| r.after_merge.is_some()) {
                if !out.rules.contains(&r.name) && conditions::holds(&r.when, &facts) {
                    out.rules.push(r.name.clone());
                    out.notes.push(merged_under(&r.name));
                }
            }
            "from its labels at merge and its state when first evaluated after it".to_string()
        }
        (None, None) => "from its state when first evaluated after merge".to_string(),
    };
    let seen = snap.debt.seen_open.as_ref().filter(|d| d.owes());
    for r in seen.iter().flat_map(|d| &d.rules) {
        if !out.rules.contains(r) && rules.rules.iter().any(|x| &x.name == r) {
            out.rules.push(r.clone());
            out.notes.push(merged_under(r));
        }
    }
    let mut debt = fix(rules, &out.rules, merged_at, how);
    if let Some(seen) = seen {
        // What it owed when last seen open stands too, even under rules since renamed.
        merge_into(&mut debt, seen);
    }
    out.debt = Some(debt.clone());
    out.decided = Some(debt);
    out
}

fn merged_under(rule: &str) -> String {
    format!(
        "This change merged under rule `{rule}`; its labels or links changed since, but what it owes after merge stays owed."
    )
}

/// The debt the `after_merge` of `owing` rules makes, fixed.
fn fix(rules: &Rules, owing: &[String], merged_at: Option<DateTime<Utc>>, how: String) -> Debt {
    let Some((names, after)) = super::timed::combined(rules, owing) else {
        return Debt {
            merged_at,
            rules: vec![],
            require: vec![],
            within_secs: 0,
            due: None,
            retrospective_label: None,
            overdue_label: None,
            remind_secs: vec![],
            how,
        };
    };
    Debt {
        merged_at,
        rules: names,
        require: after.require.clone(),
        within_secs: after.within.num_seconds(),
        due: merged_at.and_then(|m| m.checked_add_signed(after.within)),
        retrospective_label: after.retrospective_label.clone(),
        overdue_label: after.overdue_label.clone(),
        remind_secs: after.remind.iter().map(|d| d.num_seconds()).collect(),
        how,
    }
}

/// Why the label history cannot establish the labels at merge, if it cannot.
fn unknowable(snap: &Snapshot, merged_at: Option<DateTime<Utc>>) -> Option<String> {
    if !snap.incomplete.is_empty() {
        return Some(format!(
            "it could not read all of {}",
            snap.incomplete.join(" and ")
        ));
    }
    let merged_at = merged_at?.trunc_subsecs(0);
    let gaps: Vec<&str> = snap
        .debt
        .gaps
        .iter()
        .filter(|g| g.before.is_none_or(|t| t >= merged_at))
        .map(|g| g.what.as_str())
        .collect();
    (!gaps.is_empty()).then(|| gaps.join("; "))
}

/// The labels the change carried when it merged: the current ones with every later change
/// undone. A removal in the merge's second, or at an unknown time, counts as after the merge
/// (the label stays); an addition then counts as before it.
pub fn labels_at_merge(snap: &Snapshot, current: &[Label]) -> Option<Vec<Label>> {
    let merged_at = snap
        .change
        .merged_at
        .filter(|_| snap.change.state == ChangeState::Merged)?
        .trunc_subsecs(0);
    let mut labels = current.to_vec();
    for e in snap.label_events.iter().rev() {
        let second = e.at.map(|t| t.trunc_subsecs(0));
        let after = if e.added {
            second.is_some_and(|t| t > merged_at)
        } else {
            second.is_none_or(|t| t >= merged_at)
        };
        if !after {
            continue;
        }
        if e.added {
            labels.retain(|l| l != &e.label);
        } else if !labels.contains(&e.label) {
            labels.push(e.label.clone());
        }
    }
    Some(labels)
}

/// The `after_merge` the change owes now: the stored debt's, with whatever the rules matched
/// now add (never less). `from_rules`: the matched rules' own, combined.
pub(super) fn with_debt(
    from_rules: Option<(Vec<String>, AfterMerge)>,
    debt: Option<&Debt>,
) -> Option<(Vec<String>, AfterMerge)> {
    let Some(d) = debt.filter(|d| d.owes()) else {
        return from_rules;
    };
    let mut names = d.rules.clone();
    let mut after = d.after_merge();
    if let Some((more, a)) = from_rules {
        for n in more {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        for r in a.require {
            if !after.require.contains(&r) {
                after.require.push(r);
            }
        }
        after.retrospective_label = after.retrospective_label.or(a.retrospective_label);
        after.overdue_label = after.overdue_label.or(a.overdue_label);
        after.remind.extend(a.remind);
        after.remind.sort();
        after.remind.dedup();
    }
    Some((names, after))
}

impl DebtFacts {
    pub fn is_empty(&self) -> bool {
        self.fixed.is_none() && self.gaps.is_empty()
    }
}

/// Adds what `seen` owes to `debt`: every approval, the shorter time, every reminder.
fn merge_into(debt: &mut Debt, seen: &Debt) {
    let within = match debt.owes() {
        true => debt.within_secs.min(seen.within_secs),
        false => seen.within_secs,
    };
    for (list, more) in [
        (&mut debt.rules, &seen.rules),
        (&mut debt.require, &seen.require),
    ] {
        for m in more {
            if !list.contains(m) {
                list.push(m.clone());
            }
        }
    }
    debt.within_secs = within;
    debt.due = debt
        .merged_at
        .zip(Duration::try_seconds(within))
        .and_then(|(m, w)| m.checked_add_signed(w));
    debt.retrospective_label = debt
        .retrospective_label
        .take()
        .or(seen.retrospective_label.clone());
    debt.overdue_label = debt.overdue_label.take().or(seen.overdue_label.clone());
    debt.remind_secs.extend(seen.remind_secs.iter().copied());
    debt.remind_secs.sort();
    debt.remind_secs.dedup();
    debt.how
        .push_str(", with what it owed when changegate last saw it open");
}
