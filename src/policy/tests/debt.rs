//! What a merged change owes is decided once, from its state at merge, and read back from
//! the store afterwards: nothing after the merge reduces it.

use super::*;
use crate::model::Gap;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const MERGED: &str = "2026-11-02T12:00:00Z";

/// alice's emergency (labelled at 10:01), merged at 12:00, judged at 12:01.
fn merged_emergency() -> Case {
    let mut case = Case::mr().label("CMT::Emergency", "alice", 1);
    case.snap.change.state = ChangeState::Merged;
    case.snap.change.merged_at = Some(t(MERGED));
    case.snap.now = t("2026-11-02T12:01:00Z");
    case
}

/// The emergency label taken off at `at` (unknown when `None`).
fn removed_at(mut case: Case, at: Option<&str>) -> Case {
    case.snap.change.labels.clear();
    case.snap.label_events.push(LabelEvent {
        label: Label::new("CMT::Emergency"),
        added: false,
        actor: User::named("alice"),
        at: at.map(t),
    });
    case
}

fn gap(mut case: Case, before: Option<&str>) -> Case {
    case.snap.debt.gaps.push(Gap {
        what: "the history's older pages".into(),
        before: before.map(t),
    });
    case
}

#[test]
fn the_debt_is_decided_from_the_state_at_merge_and_fails_closed_when_unplaceable() {
    let mut in_the_second = removed_at(merged_emergency(), Some(MERGED));
    in_the_second.snap.change.merged_at = Some(t("2026-11-02T12:00:00.900Z"));
    let rows: Vec<(&str, Case, bool, &str)> = vec![
        (
            "removed in the merge's second",
            removed_at(merged_emergency(), Some(MERGED)),
            true,
            "labels at merge",
        ),
        (
            "removed in the merge's second, merge time with milliseconds",
            in_the_second,
            true,
            "labels at merge",
        ),
        (
            "removed at an unknown time",
            removed_at(merged_emergency(), None),
            true,
            "labels at merge",
        ),
        (
            "removed a second before the merge",
            removed_at(merged_emergency(), Some("2026-11-02T11:59:59Z")),
            false,
            "labels at merge",
        ),
        (
            "removed before the merge; the history read from a point before it",
            gap(
                removed_at(merged_emergency(), Some("2026-11-02T11:00:00Z")),
                Some("2026-11-02T10:30:00Z"),
            ),
            false,
            "labels at merge",
        ),
        (
            "the history read from a point after the merge",
            gap(
                removed_at(merged_emergency(), Some("2026-11-02T11:00:00Z")),
                Some("2026-11-02T13:00:00Z"),
            ),
            true,
            "could not establish",
        ),
        (
            "events that name no label",
            gap(
                removed_at(merged_emergency(), Some("2026-11-02T11:00:00Z")),
                None,
            ),
            true,
            "could not establish",
        ),
        (
            "a history too long to read",
            {
                let mut c = removed_at(merged_emergency(), Some("2026-11-02T11:00:00Z"));
                c.snap.incomplete.push("label history".into());
                c
            },
            true,
            "could not establish",
        ),
    ];
    for (what, case, owes, how) in rows {
        let d = case.eval();
        let debt = d.debt.as_ref().unwrap_or_else(|| panic!("{what}: decided"));
        assert!(debt.how.contains(how), "{what}: {}", debt.how);
        assert_eq!(debt.owes(), owes, "{what}: {debt:?}");
        if owes {
            assert_eq!(
                debt.require,
                ["business-owner", "peer", "manager"],
                "{what}"
            );
            let due = case
                .snap
                .change
                .merged_at
                .map(|m| m + chrono::Duration::hours(24));
            assert_eq!(debt.due, due, "{what}");
            let o = d.owed.as_ref().unwrap_or_else(|| panic!("{what}: owes"));
            assert_eq!(o.items.len(), 4, "{what}");
            assert!(o.merged && !o.complete, "{what}");
        } else {
            assert!(d.owed.is_none(), "{what}: {:?}", d.owed);
        }
    }
    // An open change fixes no debt: it only says what it would owe if merged now.
    let open = Case::mr().label("CMT::Emergency", "alice", 1).eval();
    assert!(open.debt.expect("would owe").merged_at.is_none());
    assert!(
        Case::mr()
            .label("CMT::Standard", "alice", 1)
            .eval()
            .debt
            .is_none()
    );
}

