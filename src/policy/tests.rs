//! Table tests of the evaluator: every row of the approval matrix with the shipped rules,
//! every validity rule of approvals, and every condition kind.

use super::*;
use crate::model::{ChangeState, Forge, Repo, RepoPath};
use chrono::TimeZone;

fn shipped() -> Rules {
    crate::rules::parse("rules.yaml", include_str!("../../rules.yaml"))
        .expect("shipped rules are valid")
}

const HEAD: &str = "1111111111111111111111111111111111111111";

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, minute, 0)
        .single()
        .expect("valid time")
}

/// A GitHub pull request in `acme/platypus` by `alice`, with labels applied by the given
/// people at increasing times.
#[derive(Clone)]
struct Case {
    snap: Snapshot,
}

impl Case {
    /// A copy changed by `f`.
    fn clone_with(&self, f: impl FnOnce(Case) -> Case) -> Case {
        f(self.clone())
    }

    fn mr() -> Self {
        Self::kind(ChangeKind::MergeRequest)
    }

    fn kind(kind: ChangeKind) -> Self {
        let change = Change {
            forge: Forge::Github,
            repo: Repo {
                path: RepoPath::new("acme/platypus"),
                id: Some(1),
            },
            kind,
            number: 7,
            title: "Change".into(),
            description: String::new(),
            author: User::named("alice"),
            labels: vec![],
            head_sha: (kind == ChangeKind::MergeRequest).then(|| HEAD.to_string()),
            source_branch: Some("feature".into()),
            target_branch: Some("main".into()),
            target_sha: None,
            draft: false,
            state: ChangeState::Open,
            merged_at: None,
            web_url: None,
            updated_at: None,
            comments: None,
        };
        let mut memberships = Memberships::default();
        for (group, user) in [
            ("business-owners", "olivia"),
            ("integrations-team", "peter"),
            ("integrations-team", "pam"),
            ("integrations-team", "alice"),
            ("bt-integration-managers", "mona"),
            ("bt-integration-managers", "peter"),
        ] {
            memberships.set(group, &User::named(user), true);
        }
        for (group, user) in [
            ("business-owners", "eve"),
            ("integrations-team", "eve"),
            ("bt-integration-managers", "eve"),
        ] {
            memberships.set(group, &User::named(user), false);
        }
        Case {
            snap: Snapshot {
                change,
                label_events: vec![],
                reviews: vec![],
                last_push: None,
                retarget: None,
                commit_authors: vec![],
                incomplete: vec![],
                memberships,
                bot: Some(User::named("changegate[bot]")),
                now: at(59),
                changed_files: None,
                linked_issue: None,
                gated_authors: vec![],
                comment_approvals: vec![],
                debt: Default::default(),
                diffs: Default::default(),
            },
        }
    }

    /// `label` applied by `by` at minute `minute`.
    fn label(mut self, label: &str, by: &str, minute: u32) -> Self {
        self.snap.change.labels.push(Label::new(label));
        self.snap.label_events.push(LabelEvent {
            label: Label::new(label),
            added: true,
            actor: User::named(by),
            at: Some(at(minute)),
        });
        self
    }

    /// `login` is account `id`: in the history, and as the rules' static lists resolved it.
    fn account(mut self, login: &str, id: u64) -> Self {
        let named = |u: &User| u.username.as_deref() == Some(login);
        for e in self
            .snap
            .label_events
            .iter_mut()
            .filter(|e| named(&e.actor))
        {
            e.actor.id = Some(id);
        }
        self.snap.memberships.resolve(login, Some(id));
        self
    }

    fn review(mut self, by: &str, sha: &str, minute: u32) -> Self {
        self.snap.reviews.push(Review {
            reviewer: User::named(by),
            approved: true,
            commit_sha: Some(sha.into()),
            submitted_at: Some(at(minute)),
        });
        self
    }

    fn push(mut self, minute: u32) -> Self {
        self.snap.last_push = Some(Push {
            sha: Some(HEAD.into()),
            at: Some(at(minute)),
            seen_only: false,
        });
        self
    }

    fn eval(&self) -> Decision {
        evaluate(&shipped(), &self.snap)
    }

