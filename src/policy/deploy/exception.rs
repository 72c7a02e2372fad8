//! In a window, or an exception: outside every window (or inside a blocked period) every
//! change the deployment brings needs the exception roles, given after a request for this
//! closed time (or this occurrence of the period), then the requester's confirmation; each
//! exception is used once. Emergencies pass the windows (never blocked periods) when every
//! change is one, and the deployment says what they owe.

use super::{
    DeployFacts, DeployedChange, ExceptionEventKind, Findings, LONGEST_WAIT_DAYS, UsedException,
    when,
};
use crate::markdown::code;
use crate::model::User;
use crate::rules::deploy::{DeploymentRule, EXCEPTION_REQUESTED};
use crate::rules::windows::WindowSet;
use crate::rules::{BlockedPeriod, Rules};
use chrono::{DateTime, Duration, Utc};

/// Where one change's exception stands.
enum Status {
    /// With the last request made for another closed time or occurrence, if any.
    NotRequested(Option<DateTime<Utc>>),
    Pending(String),
    Complete(UsedException),
}

pub(super) fn check_time(
    rules: &Rules,
    entry: &DeploymentRule,
    facts: &DeployFacts,
    changes: &[&DeployedChange],
    f: &mut Findings,
) {
    for p in &rules.blocked_periods {
        period(p, facts, changes, f);
    }
    windows(entry, facts, changes, f);
}

fn period(p: &BlockedPeriod, facts: &DeployFacts, changes: &[&DeployedChange], f: &mut Findings) {
    let Some(span) = p.window.holding(facts.now) else {
        return;
    };
    // Without changes (a redeploy) nothing says whom the period spares: it holds.
    if !changes.is_empty() && !changes.iter().any(|c| c.periods.contains(&p.name)) {
        return;
    }
    let head = format!(
        "blocked period {} holds until {}",
        code(&p.name),
        when(span.1)
    );
    if p.exception.is_empty() {
        f.deny(format!("{head}; nothing lifts it"));
        return;
    }
    let same = |at: DateTime<Utc>| p.window.occurrence_for(at) == Some(span);
    let statuses = statuses(facts, changes, &p.exception, true, &p.name, &same);
    match summarize(changes, statuses, f) {
        Summary::Complete => f.holds(format!("{head}; lifted by an exception")),
        Summary::Pending(what) => f.wait(format!("{head}: {what}"), Some(span.1)),
        Summary::None => f.deny(format!(
            "{head}: it needs the period's exception ({}) on every change deployed, after a request ({})",
            roles(&p.exception),
            code(EXCEPTION_REQUESTED)
        )),
    }
}

fn windows(
    entry: &DeploymentRule,
    facts: &DeployFacts,
    changes: &[&DeployedChange],
    f: &mut Findings,
) {
    if entry.windows.is_empty() {
        f.timing = Some("any time".into());
        return;
    }
    let set = WindowSet(&entry.windows);
    if let Some(w) = set.open_at(facts.now) {
        f.timing = Some(format!("window {}", w.name));
        f.holds(format!("in window {}", code(&w.name)));
        return;
    }
    if !changes.is_empty() && changes.iter().all(|c| c.emergency_owes.is_some()) {
        f.timing = Some("emergency".into());
        f.holds("outside the windows, but every change it brings is an emergency");
        for c in changes {
            let owes = c.emergency_owes.as_deref().unwrap_or_default();
            if !owes.is_empty() {
                let line = format!("#{} still owes {}", c.number, roles(owes));
                f.owed.push(line.clone());
                f.note(line);
            }
        }
        return;
    }
    let opens = set.next_opening(facts.now);
    let limit = facts
        .now
        .checked_add_signed(Duration::days(LONGEST_WAIT_DAYS));
    let soon = opens.filter(|o| limit.is_none_or(|l| *o <= l));
    let head = match opens {
        Some(o) => format!("outside every window (the next opens {})", when(o)),
        None => "outside every window (none opens again)".to_string(),
    };
    let Some(ex) = &entry.exception else {
        match soon {
            Some(o) => f.wait(format!("{head}: waits for it"), Some(o)),
            None => f.deny(format!("{head}, and no exception lifts the windows")),
        }
        return;
    };
    let now_closed = set.closed_time_for(facts.now);
    let same = |at: DateTime<Utc>| set.closed_time_for(at) == now_closed;
    let statuses = statuses(
        facts,
        changes,
        &ex.require,
        ex.confirm_by_requester,
        "window",
        &same,
    );
    match summarize(changes, statuses, f) {
        Summary::Complete => f.timing = Some("exception".into()),
        Summary::Pending(what) => f.wait(format!("{head}: {what}"), soon),
        Summary::None => match soon {
            Some(o) => f.wait(
                format!(
                    "{head}: waits for it, or for an exception ({} after a request, then the requester's confirmation)",
                    roles(&ex.require)
                ),
                Some(o),
            ),
            None => f.deny(format!(
                "{head}: it needs an exception ({} on every change deployed, after a request, then the requester's confirmation)",
                roles(&ex.require)
            )),
        },
    }
}

enum Summary {
    Complete,
    Pending(String),
    None,
}

