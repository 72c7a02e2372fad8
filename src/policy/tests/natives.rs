//! Native approvals count only for roles the change requires; for the others the worker does
//! not even read them, and the decision must be the same as if it had.

use super::*;

/// Whether reviews could matter, asked as the worker asks: on the snapshot without them.
fn reads(case: &Case) -> bool {
    let mut bare = case.snap.clone();
    bare.reviews.clear();
    reads_reviews(&shipped(), &bare)
}

/// The shipped rules with `rule` (YAML, one list entry) after the minor-change rule.
fn shipped_and_after_minor(rule: &str) -> Rules {
    let minor = "      labels: [\"CMT::Minor\"]\n    require: [manager]\n";
    let text = include_str!("../../../rules.yaml");
    assert!(text.contains(minor), "the shipped minor-change rule moved");
    let text = text.replace(minor, &format!("{minor}\n{rule}"));
    crate::rules::parse("rules.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The decision with the reviews and without them are the same.
fn same_without_reviews(case: &Case) {
    let mut bare = case.clone();
    bare.snap.reviews.clear();
    assert_eq!(case.eval(), bare.eval());
}

#[test]
fn reviews_are_read_only_when_a_required_role_takes_them() {
    let rows = [
        (None, false),
        (Some("CMT::Minor"), false),
        (Some("CMT::Standard"), true),
        (Some("CMT::Comprehensive"), true),
        // An emergency owes the peer review after merge (and may have it before).
        (Some("CMT::Emergency"), true),
    ];
    for (class, expected) in rows {
        let mut case = Case::mr();
        if let Some(c) = class {
            case = case.label(c, "alice", 0);
        }
        assert_eq!(reads(&case), expected, "{class:?}");
    }
}

#[test]
fn a_change_not_enforced_reads_no_reviews() {
    let issue = Case::kind(ChangeKind::Issue);
    assert!(!reads_reviews(&shipped(), &issue.snap));
}

#[test]
fn a_review_for_a_role_not_required_neither_counts_nor_claims_its_reviewer() {
    // peter is a peer and a manager. On a minor change only the manager is required: his
    // review (as a peer) does not stop his label from counting as the manager's approval.
    let case = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .review("peter", HEAD, 1)
        .label("BT Integration Manager::Approved", "peter", 2);
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.checklist);
    assert_eq!(*state(&d, "peer"), ApprovalState::Missing);
    assert!(added(&d).is_empty(), "{:?}", added(&d));
    same_without_reviews(&case);
    // On a standard change both roles are required: the earlier review claims him as the
    // peer, and his manager label does not count.
    let standard = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .review("peter", HEAD, 1)
        .label("BT Integration Manager::Approved", "peter", 2);
    let d = standard.eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(with_met(&d, "peer"));
    assert!(matches!(
        state(&d, "manager"),
        ApprovalState::Invalid { .. }
    ));
}

#[test]
fn a_label_the_bot_applied_for_a_role_no_longer_required_is_left_alone() {
    // Reclassified from standard to minor after the bot applied the peer label: the role is
    // not required now, its reviews are not read, and the label is neither judged nor removed.
    let case = Case::mr()
        .label("Peer Approval::Approved", "changegate[bot]", 1)
        .label("CMT::Minor", "alice", 2);
    let d = case.eval();
    assert!(removed(&d).is_empty(), "{:?}", removed(&d));
    assert_eq!(*state(&d, "peer"), ApprovalState::Missing);
    assert_eq!(unmet_titles(&d), vec!["BT Integration Manager approval"]);
    assert!(!reads(&case));
}

#[test]
fn unrequired_reviews_change_nothing_for_any_classification() {
    for class in [None, Some("CMT::Minor")] {
        let mut case = Case::mr();
        if let Some(c) = class {
            case = case.label(c, "alice", 0);
        }
        let case = case.review("pam", HEAD, 1).review("peter", HEAD, 2);
        same_without_reviews(&case);
    }
}

#[test]
fn a_role_required_once_another_is_given_takes_its_native_approvals() {
    // The peer review is required only after the manager approved: the evaluator counts
    // native approvals for roles the judgement comes to require, not only the first ones.
    let rules = shipped_and_after_minor(
        "  - name: peer-after-manager\n    when:\n      approved: [manager]\n    require: [peer]\n",
    );
    let base = Case::mr().label("CMT::Minor", "alice", 0).label(
        "BT Integration Manager::Approved",
        "mona",
        1,
    );
    let without = base.eval_with(&rules);
    assert_eq!(unmet_titles(&without), vec!["Peer review"]);
    assert!(reads_reviews(&rules, &base.snap));
    let with = base.clone().review("pam", HEAD, 2).eval_with(&rules);
    assert_eq!(with.verdict, Verdict::Pass, "{:?}", with.checklist);
    assert!(matches!(
        state(&with, "peer"),
        ApprovalState::Met {
            via: Via::NativeApproval,
            ..
        }
    ));
}

#[test]
fn a_rule_that_stops_requiring_a_role_once_given_still_settles() {
    // Required only while not given: counting the review makes the rule stop matching, which
    // would stop counting it again if the counted roles could shrink. They only grow, so the
    // judgement ends, with the review counted.
    let rules = shipped_and_after_minor(
        "  - name: peer-until-given\n    when:\n      labels: [\"CMT::Minor\"]\n      not_approved: [peer]\n    require: [peer]\n",
    );
    let case = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .review("pam", HEAD, 1);
    let d = case.eval_with(&rules);
    assert!(matches!(
        state(&d, "peer"),
        ApprovalState::Met {
            via: Via::NativeApproval,
            ..
        }
    ));
    assert!(!d.matched_rules.contains(&"peer-until-given".to_string()));
    assert_eq!(unmet_titles(&d), vec!["BT Integration Manager approval"]);
}