    fn eval_with(&self, rules: &Rules) -> Decision {
        evaluate(rules, &self.snap)
    }
}

fn added(d: &Decision) -> Vec<&str> {
    d.add_labels.iter().map(|c| c.label.as_str()).collect()
}

fn removed(d: &Decision) -> Vec<&str> {
    d.remove_labels.iter().map(|c| c.label.as_str()).collect()
}

fn state<'a>(d: &'a Decision, name: &str) -> &'a ApprovalState {
    &d.approvals
        .iter()
        .find(|o| o.name == name)
        .expect("approval assessed")
        .state
}

fn unmet_titles(d: &Decision) -> Vec<&str> {
    d.checklist
        .iter()
        .filter(|i| !i.met)
        .map(|i| i.title.as_str())
        .collect()
}

#[test]
fn unclassified_change_fails_and_asks_for_a_cmt_label() {
    let d = Case::mr().eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(d.matched_rules, vec!["classify"]);
    let item = &d.checklist[0];
    assert_eq!(item.title, "Classify the change");
    for value in [
        "CMT::Minor",
        "CMT::Standard",
        "CMT::Comprehensive",
        "CMT::Emergency",
    ] {
        assert!(
            item.detail.contains(value),
            "{value} missing from {}",
            item.detail
        );
    }
    assert_eq!(d.summary, "Missing: Classify the change");
    assert!(d.add_labels.is_empty() && d.remove_labels.is_empty());
}

#[test]
fn approval_matrix_rows() {
    // (classification, labels applied in order, expected verdict, expected unmet titles)
    let bo = ("Business Owner Approval::Approved", "olivia");
    let peer = ("Peer Approval::Approved", "peter");
    let mgr = ("BT Integration Manager::Approved", "mona");
    type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, Verdict, Vec<&'a str>);
    let rows: Vec<Row> = vec![
        (
            "CMT::Minor",
            vec![],
            Verdict::Fail,
            vec!["BT Integration Manager approval"],
        ),
        ("CMT::Minor", vec![mgr], Verdict::Pass, vec![]),
        (
            "CMT::Standard",
            vec![mgr],
            Verdict::Fail,
            vec!["Peer review"],
        ),
        (
            "CMT::Standard",
            vec![peer],
            Verdict::Fail,
            vec!["BT Integration Manager approval"],
        ),
        ("CMT::Standard", vec![peer, mgr], Verdict::Pass, vec![]),
        (
            "CMT::Comprehensive",
            vec![peer, mgr],
            Verdict::Fail,
            vec!["Business owner approval"],
        ),
        (
            "CMT::Comprehensive",
            vec![bo, mgr],
            Verdict::Fail,
            vec!["Peer review"],
        ),
        (
            "CMT::Comprehensive",
            vec![bo, peer, mgr],
            Verdict::Pass,
            vec![],
        ),
        ("CMT::Emergency", vec![], Verdict::Pass, vec![]),
    ];
    for (cmt, approvals, verdict, unmet) in rows {
        let mut case = Case::mr().label(cmt, "alice", 0);
        for (i, (label, by)) in approvals.iter().enumerate() {
            case = case.label(label, by, 1 + i as u32);
        }
        let d = case.eval();
        assert_eq!(d.verdict, verdict, "{cmt} with {approvals:?}");
        assert_eq!(unmet_titles(&d), unmet, "{cmt} with {approvals:?}");
    }
}

#[test]
fn emergency_passes_with_a_note_about_approvals_owed_after_merge() {
    let d = Case::mr().label("CMT::Emergency", "alice", 0).eval();
    assert_eq!(d.verdict, Verdict::Pass);
    assert!(d.checklist.is_empty());
    assert!(
        d.notes.iter().any(|n| n.contains("24 hours")),
        "{:?}",
        d.notes
    );
}

#[test]
fn comprehensive_without_business_owner_label_gets_needs_approval() {
    let d = Case::mr().label("CMT::Comprehensive", "alice", 0).eval();
    assert_eq!(added(&d), vec!["Business Owner Approval::Needs Approval"]);
    let with_label = Case::mr()
        .label("CMT::Comprehensive", "alice", 0)
        .label(
            "Business Owner Approval::Needs Approval",
            "changegate[bot]",
            1,
        )
        .eval();
    assert!(added(&with_label).is_empty());
}

