//! Approvals by comment command: what a command may give (the same checks as a label), and
//! when a record stands for the role and the label the bot applied for it.

use super::*;
use crate::commands::CommentApproval;
use crate::model::CommentSource;

impl Case {
    /// `by` approved `role` by comment at minute `minute`, of `head`.
    fn by_comment(mut self, role: &str, by: &str, minute: u32, head: Option<&str>) -> Self {
        let id = 100 + self.snap.comment_approvals.len() as u64;
        self.snap.comment_approvals.push(CommentApproval {
            role: role.into(),
            by: User::named(by),
            at: at(minute),
            source: CommentSource::IssueComment,
            comment_id: id,
            url: Some(format!(
                "https://github.com/acme/platypus/pull/7#issuecomment-{id}"
            )),
            head: head.map(str::to_string),
            body_sha: "x".into(),
            node_id: None,
        });
        self
    }
}

fn judge(
    case: &Case,
    by: &str,
    roles: &[&str],
    sha: Option<&str>,
    minute: u32,
) -> Result<Vec<String>, String> {
    let rules = shipped();
    let d = evaluate(&rules, &case.snap);
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    commands::judge_approve(
        &rules,
        &case.snap,
        &d.approvals,
        &User::named(by),
        &roles,
        sha,
        at(minute),
    )
    .map(|g| g.into_iter().map(|g| g.role).collect())
}

#[test]
fn a_command_passes_the_same_checks_as_a_label() {
    let minor = Case::mr().label("CMT::Minor", "alice", 0).push(0);
    let standard = Case::mr().label("CMT::Standard", "alice", 0).push(0);
    type Row<'a> = (
        &'a Case,
        &'a str,
        Vec<&'a str>,
        Option<&'a str>,
        Result<Vec<&'a str>, &'a str>,
    );
    let rows: Vec<Row> = vec![
        (&minor, "mona", vec!["manager"], None, Ok(vec!["manager"])),
        (
            &minor,
            "alice",
            vec!["peer"],
            None,
            Err("@alice is the author of this change"),
        ),
        (
            &minor,
            "eve",
            vec!["manager"],
            None,
            Err("@eve is not in `bt-integration-managers`"),
        ),
        (
            &minor,
            "zed",
            vec!["manager"],
            None,
            Err("could not check whether @zed is in"),
        ),
        (
            &minor,
            "mona",
            vec!["boss"],
            None,
            Err("`boss` is not an approval role"),
        ),
        // All or nothing, and one person per role.
        (
            &standard,
            "peter",
            vec!["peer", "manager"],
            None,
            Err("cannot give both `peer` and `manager`"),
        ),
        (
            &standard,
            "pam",
            vec!["peer"],
            Some("1111111"),
            Ok(vec!["peer"]),
        ),
        (
            &standard,
            "pam",
            vec!["peer"],
            Some("2222222"),
            Err("is not the head"),
        ),
    ];
    for (case, by, roles, sha, want) in rows {
        let got = judge(case, by, &roles, sha, 5);
        match want {
            Ok(roles) => assert_eq!(
                got,
                Ok(roles.iter().map(|r| r.to_string()).collect()),
                "{by} {roles:?}"
            ),
            Err(why) => assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{by} {roles:?}: {got:?}"
            ),
        }
    }
    // Someone who already fills another role cannot give a second one.
    let peer_given = standard
        .clone()
        .label("Peer Approval::Approved", "peter", 2);
    assert!(
        judge(&peer_given, "peter", &["manager"], None, 5)
            .is_err_and(|e| e.contains("already approved this change as `peer`"))
    );
    // A commit author is an author.
    let mut committed = minor.clone();
    committed.snap.commit_authors = vec![User::named("mona")];
    assert!(
        judge(&committed, "mona", &["manager"], None, 5)
            .is_err_and(|e| e.contains("authored commits"))
    );
}

#[test]
fn a_reset_on_push_role_is_approved_only_after_the_heads_push() {
    let standard = Case::mr().label("CMT::Standard", "alice", 0).push(10);
    assert!(
        judge(&standard, "pam", &["peer"], None, 5)
            .is_err_and(|e| e.contains("new commits were pushed"))
    );
    assert!(judge(&standard, "pam", &["peer"], None, 15).is_ok());
    // Nothing says when the head arrived: a comment before the bot first saw it is refused.
    let mut unseen = standard.clone();
    unseen.snap.last_push = Some(Push {
        sha: Some(HEAD.into()),
        at: Some(at(10)),
        seen_only: true,
    });
    assert!(
        judge(&unseen, "pam", &["peer"], None, 5)
            .is_err_and(|e| e.contains("cannot place the push"))
    );
    // Roles that do not reset are not placed.
    assert!(judge(&standard, "mona", &["manager"], None, 5).is_ok());
}

