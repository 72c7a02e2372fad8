//! Blocked periods and the emergency chase, with the shipped rules, at chosen times.

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn member(mut case: Case, group: &str, user: &str) -> Case {
    case.snap.memberships.set(group, &User::named(user), true);
    case
}

/// An emergency by alice, merged at 2026-11-02 12:00 UTC, judged at `now`.
fn emergency_merged(now: &str) -> Case {
    let mut case = Case::mr().label("CMT::Emergency", "alice", 1);
    case.snap.change.state = ChangeState::Merged;
    case.snap.change.merged_at = Some(t("2026-11-02T12:00:00Z"));
    case.snap.now = t(now);
    case
}

fn owed(d: &Decision) -> &Owed {
    d.owed.as_ref().expect("the emergency owes approvals")
}

#[test]
fn an_open_emergency_passes_and_says_what_it_will_owe() {
    let case = Case::mr().label("CMT::Emergency", "alice", 1);
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Pass, "{d:#?}");
    let o = owed(&d);
    assert!(!o.merged && !o.overdue && o.due.is_none());
    let names: Vec<&str> = o.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["business-owner", "peer", "manager", "retrospective"]
    );
    assert!(added(&d).is_empty(), "nothing is asked before merge");
    let comment = crate::comment::sticky(&case.snap.change, &d);
    assert!(comment.contains("due within 24 h of merge"), "{comment}");
    assert!(
        comment.contains("Retrospective (`Retrospective::Done`)"),
        "{comment}"
    );
}

#[test]
fn after_merge_the_latest_reminder_point_is_due_and_later_ones_are_scheduled() {
    let d = emergency_merged("2026-11-02T13:30:00Z").eval();
    assert_eq!(d.verdict, Verdict::Pass);
    let o = owed(&d);
    assert!(o.merged && !o.overdue && !o.complete);
    assert_eq!(o.due, Some(t("2026-11-03T12:00:00Z")));
    let r = o.reminder.as_ref().expect("the 1 h reminder is due");
    assert_eq!((r.point.as_str(), r.covers.len()), ("3600", 0));
    assert_eq!(
        o.wake_at,
        vec![
            t("2026-11-03T00:00:00Z"),
            t("2026-11-03T11:00:00Z"),
            t("2026-11-03T12:00:00Z")
        ]
    );
    // Owed approvals are asked for with their pending labels; no overdue label yet.
    assert_eq!(
        added(&d),
        [
            "Business Owner Approval::Needs Approval",
            "Peer Approval::Needs Approval",
            "BT Integration Manager::Needs Approval"
        ]
    );
    let text = crate::comment::reminder(o, &r.point);
    assert!(text.contains("@acme/business-owners"), "{text}");
    assert!(
        text.contains("Retrospective (`Retrospective::Done`): @alice"),
        "{text}"
    );
    // Before the first point nothing is due.
    let early = emergency_merged("2026-11-02T12:30:00Z").eval();
    assert_eq!(owed(&early).reminder, None);
    assert_eq!(owed(&early).wake_at.len(), 4);
}

#[test]
fn past_the_deadline_the_change_is_overdue_until_the_last_approval_arrives() {
    let d = emergency_merged("2026-11-03T12:00:00Z").eval();
    let o = owed(&d);
    assert!(o.overdue && !o.complete);
    assert!(added(&d).contains(&"Emergency::Overdue"), "{d:#?}");
    let r = o.reminder.as_ref().unwrap();
    assert_eq!(r.point, "overdue");
    assert_eq!(r.covers, ["3600", "43200", "82800"]);
    assert!(o.wake_at.is_empty());
    let comment = crate::comment::sticky(&emergency_merged("2026-11-03T12:00:00Z").snap.change, &d);
    assert!(
        comment.contains("overdue since 2026-11-03 12:00 UTC"),
        "{comment}"
    );

    // Late approvals, each by someone allowed, and a retrospective by a colleague.
    let mut late = emergency_merged("2026-11-04T09:00:00Z")
        .label("Emergency::Overdue", "changegate[bot]", 2)
        .label("Business Owner Approval::Approved", "olivia", 3)
        .label("Peer Approval::Approved", "peter", 4)
        .label("BT Integration Manager::Approved", "mona", 5)
        .label("Retrospective::Done", "pam", 6);
    for e in late.snap.label_events.iter_mut().skip(2) {
        e.at = Some(t("2026-11-04T08:00:00Z"));
    }
    let d = late.eval();
    let o = owed(&d);
    assert!(o.complete, "{o:#?}");
    assert_eq!(removed(&d), ["Emergency::Overdue"]);
    assert_eq!(o.reminder, None);
    let comment = crate::comment::sticky(&late.snap.change, &d);
    assert!(
        comment.contains("every approval it owed is given"),
        "{comment}"
    );
    assert!(
        comment.contains("given by @olivia on 2026-11-04 08:00 UTC (44 h after merge)"),
        "{comment}"
    );
}