#[test]
fn valid_peer_approval_asks_the_manager_next() {
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "peter", 1)
        .eval();
    assert_eq!(added(&d), vec!["BT Integration Manager::Needs Approval"]);
    // An invalid peer approval does not move the change on.
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "eve", 1)
        .eval();
    assert_eq!(added(&d), vec!["Peer Approval::Needs Approval"]);
}

#[test]
fn approval_by_the_author_is_removed_and_pending_put_back() {
    // alice is in integrations-team but authored the change.
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "alice", 1)
        .eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(removed(&d), vec!["Peer Approval::Approved"]);
    assert_eq!(added(&d), vec!["Peer Approval::Needs Approval"]);
    let ApprovalState::Invalid { reason } = state(&d, "peer") else {
        panic!("expected invalid")
    };
    assert!(
        reason.contains("@alice") && reason.contains("author"),
        "{reason}"
    );
    let item = d
        .checklist
        .iter()
        .find(|i| i.title == "Peer review")
        .expect("peer item");
    assert!(item.detail.contains("removed"));
    assert!(
        item.next_step
            .as_deref()
            .unwrap_or("")
            .contains("@acme/integrations-team")
    );
}

#[test]
fn approval_by_a_non_member_is_removed() {
    let d = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .label("BT Integration Manager::Approved", "eve", 1)
        .eval();
    assert_eq!(removed(&d), vec!["BT Integration Manager::Approved"]);
    assert_eq!(added(&d), vec!["BT Integration Manager::Needs Approval"]);
    let ApprovalState::Invalid { reason } = state(&d, "manager") else {
        panic!("expected invalid")
    };
    assert!(
        reason.contains("@eve") && reason.contains("bt-integration-managers"),
        "{reason}"
    );
}

#[test]
fn unknown_membership_or_applier_blocks_without_removing() {
    let d = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .label("BT Integration Manager::Approved", "stranger", 1)
        .eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(d.remove_labels.is_empty());
    assert!(matches!(
        state(&d, "manager"),
        ApprovalState::Unverified { .. }
    ));

    let mut case = Case::mr().label("CMT::Minor", "alice", 0);
    case.snap
        .change
        .labels
        .push(Label::new("BT Integration Manager::Approved"));
    let d = case.eval();
    assert!(matches!(
        state(&d, "manager"),
        ApprovalState::Unverified { .. }
    ));
    assert!(d.remove_labels.is_empty());
}

#[test]
fn native_approval_by_a_peer_counts_and_the_bot_applies_the_label() {
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .review("pam", HEAD, 1)
        .eval();
    assert!(matches!(
        state(&d, "peer"),
        ApprovalState::Met {
            via: Via::NativeApproval,
            ..
        }
    ));
    assert_eq!(
        added(&d),
        vec![
            "Peer Approval::Approved",
            "BT Integration Manager::Needs Approval"
        ]
    );
    let item = d
        .checklist
        .iter()
        .find(|i| i.title == "Peer review")
        .expect("peer item");
    assert!(item.met && item.detail.contains("@pam"), "{}", item.detail);
}

#[test]
fn native_approvals_that_do_not_count() {
    for (who, sha) in [("alice", HEAD), ("eve", HEAD), ("pam", "0000000")] {
        let d = Case::mr()
            .label("CMT::Standard", "alice", 0)
            .review(who, sha, 1)
            .eval();
        assert_eq!(*state(&d, "peer"), ApprovalState::Missing, "{who} on {sha}");
        assert!(added(&d).is_empty());
    }
}

#[test]
fn bot_applied_label_stands_only_with_its_native_approval() {
    let with = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .review("pam", HEAD, 1)
        .label("Peer Approval::Approved", "changegate[bot]", 2)
        .eval();
    assert!(with_met(&with, "peer"));
    assert!(removed(&with).is_empty());
    let without = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "changegate[bot]", 2)
        .eval();
    assert_eq!(removed(&without), vec!["Peer Approval::Approved"]);
}