#[test]
fn a_record_stands_for_the_role_and_the_label_the_bot_applied() {
    let case = Case::mr()
        .label("CMT::Minor", "alice", 0)
        .by_comment("manager", "mona", 1, Some(HEAD))
        .label("BT Integration Manager::Approved", "changegate[bot]", 2);
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.checklist);
    match state(&d, "manager") {
        ApprovalState::Met { by, via, .. } => {
            assert_eq!(by, &User::named("mona"));
            assert_eq!(*via, Via::Comment);
        }
        other => panic!("{other:?}"),
    }
    let o = d.approvals.iter().find(|o| o.name == "manager").unwrap();
    assert!(
        o.comment_url(&User::named("mona"))
            .unwrap()
            .contains("issuecomment-100")
    );
    // Without the label yet, the bot applies it (record first, then label).
    let unlabeled =
        Case::mr()
            .label("CMT::Minor", "alice", 0)
            .by_comment("manager", "mona", 1, Some(HEAD));
    assert_eq!(
        added(&unlabeled.eval()),
        vec!["BT Integration Manager::Approved"]
    );
}

#[test]
fn a_label_the_bot_applied_without_a_record_counts_for_nothing() {
    let case = Case::mr().label("CMT::Minor", "alice", 0).label(
        "BT Integration Manager::Approved",
        "changegate[bot]",
        2,
    );
    let d = case.eval();
    assert_eq!(d.verdict, Verdict::Fail);
    assert!(removed(&d).contains(&"BT Integration Manager::Approved"));
    assert!(added(&d).contains(&"BT Integration Manager::Needs Approval"));
}

#[test]
fn records_that_no_longer_qualify_do_not_count() {
    // A record by the author, by a non-member, of an older head for a role that resets, or
    // of a role the rules no longer let be given by comment.
    for case in [
        Case::mr()
            .label("CMT::Minor", "alice", 0)
            .by_comment("manager", "alice", 1, Some(HEAD)),
        Case::mr()
            .label("CMT::Minor", "alice", 0)
            .by_comment("manager", "eve", 1, Some(HEAD)),
    ] {
        assert_eq!(case.eval().verdict, Verdict::Fail);
    }
    let old_head = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .by_comment(
            "peer",
            "pam",
            1,
            Some("0000000000000000000000000000000000000000"),
        )
        .by_comment("manager", "mona", 1, Some(HEAD));
    assert_eq!(*state(&old_head.eval(), "peer"), ApprovalState::Missing);
    let text = include_str!("../../../rules.yaml").replace(
        "    approvers: bt-integration-managers\n",
        "    approvers: bt-integration-managers\n    by_comment: false\n",
    );
    let strict = crate::rules::parse("rules.yaml", &text).unwrap();
    let case =
        Case::mr()
            .label("CMT::Minor", "alice", 0)
            .by_comment("manager", "mona", 1, Some(HEAD));
    assert_eq!(case.eval_with(&strict).verdict, Verdict::Fail);
    let off = crate::rules::parse(
        "rules.yaml",
        &include_str!("../../../rules.yaml").replace("  enabled: true\n", "  enabled: false\n"),
    )
    .unwrap();
    assert_eq!(case.eval_with(&off).verdict, Verdict::Fail);
}

#[test]
fn a_push_after_a_by_comment_approval_resets_it_on_the_change_and_on_its_change_issue() {
    // Pushed back to the same head after the approval: a push all the same.
    let pushed = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .push(1)
        .by_comment("peer", "pam", 5, Some(HEAD))
        .push(10);
    assert!(!matches!(
        state(&pushed.eval(), "peer"),
        ApprovalState::Met { .. }
    ));
    let kept = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .push(1)
        .by_comment("peer", "pam", 5, Some(HEAD));
    assert!(matches!(
        state(&kept.eval(), "peer"),
        ApprovalState::Met { .. }
    ));
    // On a change issue, the gated merge request's push (given to the issue's snapshot)
    // resets it as it resets the issue's labels.
    let issue = Case::kind(ChangeKind::Issue)
        .label("CMT::Standard", "alice", 0)
        .by_comment("peer", "pam", 5, None)
        .push(10);
    assert!(!matches!(
        state(&issue.eval(), "peer"),
        ApprovalState::Met { .. }
    ));
}

#[test]
fn only_the_author_or_an_approver_may_ask_for_or_confirm_an_exception() {
    let mut case = Case::mr().label("CMT::Minor", "alice", 0);
    let rules = shipped();
    assert!(commands::may_ask_exception(&rules, &case.snap, &User::named("alice")).is_ok());
    case.snap
        .memberships
        .set("bt-integration-managers", &User::named("mona"), true);
    assert!(commands::may_ask_exception(&rules, &case.snap, &User::named("mona")).is_ok());
    let stranger = commands::may_ask_exception(&rules, &case.snap, &User::named("zed"));
    assert!(stranger.is_err_and(|e| e.contains("@zed is neither the author")));
}