#[test]
fn the_author_cannot_give_what_their_emergency_owes() {
    let d = emergency_merged("2026-11-02T14:00:00Z")
        .label("Retrospective::Done", "alice", 2)
        .label("Peer Approval::Approved", "alice", 3)
        .eval();
    assert!(removed(&d).contains(&"Retrospective::Done"), "{d:#?}");
    assert!(removed(&d).contains(&"Peer Approval::Approved"), "{d:#?}");
    let o = owed(&d);
    let retro = o.items.iter().find(|i| i.name == "retrospective").unwrap();
    assert!(retro.given.is_none());
    assert!(retro.problem.as_deref().unwrap().contains("is the author"));
    assert!(o.items.iter().all(|i| i.given.is_none()));
}

#[test]
fn a_merge_time_the_forge_does_not_give_counts_as_overdue() {
    let mut case = emergency_merged("2026-11-02T12:10:00Z");
    case.snap.change.merged_at = None;
    let d = case.eval();
    assert!(owed(&d).overdue);
    assert!(added(&d).contains(&"Emergency::Overdue"));
}

/// A standard change approved by a peer and a manager, judged at `now`.
fn approved_standard(now: &str) -> Case {
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 1)
        .label("Peer Approval::Approved", "peter", 2)
        .label("BT Integration Manager::Approved", "mona", 3);
    case.snap.now = t(now);
    case
}

#[test]
fn a_blocked_period_fails_a_change_until_its_exceptions_are_given() {
    assert_eq!(
        approved_standard("2026-12-23T23:59:59Z").eval().verdict,
        Verdict::Pass
    );
    let d = approved_standard("2026-12-28T10:00:00Z").eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(
        d.summary
            .starts_with("Missing: Blocked period quarter-close until 2027-01-07 00:00 UTC"),
        "{}",
        d.summary
    );
    assert_eq!(d.blocked.len(), 1);
    assert_eq!(d.blocked[0].until, t("2027-01-07T00:00:00Z"));
    assert_eq!(
        added(&d),
        [
            "Head of IT Exception::Needs Approval",
            "Business Exception::Needs Approval"
        ]
    );
    let titles: Vec<&str> = d.checklist.iter().map(|i| i.title.as_str()).collect();
    assert!(titles.contains(&"Head of IT exception") && titles.contains(&"Business exception"));

    // One exception is not enough; both lift it.
    let half = member(
        approved_standard("2026-12-28T10:00:00Z"),
        "head-of-it",
        "hank",
    )
    .label("Head of IT Exception::Approved", "hank", 4);
    assert_eq!(half.eval().verdict, Verdict::Fail);
    let both = member(half, "business-exception-approvers", "bea").label(
        "Business Exception::Approved",
        "bea",
        5,
    );
    let d = both.eval();
    assert_eq!(d.verdict, Verdict::Pass, "{d:#?}");
    assert!(d.blocked[0].lifted);
    assert!(d.checklist[0].met && d.checklist[0].detail.contains("lifted"));

    // The author cannot lift it; nor can the peer who already approved (one person, one role).
    let own = member(
        approved_standard("2026-12-28T10:00:00Z"),
        "head-of-it",
        "alice",
    )
    .label("Head of IT Exception::Approved", "alice", 4);
    assert!(removed(&own.eval()).contains(&"Head of IT Exception::Approved"));
    let twice = member(
        approved_standard("2026-12-28T10:00:00Z"),
        "head-of-it",
        "peter",
    )
    .label("Head of IT Exception::Approved", "peter", 4);
    assert_eq!(twice.eval().verdict, Verdict::Fail);
}