fn with_met(d: &Decision, name: &str) -> bool {
    matches!(state(d, name), ApprovalState::Met { .. })
}

#[test]
fn one_person_fills_one_role() {
    // peter is a peer and a manager; he approved as peer first.
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "peter", 1)
        .label("BT Integration Manager::Approved", "peter", 2)
        .eval();
    assert!(with_met(&d, "peer"));
    let ApprovalState::Invalid { reason } = state(&d, "manager") else {
        panic!("expected invalid")
    };
    assert!(reason.contains("Peer review"), "{reason}");
    assert_eq!(removed(&d), vec!["BT Integration Manager::Approved"]);
    assert_eq!(d.verdict, Verdict::Fail);
    // The same order reversed: the manager approval came first and keeps its role.
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("BT Integration Manager::Approved", "peter", 1)
        .label("Peer Approval::Approved", "peter", 2)
        .eval();
    assert!(with_met(&d, "manager"));
    assert!(matches!(state(&d, "peer"), ApprovalState::Invalid { .. }));
}

#[test]
fn distinct_approvers_can_be_switched_off() {
    let text = include_str!("../../rules.yaml")
        .replace("distinct_approvers: true", "distinct_approvers: false");
    let rules = crate::rules::parse("r.yaml", &text).expect("valid");
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "peter", 1)
        .label("BT Integration Manager::Approved", "peter", 2)
        .eval_with(&rules);
    assert_eq!(d.verdict, Verdict::Pass);
}

#[test]
fn push_after_peer_approval_resets_it_but_not_the_manager() {
    let d = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "peter", 1)
        .label("BT Integration Manager::Approved", "mona", 2)
        .push(3)
        .eval();
    let ApprovalState::Invalid { reason } = state(&d, "peer") else {
        panic!("expected invalid")
    };
    assert!(reason.contains("1111111"), "{reason}");
    assert_eq!(removed(&d), vec!["Peer Approval::Approved"]);
    assert_eq!(added(&d), vec!["Peer Approval::Needs Approval"]);
    assert!(with_met(&d, "manager"));
    // A push before the approval changes nothing.
    let d = Case::mr()
        .label("CMT::Standard", "alice", 1)
        .push(1)
        .label("Peer Approval::Approved", "peter", 2)
        .label("BT Integration Manager::Approved", "mona", 3)
        .eval();
    assert_eq!(d.verdict, Verdict::Pass);
}

#[test]
fn two_values_of_a_scope_keep_the_one_applied_last() {
    let d = Case::mr()
        .label("CMT::Emergency", "alice", 5)
        .label("CMT::Minor", "alice", 1)
        .eval();
    assert_eq!(removed(&d), vec!["CMT::Minor"]);
    assert!(d.remove_labels[0].reason.contains("CMT::Emergency"));
    assert_eq!(d.verdict, Verdict::Pass, "evaluated as an emergency");
    // Without history the later label in the list wins.
    let mut case = Case::mr();
    case.snap.change.labels = vec![Label::new("CMT::Minor"), Label::new("CMT::Standard")];
    assert_eq!(removed(&case.eval()), vec!["CMT::Minor"]);
    // Needs Approval added after Approved loses to nothing: the later one stays.
    let d = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .label("BT Integration Manager::Approved", "mona", 1)
        .label("BT Integration Manager::Needs Approval", "alice", 2)
        .eval();
    assert_eq!(removed(&d), vec!["BT Integration Manager::Approved"]);
}

#[test]
fn the_bots_pending_label_gives_way_to_an_approval_given_meanwhile() {
    // The bot read the change before the approver applied the label, and applied the pending
    // label after.
    let raced = |approver: &str| {
        Case::mr()
            .label("CMT::Minor", "alice", 0)
            .label("BT Integration Manager::Approved", approver, 1)
            .label(
                "BT Integration Manager::Needs Approval",
                "changegate[bot]",
                2,
            )
            .eval()
    };
    // mona's approval stands (and is judged), the bot's stale label goes.
    let d = raced("mona");
    assert_eq!(removed(&d), vec!["BT Integration Manager::Needs Approval"]);
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.checklist);
    // Given way to, it is still judged: eve is no manager, so her label goes and the pending
    // label is asked for again.
    let d = raced("eve");
    assert_eq!(removed(&d), vec!["BT Integration Manager::Approved"]);
    assert!(
        added(&d).is_empty(),
        "the pending label stays: {:?}",
        added(&d)
    );
    assert_eq!(d.verdict, Verdict::Fail);
}

