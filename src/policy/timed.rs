//! The process in time: blocked periods that freeze merges unless their exception approvals
//! are given, and what an emergency change owes after it merged (approvals, a retrospective,
//! reminders, a deadline). Pure: the snapshot carries the time.

use super::approvals::committed;
use super::conditions::{self, Facts};
use super::labels::LabelSet;
use super::{ApprovalOutcome, ApprovalState, ChecklistItem, Snapshot, last_applied};
use crate::model::{ChangeState, Label, User};
use crate::rules::{AfterMerge, Rules, human_duration};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A blocked period covering the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocked {
    pub period: String,
    pub until: DateTime<Utc>,
    /// Whether every exception approval is given.
    pub lifted: bool,
    /// The exception approvals (names from the rules).
    pub exception: Vec<String>,
    /// Exception approvals given that do not lift this occurrence (given for another, or
    /// before new commits or a retarget), with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<(String, String)>,
}

/// Who gave something owed, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Given {
    pub by: User,
    pub at: Option<DateTime<Utc>>,
}

/// One thing an emergency owes after merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwedItem {
    /// The approval's name, or `retrospective`.
    pub name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given: Option<Given>,
    /// Why it is not given, when it is not (the approval's own reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Whom to mention when reminding: teams and people who can give it.
    pub who: Vec<String>,
}

/// A reminder due now: the latest reminder point (or the deadline) that has passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    /// Identifies the point, so that each is sent once: seconds after merge, or `overdue`.
    pub point: String,
    /// Every earlier point it stands for (skipped when the bot was down across several).
    pub covers: Vec<String>,
}

/// What a change matching an `after_merge` rule owes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owed {
    pub rules: Vec<String>,
    /// How long after the merge it is due, in words (`24 h`).
    pub within: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<DateTime<Utc>>,
    /// The deadline (merge time + within), once merged with a known time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    pub items: Vec<OwedItem>,
    pub merged: bool,
    pub complete: bool,
    pub overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder: Option<Reminder>,
    /// Future times at which the change must be evaluated again (reminders, the deadline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wake_at: Vec<DateTime<Utc>>,
}

impl Owed {
    pub fn missing(&self) -> impl Iterator<Item = &OwedItem> {
        self.items.iter().filter(|i| i.given.is_none())
    }
}

/// The instant a blocked period is judged at: now for an open change, its merge for a merged
/// one (was it merged during a freeze?); a closed change is not judged.
fn instant(snap: &Snapshot) -> Option<DateTime<Utc>> {
    match snap.change.state {
        ChangeState::Open => Some(snap.now),
        ChangeState::Merged => Some(snap.change.merged_at.unwrap_or(snap.now)),
        ChangeState::Closed => None,
    }
}

/// The blocked periods covering the change, each with its checklist item.
pub(super) fn blocked(
    rules: &Rules,
    snap: &Snapshot,
    facts: &Facts,
    outcomes: &[ApprovalOutcome],
) -> Vec<(Blocked, ChecklistItem)> {
    let Some(at) = instant(snap) else {
        return vec![];
    };
    let mut out = vec![];
    for p in &rules.blocked_periods {
        let Some(span) = p.window.holding(at) else {
            continue;
        };
        let until = span.1;
        if !conditions::holds(&p.when, facts) {
            continue;
        }
        let stale = super::freeze::stale(p, span, outcomes, snap);
        let met = |name: &String| {
            outcomes.iter().any(|o| &o.name == name && o.is_met())
                && !stale.iter().any(|(n, _)| n == name)
        };
        let lifted = !p.exception.is_empty() && p.exception.iter().all(met);
        let titles: Vec<String> = p
            .exception
            .iter()
            .filter_map(|n| rules.approval(n))
            .map(|a| a.title.clone())
            .collect();
        let what = p
            .description
            .clone()
            .unwrap_or_else(|| format!("blocked period `{}`", p.name));
        let mut detail = match (lifted, titles.is_empty()) {
            (true, _) => format!("{what}: lifted for this change by {}", titles.join(" and ")),
            (false, true) => format!("{what}: no change may merge until then"),
            (false, false) => format!(
                "{what}: no change may merge until then unless {} are all given",
                titles.join(", ")
            ),
        };
        super::freeze::explain(rules, &stale, &mut detail);
        let item = ChecklistItem {
            title: format!(
                "Blocked period {} until {}",
                p.name,
                until.format("%Y-%m-%d %H:%M UTC")
            ),
            met: lifted,
            detail,
            next_step: None,
        };
        out.push((
            Blocked {
                period: p.name.clone(),
                until,
                lifted,
                exception: p.exception.clone(),
                stale,
            },
            item,
        ));
    }
    out
}