#[test]
fn the_financial_period_is_longer_and_covers_only_what_its_condition_names() {
    // 20 December: inside the 14-day window, outside the 7-day one.
    assert_eq!(
        approved_standard("2026-12-20T10:00:00Z").eval().verdict,
        Verdict::Pass
    );
    let d = approved_standard("2026-12-20T10:00:00Z")
        .label("Financially Significant", "alice", 4)
        .eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(
        d.summary
            .contains("quarter-close-financial until 2027-01-14 00:00 UTC"),
        "{}",
        d.summary
    );
}

#[test]
fn a_merged_change_is_judged_at_its_merge_and_a_closed_one_not_at_all() {
    let mut merged = approved_standard("2027-02-01T00:00:00Z");
    merged.snap.change.state = ChangeState::Merged;
    merged.snap.change.merged_at = Some(t("2026-12-30T00:00:00Z"));
    let d = merged.eval();
    assert_eq!(
        d.verdict,
        Verdict::Fail,
        "merged during the freeze without exception"
    );
    assert_eq!(d.blocked[0].period, "quarter-close");
    let mut closed = approved_standard("2026-12-30T00:00:00Z");
    closed.snap.change.state = ChangeState::Closed;
    assert!(closed.eval().blocked.is_empty());
}

#[test]
fn relabelling_a_merged_emergency_does_not_cancel_what_it_owes() {
    let mut case = emergency_merged("2026-11-02T14:00:00Z");
    // alice takes the emergency label off an hour after the merge.
    case.snap.change.labels.clear();
    case.snap.label_events.push(LabelEvent {
        label: Label::new("CMT::Emergency"),
        added: false,
        actor: User::named("alice"),
        at: Some(t("2026-11-02T13:00:00Z")),
    });
    let d = case.eval();
    let o = owed(&d);
    assert!(o.merged && !o.complete);
    assert_eq!(o.items.len(), 4);
    assert!(
        d.notes.iter().any(|n| n.contains("stays owed")),
        "{:?}",
        d.notes
    );
    // Labelled after the merge, a change owes nothing it did not owe when it merged... unless
    // its current labels say so: an emergency label added later adds obligations.
    let mut later = Case::mr().label("CMT::Standard", "alice", 1);
    later.snap.change.state = ChangeState::Merged;
    later.snap.change.merged_at = Some(at(2));
    later.snap.now = at(30);
    assert!(later.eval().owed.is_none());
}

#[test]
fn every_decision_reads_back_from_the_audit_log_as_written() {
    use crate::evidence::{DecisionEvidence, Evidence};
    let cases = [
        emergency_merged("2026-11-02T13:30:00Z"),
        emergency_merged("2026-11-03T12:00:00Z").label("Retrospective::Done", "alice", 2),
        approved_standard("2026-12-28T10:00:00Z"),
        Case::mr().label("CMT::Emergency", "alice", 1),
    ];
    for case in cases {
        let d = case.eval();
        let written = DecisionEvidence::of(&case.snap, &d, "forge");
        let stored = serde_json::to_value(&written).unwrap();
        match Evidence::read("decision", &stored).unwrap() {
            Evidence::Decision(read) => assert_eq!(*read, written),
            other => panic!("{other:?}"),
        }
    }
}

/// Rules built past validation (which refuses durations over ten years): a deadline beyond
/// chrono's range is evaluated, not a panic, and counts as overdue (fail closed).
#[test]
fn a_deadline_past_the_end_of_time_is_overdue_not_a_panic() {
    let mut rules = shipped();
    for r in &mut rules.rules {
        if let Some(a) = &mut r.after_merge {
            a.within = chrono::TimeDelta::MAX;
            a.remind = vec![chrono::TimeDelta::hours(1), chrono::TimeDelta::MAX];
        }
    }
    let d = emergency_merged("2026-11-02T13:30:00Z").eval_with(&rules);
    let o = owed(&d);
    assert!(o.merged && o.overdue && o.due.is_none(), "{o:#?}");
    assert!(o.wake_at.is_empty(), "{:?}", o.wake_at);
}