#[test]
fn issues_are_enforced_only_when_classified() {
    let d = Case::kind(ChangeKind::Issue).eval();
    assert_eq!(d.verdict, Verdict::NotEnforced);
    assert!(d.checklist.is_empty() && d.add_labels.is_empty());
    let d = Case::kind(ChangeKind::Issue)
        .label("CMT::Comprehensive", "alice", 0)
        .eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(added(&d), vec!["Business Owner Approval::Needs Approval"]);
    assert!(!has_status(&Case::kind(ChangeKind::Issue).snap.change));
    assert!(has_status(&Case::mr().snap.change));
}

/// Rules that speak for both classified and unclassified changes, so that the rule under
/// test is the only one that decides.
const COVER: &str = "  - name: classified\n    when: {has_scope: [CMT]}\n    message: classified\n  - name: unclassified\n    when: {no_scope: [CMT]}\n    message: unclassified\n";

fn custom(rules_yaml: &str) -> Rules {
    let text = format!(
        "version: 1\nenforce:\n  - {{}}\nscopes:\n  - name: CMT\n    values: [Minor]\napprover_groups:\n  - name: g\n    users: {{github: [mona]}}\napprovals:\n  - name: m\n    label: \"X::Approved\"\n    approvers: g\nrules:\n{rules_yaml}{COVER}"
    );
    crate::rules::parse("custom.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn blocks(rules: &Rules, case: &Case) -> bool {
    case.eval_with(rules).verdict == Verdict::Fail
}

#[test]
fn every_condition_kind() {
    let rule = |when: &str| custom(&format!("  - name: r\n    when: {when}\n    block: true\n"));
    let mr = Case::mr();
    let issue = Case::kind(ChangeKind::Issue);
    assert!(blocks(&rule("{kind: merge_request}"), &mr));
    assert!(!blocks(&rule("{kind: merge_request}"), &issue));
    let labelled = Case::mr()
        .label("bug", "alice", 0)
        .label("CMT::Minor", "alice", 1);
    assert!(blocks(&rule("{labels: [bug, \"CMT::Minor\"]}"), &labelled));
    assert!(!blocks(&rule("{labels: [bug, other]}"), &labelled));
    assert!(blocks(&rule("{any_labels: [other, bug]}"), &labelled));
    assert!(!blocks(&rule("{any_labels: [other]}"), &labelled));
    assert!(!blocks(&rule("{not_labels: [bug]}"), &labelled));
    assert!(blocks(&rule("{not_labels: [other]}"), &labelled));
    assert!(blocks(&rule("{has_scope: [CMT]}"), &labelled));
    assert!(!blocks(&rule("{no_scope: [CMT]}"), &labelled));
    assert!(blocks(&rule("{target_branch: [\"ma*\"]}"), &mr));
    assert!(!blocks(&rule("{target_branch: [\"release/*\"]}"), &mr));
    assert!(!blocks(
        &rule("{target_branch: [\"*\"]}"),
        &issue_without_branch()
    ));
    assert!(blocks(&rule("{author: [ALICE]}"), &mr));
    assert!(!blocks(&rule("{not_author: [alice]}"), &mr));
    assert!(blocks(&rule("{not_author: [bob]}"), &mr));
    assert!(!blocks(&rule("{draft: true}"), &mr));
    assert!(blocks(&rule("{draft: false}"), &mr));
    let approved = Case::mr()
        .label("X::Approved", "mona", 0)
        .account("mona", 5);
    assert!(blocks(&rule("{approved: [m]}"), &approved));
    assert!(!blocks(&rule("{not_approved: [m]}"), &approved));
    assert!(!blocks(
        &rule("{approved: [m]}"),
        &Case::mr().label("X::Approved", "alice", 0)
    ));
}

fn issue_without_branch() -> Case {
    let mut c = Case::kind(ChangeKind::Issue);
    c.snap.change.target_branch = None;
    c
}

#[test]
fn static_members_need_no_lookup_and_others_are_not_members() {
    let rules = custom("  - name: r\n    require: [m]\n");
    let by_mona = Case::mr()
        .label("X::Approved", "mona", 0)
        .account("mona", 5);
    assert_eq!(by_mona.eval_with(&rules).verdict, Verdict::Pass);
    // With no team on this forge, the static list is the whole group: no lookup needed.
    let by_zed = Case::mr().label("X::Approved", "zed", 0);
    assert!(membership_questions(&rules, &by_zed.snap).is_empty());
    assert!(matches!(
        state(&by_zed.eval_with(&rules), "m"),
        ApprovalState::Invalid { .. }
    ));
    // With a team, unknown people are questions for the forge.
    let shipped = shipped();
    let case = Case::mr()
        .label("Peer Approval::Approved", "zed", 0)
        .review("yan", HEAD, 1);
    let asked: Vec<(String, Option<String>)> = membership_questions(&shipped, &case.snap)
        .into_iter()
        .map(|(g, u)| (g, u.username))
        .collect();
    assert_eq!(
        asked,
        vec![
            ("integrations-team".to_string(), Some("zed".to_string())),
            ("integrations-team".to_string(), Some("yan".to_string()))
        ]
    );
}

#[test]
fn rules_apply_in_order_and_remove_labels() {
    let rules = custom(
        "  - name: add\n    add_labels: [triage]\n  - name: then\n    when: {labels: [triage]}\n    remove_labels: [stale]\n    message: noted\n",
    );
    let d = Case::mr().label("stale", "alice", 0).eval_with(&rules);
    assert_eq!(added(&d), vec!["triage"]);
    assert_eq!(removed(&d), vec!["stale"]);
    assert_eq!(d.matched_rules, vec!["add", "then", "unclassified"]);
    assert_eq!(d.notes, vec!["noted", "unclassified"]);
    assert_eq!(d.verdict, Verdict::Pass);
}

#[test]
fn status_summary_fits_github_limit() {
    let long = "x".repeat(200);
    let rules = custom(&format!(
        "  - name: r\n    block: true\n    title: {long}\n"
    ));
    let d = Case::mr().eval_with(&rules);
    assert!(d.summary.chars().count() <= 140);
    assert!(d.summary.starts_with("Missing: "));
    assert_eq!(
        Case::mr().label("CMT::Emergency", "a", 0).eval().summary,
        "All change-management requirements are met"
    );
}

#[test]
fn snapshot_from_event_attributes_added_labels_to_the_actor() {
    let change = Case::mr().label("CMT::Minor", "alice", 0).snap.change;
    let event = ChangeEvent {
        pipeline: None,
        action: crate::model::Action::Labeled,
        forge_action: "labeled".into(),
        change,
        actor: User::named("mona"),
        labels_added: vec![Label::new("BT Integration Manager::Approved")],
        labels_removed: vec![],
        review: None,
        previous_head_sha: None,
        previous_target_branch: None,
        comment: None,
    };
    let snap = Snapshot::from_event(&event, at(5));
    assert_eq!(snap.label_events.len(), 1);
    assert_eq!(snap.label_events[0].actor, User::named("mona"));
    assert!(snap.last_push.is_none());
}

#[test]
fn an_approval_the_bot_removed_stays_explained() {
    // alice (the author) applied the peer label; changegate removed it and put pending back.
    let mut case =
        Case::mr()
            .label("CMT::Standard", "alice", 0)
            .label("Peer Approval::Approved", "alice", 1);
    case.snap
        .change
        .labels
        .retain(|l| l.as_str() != "Peer Approval::Approved");
    case.snap.label_events.push(LabelEvent {
        label: Label::new("Peer Approval::Approved"),
        added: false,
        actor: User::named("changegate[bot]"),
        at: Some(at(2)),
    });
    let case = case.label("Peer Approval::Needs Approval", "changegate[bot]", 2);
    let d = case.eval();
    let ApprovalState::Invalid { reason } = state(&d, "peer") else {
        panic!("expected the removal explained")
    };
    assert!(
        reason.contains("@alice") && reason.contains("author"),
        "{reason}"
    );
    assert!(
        d.add_labels.is_empty() && d.remove_labels.is_empty(),
        "converged: nothing more to change"
    );
    // A label someone else removed is simply missing.
    let mut case =
        Case::mr()
            .label("CMT::Standard", "alice", 0)
            .label("Peer Approval::Approved", "alice", 1);
    case.snap
        .change
        .labels
        .retain(|l| l.as_str() != "Peer Approval::Approved");
    case.snap.label_events.push(LabelEvent {
        label: Label::new("Peer Approval::Approved"),
        added: false,
        actor: User::named("alice"),
        at: Some(at(2)),
    });
    assert_eq!(*state(&case.eval(), "peer"), ApprovalState::Missing);
}

#[test]
fn an_undeclared_value_of_a_declared_scope_is_removed_and_leaves_the_change_unclassified() {
    for forge in [Forge::Github, Forge::Gitlab] {
        let mut case = Case::mr().label("CMT::Trivial", "alice", 0);
        case.snap.change.forge = forge;
        let d = case.eval();
        assert_eq!(d.verdict, Verdict::Fail, "{forge}");
        assert_eq!(removed(&d), vec!["CMT::Trivial"]);
        assert!(
            d.remove_labels[0].reason.contains("not a value"),
            "{:?}",
            d.remove_labels
        );
        assert_eq!(unmet_titles(&d), vec!["Classify the change"]);
        let comment = crate::comment::sticky(&case.snap.change, &d);
        assert!(
            comment.contains("`CMT::Trivial`: `CMT::Trivial` is not a value"),
            "{comment}"
        );
    }
    // Next to a declared value, the undeclared one goes and the declared one decides.
    let d = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .label("CMT::Trivial", "alice", 1)
        .eval();
    assert_eq!(removed(&d), vec!["CMT::Trivial"]);
    assert_eq!(unmet_titles(&d), vec!["BT Integration Manager approval"]);
    // An undeclared value of an approval scope is no approval either.
    let d = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .label("BT Integration Manager::Approved!", "mona", 1)
        .eval();
    assert_eq!(removed(&d), vec!["BT Integration Manager::Approved!"]);
    assert_eq!(d.verdict, Verdict::Fail);
}

#[test]
fn an_enforced_change_that_no_classification_rule_covers_fails() {
    // A value declared without a rule for it: nobody said what such a change needs.
    let yaml = include_str!("../../rules.yaml").replace(
        "values: [Minor, Standard, Comprehensive, Emergency]",
        "values: [Minor, Standard, Comprehensive, Emergency, Trivial]",
    );
    let rules = crate::rules::parse("rules.yaml", &yaml).expect("valid");
    let d = Case::mr()
        .label("CMT::Trivial", "alice", 0)
        .eval_with(&rules);
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(unmet_titles(&d), vec!["No rule covers this classification"]);
    assert!(d.checklist[0].detail.contains("`CMT::Trivial`"));
    // Rules without scopes: a change no rule matches fails.
    let text = "version: 1\nenforce:\n  - {}\nrules:\n  - name: only-main\n    when: {target_branch: [release]}\n    block: true\n";
    let rules = crate::rules::parse("r.yaml", text).expect("valid");
    let d = Case::mr().eval_with(&rules);
    assert_eq!(unmet_titles(&d), vec!["No rule applies"]);
}

#[test]
fn commit_authors_cannot_approve_unless_the_rules_say_so() {
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "pam", 1)
        .label("BT Integration Manager::Approved", "mona", 2)
        .review("peter", HEAD, 3);
    case.snap.commit_authors = vec![User::named("pam"), User::named("peter")];
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(
        matches!(state(&d, "peer"), ApprovalState::Invalid { reason } if reason.contains("authored commits")),
        "{:?}",
        state(&d, "peer")
    );
    // Switched off, the committer's approval counts again.
    let yaml = format!(
        "{}\ncommit_authors_are_authors: false\n",
        include_str!("../../rules.yaml")
    );
    let rules = crate::rules::parse("rules.yaml", &yaml).expect("valid");
    assert_eq!(case.eval_with(&rules).verdict, Verdict::Pass);
}

