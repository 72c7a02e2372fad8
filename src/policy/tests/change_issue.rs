//! Change issues gating merge requests (`change_issue`), with the shipped rules.

use super::*;

fn rules() -> Rules {
    let text = format!(
        "{}\nchange_issue:\n  approvals: [business-owner, manager]\n",
        include_str!("../../../rules.yaml")
    );
    crate::rules::parse("r.yaml", &text).expect("valid")
}

/// The change issue acme/change-requests#12 by carol, labelled by the given people.
fn issue(labels: &[(&str, &str)]) -> Snapshot {
    let mut c = Case::kind(ChangeKind::Issue);
    c.snap.change.repo.path = RepoPath::new("acme/change-requests");
    c.snap.change.number = 12;
    c.snap.change.author = User::named("carol");
    for (i, (l, by)) in labels.iter().enumerate() {
        c = c.label(l, by, 10 + i as u32);
    }
    c.snap
}

/// alice's merge request linking the issue (or not), with a peer's approval.
fn mr(link: Option<LinkedIssue>) -> Case {
    let mut c = Case::mr().label("Peer Approval::Approved", "peter", 20);
    c.snap.change.description = "Change: acme/change-requests#12\n".into();
    c.snap.linked_issue = link;
    c
}

fn read(snap: Snapshot) -> Option<LinkedIssue> {
    Some(LinkedIssue::Read {
        reference: "acme/change-requests#12".into(),
        issue: Box::new(snap),
    })
}

#[test]
fn the_issues_approvals_and_classification_gate_the_merge_request() {
    let approved = issue(&[
        ("CMT::Comprehensive", "carol"),
        ("Business Owner Approval::Approved", "olivia"),
        ("BT Integration Manager::Approved", "mona"),
    ]);
    let case = mr(read(approved));
    let d = case.eval_with(&rules());
    assert_eq!(d.verdict, Verdict::Pass, "{:#?}", d.checklist);
    assert!(
        d.matched_rules
            .contains(&"comprehensive-change".to_string())
    );
    let comment = crate::comment::sticky(&case.snap.change, &d);
    assert!(
        comment.contains("approved on `acme/change-requests#12` by @olivia"),
        "{comment}"
    );
    // The issue's classification is not applied to the merge request, only seen.
    assert!(d.add_labels.iter().all(|c| c.label.scope() != Some("CMT")));
}

#[test]
fn without_the_issues_approval_the_merge_request_waits_and_says_where() {
    let case = mr(read(issue(&[
        ("CMT::Comprehensive", "carol"),
        ("BT Integration Manager::Approved", "mona"),
    ])));
    let d = case.eval_with(&rules());
    assert_eq!(d.verdict, Verdict::Fail);
    let item = d
        .checklist
        .iter()
        .find(|i| i.title == "Business owner approval")
        .unwrap();
    assert_eq!(item.detail, "not given yet on `acme/change-requests#12`");
    assert!(
        item.next_step
            .as_deref()
            .unwrap()
            .contains("on `acme/change-requests#12`")
    );
}

#[test]
fn the_merge_requests_author_cannot_approve_on_the_issue() {
    let mut snap = issue(&[
        ("CMT::Comprehensive", "carol"),
        ("Business Owner Approval::Approved", "alice"),
        ("BT Integration Manager::Approved", "mona"),
    ]);
    snap.memberships
        .set("business-owners", &User::named("alice"), true);
    let d = mr(read(snap)).eval_with(&rules());
    assert_eq!(d.verdict, Verdict::Fail);
    let item = d
        .checklist
        .iter()
        .find(|i| i.title == "Business owner approval")
        .unwrap();
    assert!(!item.met);
}

#[test]
fn a_missing_unreadable_or_contradicting_link_fails() {
    let d = mr(None).eval_with(&rules());
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(d.checklist[0].title, "Link the change issue");
    assert!(d.checklist[0].detail.contains("`Change: acme/platypus#12`"));
    let d = mr(Some(LinkedIssue::Unreadable {
        reference: "acme/change-requests#99".into(),
        reason: "acme/change-requests#99 does not exist or is not visible to changegate".into(),
    }))
    .eval_with(&rules());
    assert_eq!(d.checklist[0].title, "Link the change issue");
    assert!(d.checklist[0].detail.contains("does not exist"));
    let d = mr(read(issue(&[("CMT::Comprehensive", "carol")])))
        .label("CMT::Minor", "alice", 21)
        .eval_with(&rules());
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(d.checklist.iter().any(|i| {
        i.title == "Classification matches the change issue"
            && i.detail
                .contains("`CMT::Minor` but `acme/change-requests#12` is `CMT::Comprehensive`")
    }));
    // Issues themselves need no link.
    let i = Case::kind(ChangeKind::Issue).label("CMT::Minor", "alice", 1);
    assert!(
        i.eval_with(&rules())
            .checklist
            .iter()
            .all(|c| c.title != "Link the change issue")
    );
}

#[test]
fn one_person_fills_one_role_across_the_issue_and_the_merge_request() {
    // mona approved as manager on the issue; her peer label on the merge request cannot
    // also count.
    let mut c = Case::mr().label("Peer Approval::Approved", "mona", 20);
    c.snap
        .memberships
        .set("integrations-team", &User::named("mona"), true);
    c.snap.linked_issue = read(issue(&[
        ("CMT::Standard", "carol"),
        ("BT Integration Manager::Approved", "mona"),
    ]));
    let d = c.eval_with(&rules());
    assert_eq!(d.verdict, Verdict::Fail, "{:#?}", d.checklist);
}