/// The `after_merge` of every matched rule, merged: every approval any of them owes, the
/// earliest deadline, every reminder.
pub(super) fn combined(rules: &Rules, matched: &[String]) -> Option<(Vec<String>, AfterMerge)> {
    let mut names = vec![];
    let mut out: Option<AfterMerge> = None;
    for r in rules.rules.iter().filter(|r| matched.contains(&r.name)) {
        let Some(a) = &r.after_merge else { continue };
        names.push(r.name.clone());
        match &mut out {
            None => out = Some(a.clone()),
            Some(o) => {
                for req in &a.require {
                    if !o.require.contains(req) {
                        o.require.push(req.clone());
                    }
                }
                o.within = o.within.min(a.within);
                o.retrospective_label = o
                    .retrospective_label
                    .clone()
                    .or(a.retrospective_label.clone());
                o.overdue_label = o.overdue_label.clone().or(a.overdue_label.clone());
                o.remind.extend(a.remind.iter().copied());
                o.remind.sort();
                o.remind.dedup();
            }
        }
    }
    out.map(|o| (names, o))
}

/// What the change owes after merge, with the labels that follow from it: the retrospective
/// label removed when its author applied it, `::Needs Approval` put on owed approvals, the
/// overdue label applied past the deadline and removed once everything arrived.
pub(super) fn owed(
    rules: &Rules,
    snap: &Snapshot,
    matched: &[String],
    debt: Option<&super::debt::Debt>,
    outcomes: &[ApprovalOutcome],
    set: &mut LabelSet,
) -> Option<Owed> {
    let (names, after) = super::debt::with_debt(combined(rules, matched), debt)?;
    let merged = snap.change.state == ChangeState::Merged;
    if snap.change.state == ChangeState::Closed {
        return None;
    }
    let mut items: Vec<OwedItem> = after
        .require
        .iter()
        .filter_map(|n| Some((rules.approval(n)?, outcomes.iter().find(|o| &o.name == n)?)))
        .map(|(a, o)| {
            let (given, problem) = match &o.state {
                ApprovalState::Met { by, at, .. } => (
                    Some(Given {
                        by: by.clone(),
                        at: *at,
                    }),
                    None,
                ),
                ApprovalState::Missing => (None, None),
                ApprovalState::Invalid { reason } | ApprovalState::Unverified { reason } => {
                    (None, Some(reason.clone()))
                }
            };
            OwedItem {
                name: a.name.clone(),
                title: a.title.clone(),
                given,
                problem,
                who: super::checklist::mentions(rules, snap, &a.approvers),
            }
        })
        .collect();
    // A stored debt naming an approval the rules no longer define stays owed.
    for n in after.require.iter().filter(|n| rules.approval(n).is_none()) {
        items.push(OwedItem {
            name: n.clone(),
            title: format!("`{n}`"),
            given: None,
            problem: Some(format!(
                "the rules no longer define the approval `{n}` this change owed at its merge; a maintainer settles it"
            )),
            who: vec![],
        });
    }
    if let Some(label) = &after.retrospective_label {
        items.push(retrospective(rules, snap, label, set));
    }
    if merged {
        for item in items.iter().filter(|i| i.given.is_none()) {
            let Some(pending) = rules
                .approval(&item.name)
                .and_then(|a| a.pending_label.as_ref())
            else {
                continue;
            };
            let scope = pending.scope();
            if !set
                .labels
                .iter()
                .any(|l| l.scope().is_some() && l.scope() == scope)
            {
                set.add(pending, "owed after the emergency merge".into());
            }
        }
    }
    let complete = items.iter().all(|i| i.given.is_some());
    let merged_at = snap.change.merged_at.filter(|_| merged);
    // A stored debt keeps the deadline it was fixed with; checked: a deadline past chrono's
    // range is unknown, so overdue (fail closed).
    let due = match debt.filter(|d| d.owes()) {
        Some(d) => d.due,
        None => merged_at.and_then(|m| m.checked_add_signed(after.within)),
    };
    // A merged change whose merge time is unknown cannot prove it is within its time.
    let overdue = merged && due.is_none_or(|d| snap.now >= d);
    if let Some(label) = &after.overdue_label {
        if overdue && !complete {
            let since = due
                .map(|d| format!(" since {}", d.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            set.add(label, format!("emergency approvals overdue{since}"));
        } else if complete {
            set.remove(
                label,
                "every approval owed after the emergency merge is given".into(),
            );
        }
    }
    let (reminder, wake_at) = match merged_at {
        Some(m) if merged => schedule(&after, m, snap.now, complete),
        _ => (None, vec![]),
    };
    Some(Owed {
        rules: names,
        within: human_duration(after.within),
        merged_at,
        due,
        items,
        merged,
        complete,
        overdue,
        reminder,
        wake_at,
    })
}

/// The reminder due now (the latest point passed, the deadline counting as one) and the
/// future points to wake up at.
fn schedule(
    after: &AfterMerge,
    merged_at: DateTime<Utc>,
    now: DateTime<Utc>,
    complete: bool,
) -> (Option<Reminder>, Vec<DateTime<Utc>>) {
    if complete {
        return (None, vec![]);
    }
    let mut points: Vec<(String, Duration)> = after
        .remind
        .iter()
        .map(|d| (d.num_seconds().to_string(), *d))
        .collect();
    points.push(("overdue".into(), after.within));
    let passed: Vec<String> = points
        .iter()
        .filter(|(_, d)| merged_at.checked_add_signed(*d).is_some_and(|t| t <= now))
        .map(|(k, _)| k.clone())
        .collect();
    let wake_at = points
        .iter()
        .filter_map(|(_, d)| merged_at.checked_add_signed(*d))
        .filter(|t| *t > now)
        .collect();
    let reminder = passed.split_last().map(|(last, earlier)| Reminder {
        point: last.clone(),
        covers: earlier.to_vec(),
    });
    (reminder, wake_at)
}

/// The retrospective label: given by anyone but the author; applied by the author, it is
/// removed and still owed.
fn retrospective(rules: &Rules, snap: &Snapshot, label: &Label, set: &mut LabelSet) -> OwedItem {
    let author = snap.change.author.mention();
    let mut item = OwedItem {
        name: "retrospective".into(),
        title: format!("Retrospective (`{label}`)"),
        given: None,
        problem: None,
        who: vec![author],
    };
    if !set.labels.contains(label) {
        // Removed by the bot after its author applied it: keep saying why.
        let last = snap.label_events.iter().rposition(|e| &e.label == label);
        if let Some(i) = last
            && !snap.label_events[i].added
            && snap
                .bot
                .as_ref()
                .is_some_and(|b| b.same_as(&snap.label_events[i].actor) == Some(true))
            && let Some(ev) = snap.label_events[..i]
                .iter()
                .rev()
                .find(|e| e.added && &e.label == label)
            && snap.change.author.same_as(&ev.actor) == Some(true)
        {
            item.problem = Some(own_retrospective(&ev.actor, label));
        }
        return item;
    }
    let Some(ev) = last_applied(snap, label) else {
        item.problem = Some(format!("there is no record yet of who applied `{label}`"));
        return item;
    };
    let own = snap.change.author.same_as(&ev.actor);
    let bot = snap
        .bot
        .as_ref()
        .is_some_and(|b| b.same_as(&ev.actor) == Some(true));
    if own == Some(true) || committed(rules, snap, &ev.actor) || bot {
        let reason = if bot {
            format!("changegate cannot confirm a retrospective itself; `{label}` was removed")
        } else {
            own_retrospective(&ev.actor, label)
        };
        set.remove(label, reason.clone());
        item.problem = Some(reason);
    } else if own.is_none() {
        item.problem = Some(format!(
            "cannot tell whether {}, who applied `{label}`, is the author of this change",
            ev.actor.mention()
        ));
    } else {
        item.given = Some(Given {
            by: ev.actor.clone(),
            at: ev.at,
        });
    }
    item
}

fn own_retrospective(actor: &User, label: &Label) -> String {
    format!(
        "{} applied `{label}` but is the author of this change; someone else confirms its retrospective",
        actor.mention()
    )
}

/// The blocked periods whose `when` holds for the change as the decision leaves it, whatever
/// the time: a deployment inside one of them needs its exception, however long ago the change
/// merged.
pub fn periods_covering(rules: &Rules, snap: &Snapshot, decision: &super::Decision) -> Vec<String> {
    let met: Vec<String> = decision
        .approvals
        .iter()
        .filter(|o| o.is_met())
        .map(|o| o.name.clone())
        .collect();
    let facts = conditions::Facts {
        change: &snap.change,
        labels: &snap.change.labels,
        approved: &met,
        files: snap.changed_files.as_ref(),
    };
    rules
        .blocked_periods
        .iter()
        .filter(|p| conditions::holds(&p.when, &facts))
        .map(|p| p.name.clone())
        .collect()
}