#[test]
fn a_stored_debt_stands_and_is_paid_only_by_the_approvals_it_names() {
    let first = merged_emergency().eval();
    let debt = first.debt.clone().expect("decided at the first evaluation");
    assert_eq!(debt.due, Some(t("2026-11-03T12:00:00Z")));

    // Later: the label is gone and its history too; the stored debt stands, undecided again.
    let mut later = Case::mr();
    later.snap.change.state = ChangeState::Merged;
    later.snap.change.merged_at = Some(t(MERGED));
    later.snap.now = t("2026-11-03T13:00:00Z");
    later.snap.debt.fixed = Some(debt.clone());
    let d = later.eval();
    assert!(d.debt.is_none(), "decided once");
    let o = d.owed.as_ref().expect("still owed");
    assert_eq!(o.items.len(), 4);
    assert!(o.overdue && !o.complete);
    assert_eq!(o.due, Some(t("2026-11-03T12:00:00Z")));
    assert!(added(&d).contains(&"Emergency::Overdue"), "{:?}", added(&d));
    assert!(d.notes.iter().any(|n| n.contains("stays owed")));

    // A classification now that owes less does not reduce it; only its approvals pay it.
    let paid = later
        .clone_with(|c| c.label("CMT::Minor", "alice", 20))
        .label("Business Owner Approval::Approved", "olivia", 21)
        .label("Peer Approval::Approved", "peter", 22)
        .label("BT Integration Manager::Approved", "mona", 23);
    let o = paid.eval().owed.expect("owed");
    assert!(!o.complete, "the retrospective is still owed");
    let done = paid.label("Retrospective::Done", "pam", 24);
    assert!(done.eval().owed.expect("owed").complete);

    // An approval the rules no longer define stays owed, and says why.
    let mut renamed = later.clone();
    if let Some(d) = renamed.snap.debt.fixed.as_mut() {
        d.require.push("cab-review".into());
    }
    let o = renamed.eval().owed.expect("owed");
    let cab = o
        .items
        .iter()
        .find(|i| i.name == "cab-review")
        .expect("kept");
    assert!(cab.given.is_none() && cab.problem.as_deref().unwrap().contains("no longer define"));

    // A stored "owes nothing" does not stop a later emergency label from adding a debt.
    let nothing = removed_at(merged_emergency(), Some("2026-11-02T11:00:00Z"))
        .eval()
        .debt
        .expect("decided");
    assert!(!nothing.owes());
    let mut relabelled = merged_emergency();
    relabelled.snap.debt.fixed = Some(nothing);
    assert_eq!(relabelled.eval().owed.expect("owed").items.len(), 4);
}

#[test]
fn what_it_owed_when_last_seen_open_stands_at_the_first_evaluation_after_merge() {
    // Open, it would owe the emergency's approvals: the worker remembers that.
    let open = Case::mr().label("CMT::Emergency", "alice", 1).eval();
    let seen = open.debt.expect("what it would owe if merged now");
    assert!(seen.owes() && seen.merged_at.is_none() && seen.due.is_none());
    // Merged with nothing left to show it (a link removed, say): it still owes.
    let mut merged = Case::mr().label("CMT::Standard", "alice", 1);
    merged.snap.change.state = ChangeState::Merged;
    merged.snap.change.merged_at = Some(t(MERGED));
    merged.snap.now = t("2026-11-02T12:05:00Z");
    assert!(!merged.eval().debt.expect("decided").owes());
    merged.snap.debt.seen_open = Some(seen);
    let d = merged.eval();
    let debt = d.debt.expect("decided");
    assert_eq!(debt.require, ["business-owner", "peer", "manager"]);
    assert_eq!(debt.due, Some(t("2026-11-03T12:00:00Z")));
    assert!(debt.how.contains("last saw it open"), "{}", debt.how);
    assert_eq!(d.owed.expect("owed").items.len(), 4);
}