/// All complete (recorded for use), some pending (what each still needs), or none asked.
fn summarize(changes: &[&DeployedChange], statuses: Vec<Status>, f: &mut Findings) -> Summary {
    if changes.is_empty() {
        return Summary::None;
    }
    let mut pending = vec![];
    let mut used = vec![];
    let mut asked = false;
    for (c, s) in changes.iter().zip(statuses) {
        match s {
            Status::Complete(u) => {
                asked = true;
                used.push(u);
            }
            Status::Pending(what) => {
                asked = true;
                pending.push(format!("#{} {what}", c.number));
            }
            Status::NotRequested(other) => {
                if let Some(at) = other {
                    f.note(format!(
                        "#{}'s exception requested at {} was for another time: it does not carry to this one",
                        c.number,
                        when(at)
                    ));
                }
                pending.push(format!("#{} has no exception requested", c.number))
            }
        }
    }
    if !asked {
        return Summary::None;
    }
    if pending.is_empty() {
        for u in &used {
            f.holds(format!(
                "exception on #{} requested by {} at {}, approved by {}{}",
                u.change,
                code(&u.requester),
                when(u.requested_at),
                u.approvals
                    .iter()
                    .map(|(r, by, at)| format!("{} ({} at {})", code(by), r, when(*at)))
                    .collect::<Vec<_>>()
                    .join(", "),
                u.confirmed_at
                    .map(|t| format!(", confirmed at {}", when(t)))
                    .unwrap_or_default()
            ));
        }
        f.exceptions.extend(used);
        return Summary::Complete;
    }
    Summary::Pending(pending.join("; "))
}

fn statuses(
    facts: &DeployFacts,
    changes: &[&DeployedChange],
    need: &[String],
    confirm: bool,
    lifts: &str,
    same: &dyn Fn(DateTime<Utc>) -> bool,
) -> Vec<Status> {
    changes
        .iter()
        .map(|c| status(facts, c, need, confirm, lifts, same))
        .collect()
}

fn name(u: &User) -> String {
    u.username
        .clone()
        .or(u.id.map(|i| format!("#{i}")))
        .unwrap_or_else(|| "someone unknown".into())
}

/// One change's exception for this closed time or occurrence.
fn status(
    facts: &DeployFacts,
    c: &DeployedChange,
    need: &[String],
    confirm: bool,
    lifts: &str,
    same: &dyn Fn(DateTime<Utc>) -> bool,
) -> Status {
    let placed = |k: ExceptionEventKind| {
        let mut v: Vec<(&User, DateTime<Utc>)> = c
            .exception_events
            .iter()
            .filter(|e| e.kind == k)
            .filter_map(|e| Some((&e.by, e.at?)))
            .filter(|(_, at)| *at <= facts.now)
            .collect();
        v.sort_by_key(|(_, at)| *at);
        v
    };
    // The first request for this closed time names the requester. Once its exception is
    // used, only a request made after that use starts a new one (with new approvals, given
    // after it, and a new confirmation).
    let requests = placed(ExceptionEventKind::Requested);
    let Some(first) = requests.iter().find(|(_, at)| same(*at)).map(|(_, at)| *at) else {
        return Status::NotRequested(requests.last().map(|(_, at)| *at));
    };
    let used: Vec<&super::SpentException> = facts
        .spent
        .iter()
        .filter(|s| s.change == c.number && same(s.requested_at))
        .collect();
    // Unknown use time: as late as can be, so no request can follow it.
    let used_until = used
        .iter()
        .map(|s| s.spent_at.unwrap_or(DateTime::<Utc>::MAX_UTC))
        .max();
    let fresh = requests
        .iter()
        .filter(|(_, at)| same(*at))
        .filter(|(_, at)| !used.iter().any(|s| s.requested_at == *at))
        .find(|(_, at)| used_until.is_none_or(|u| *at > u))
        .copied();
    let Some((requester, asked)) = fresh else {
        return Status::Pending(format!(
            "used its exception (requested {}) for an earlier deployment: request a new one",
            when(first)
        ));
    };
    let mut approvals: Vec<(String, String, DateTime<Utc>)> = vec![];
    let mut people: Vec<&User> = vec![];
    let mut missing = vec![];
    for role in need {
        let given = c
            .grants
            .iter()
            .filter(|g| &g.role == role)
            .filter_map(|g| Some((&g.by, g.at?)))
            .filter(|(by, at)| {
                *at > asked
                    && *at <= facts.now
                    && !people.iter().any(|p| p.same_as(by) != Some(false))
            })
            .min_by_key(|(_, at)| *at);
        match given {
            Some((by, at)) => {
                people.push(by);
                approvals.push((role.clone(), name(by), at));
            }
            None => missing.push(code(role)),
        }
    }
    if !missing.is_empty() {
        return Status::Pending(format!(
            "needs {} given after the request of {} at {}",
            missing.join(", "),
            code(name(requester)),
            when(asked)
        ));
    }
    let last = approvals.iter().map(|a| a.2).max().unwrap_or(asked);
    let confirmed_at = if confirm {
        let by_requester = placed(ExceptionEventKind::Confirmed)
            .into_iter()
            .find(|(by, at)| *at >= last && by.same_as(requester) == Some(true));
        match by_requester {
            Some((_, at)) => Some(at),
            None => {
                return Status::Pending(format!(
                    "waits for {} (the requester) to confirm after the approvals",
                    code(name(requester))
                ));
            }
        }
    } else {
        None
    };
    Status::Complete(UsedException {
        change: c.number,
        lifts: lifts.to_string(),
        requester: name(requester),
        requested_at: asked,
        approvals,
        confirmed_at,
    })
}

fn roles(names: &[String]) -> String {
    names.iter().map(code).collect::<Vec<_>>().join(", ")
}
