//! Freeze exceptions lift one freeze, for one head: an exception approval counts for the
//! occurrence of the blocked period in force when it was given (or the next one to start, if
//! given before it), never a later one, and new commits or a new target branch reset it
//! whatever the approval's own `reset_on_push`.

use super::{ApprovalOutcome, ApprovalState, Snapshot};
use crate::rules::{BlockedPeriod, Rules, Window};
use chrono::{DateTime, Utc};

/// The period's exception approvals given that do not lift its occurrence `span`: given for
/// another occurrence, or before the head or target changed; with why.
pub(super) fn stale(
    p: &BlockedPeriod,
    span: (DateTime<Utc>, DateTime<Utc>),
    outcomes: &[ApprovalOutcome],
    snap: &Snapshot,
) -> Vec<(String, String)> {
    outcomes
        .iter()
        .filter(|o| p.exception.contains(&o.name) && o.is_met())
        .filter_map(|o| Some((o.name.clone(), not_for_this(&p.window, span, o, snap)?)))
        .collect()
}

/// Adds why each stale exception does not count to the period's checklist line.
pub(super) fn explain(rules: &Rules, stale: &[(String, String)], detail: &mut String) {
    for (name, why) in stale {
        let title = rules.approval(name).map_or(name.as_str(), |a| &a.title);
        detail.push_str(&format!("; {title} does not count: {why}"));
    }
}

/// Why the exception approval `o` does not lift the occurrence `span` of the period, if it
/// does not: fewer of its givers than it needs gave it for this occurrence and head.
fn not_for_this(
    window: &Window,
    span: (DateTime<Utc>, DateTime<Utc>),
    o: &ApprovalOutcome,
    snap: &Snapshot,
) -> Option<String> {
    let ApprovalState::Met { at, .. } = &o.state else {
        return None;
    };
    let times = std::iter::once(*at).chain(o.others.iter().map(|a| a.at));
    let mut reasons = vec![];
    let mut valid = 0u32;
    for given in times {
        match why_not(window, span, given, snap) {
            None => valid = valid.saturating_add(1),
            Some(r) => reasons.push(r),
        }
    }
    if valid >= o.needed.max(1) {
        return None;
    }
    reasons.into_iter().next()
}

fn why_not(
    window: &Window,
    span: (DateTime<Utc>, DateTime<Utc>),
    given: Option<DateTime<Utc>>,
    snap: &Snapshot,
) -> Option<String> {
    let Some(at) = given else {
        return Some(
            "it was given at an unknown time, so the freeze it was given for is unknown; give it again"
                .into(),
        );
    };
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    if window.occurrence_for(at) != Some(span) {
        let what = match window.occurrence_for(at) {
            Some((_, end)) => format!("the freeze until {}", day(end)),
            None => "another freeze".to_string(),
        };
        return Some(format!(
            "it was given on {} for {what}; this freeze (until {}) needs its own",
            day(at),
            day(span.1)
        ));
    }
    if snap
        .last_push
        .as_ref()
        .and_then(|p| p.at)
        .is_some_and(|p| p > at)
    {
        return Some("new commits were pushed after it was given; give it again".into());
    }
    if snap
        .retarget
        .as_ref()
        .is_some_and(|r| r.at.is_none_or(|t| t > at))
    {
        return Some("the target branch changed after it was given; give it again".into());
    }
    None
}