#[test]
fn native_approvals_need_a_time_after_the_push_and_are_never_the_bots() {
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("BT Integration Manager::Approved", "mona", 1)
        .push(5);
    // A GitLab approval: no commit, given before the push.
    case.snap.reviews.push(Review {
        reviewer: User::named("pam"),
        approved: true,
        commit_sha: None,
        submitted_at: Some(at(4)),
    });
    assert!(!with_met(&case.eval(), "peer"));
    case.snap.reviews[0].submitted_at = None;
    assert!(
        !with_met(&case.eval(), "peer"),
        "an unknown time proves nothing"
    );
    case.snap.reviews[0].submitted_at = Some(at(6));
    assert!(with_met(&case.eval(), "peer"));
    // The bot's own approval, even on the head, is nobody's review.
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("BT Integration Manager::Approved", "mona", 1)
        .review("changegate[bot]", HEAD, 2);
    case.snap
        .memberships
        .set("integrations-team", &User::named("changegate[bot]"), true);
    assert!(!with_met(&case.eval(), "peer"));
}

#[test]
fn a_retarget_resets_push_reset_approvals_labels_and_reviews() {
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "pam", 1)
        .label("BT Integration Manager::Approved", "mona", 2)
        .review("peter", HEAD, 3);
    assert_eq!(case.eval().verdict, Verdict::Pass);
    case.snap.retarget = Some(Retarget {
        from: Some("develop".into()),
        at: Some(at(4)),
    });
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(
        matches!(state(&d, "peer"), ApprovalState::Invalid { reason }
        if reason.contains("the target branch changed (from `develop`) after @pam approved"))
    );
    assert!(
        with_met(&d, "manager"),
        "the manager's approval does not reset"
    );
    // Approvals given after the retarget count.
    let d = case.label("Peer Approval::Approved", "pam", 5).eval();
    assert_eq!(d.verdict, Verdict::Pass);
}

#[test]
fn an_incomplete_history_blocks() {
    let mut case = Case::mr().label("CMT::Minor", "alice", 0).label(
        "BT Integration Manager::Approved",
        "mona",
        1,
    );
    assert_eq!(case.eval().verdict, Verdict::Pass);
    case.snap.incomplete = vec!["the label history".into()];
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert_eq!(unmet_titles(&d)[0], "History too long to verify");
}

#[test]
fn deciding_labels_are_approvals_and_contested_scopes() {
    let rules = shipped();
    let labels: Vec<Label> = [
        "CMT::Minor",
        "bug",
        "Peer Approval::Approved",
        "BT Integration Manager::Needs Approval",
    ]
    .iter()
    .map(|l| Label::new(l))
    .collect();
    assert_eq!(
        deciding_labels(&rules, &labels),
        vec![Label::new("Peer Approval::Approved")]
    );
    let two = vec![Label::new("CMT::Minor"), Label::new("CMT::Standard")];
    assert_eq!(deciding_labels(&rules, &two), two);
}

#[test]
fn unknown_authors_and_times_do_not_pass() {
    // The change's author is not known: nobody's approval can be told apart from theirs.
    let mut case = Case::mr().label("CMT::Minor", "alice", 0).label(
        "BT Integration Manager::Approved",
        "mona",
        1,
    );
    case.snap.change.author = User::default();
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(matches!(
        state(&d, "manager"),
        ApprovalState::Unverified { .. }
    ));
    // A peer label with no time, and a push known: it may predate the push.
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "pam", 1)
        .label("BT Integration Manager::Approved", "mona", 2)
        .push(3);
    case.snap.label_events[1].at = None;
    assert!(!with_met(&case.eval(), "peer"));
}

mod arrival;
mod change_issue;
mod comments;
mod debt;
mod freeze;
mod hostile_text;
mod natives;
mod ops;
mod people;
mod same_diff;
mod timed;
