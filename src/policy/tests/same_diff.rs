//! `reset_on_push: changed_diff` decided from records alone: the diff recorded when the peer
//! approved, and the diff now. Kept only when they are the same; every unknown resets.

use super::*;
use crate::diff::{ApprovedDiff, DiffNow, FilePrint, Fingerprint, HeadsCompared};

const OLD: &str = "0000000000000000000000000000000000000aaa";

fn rules() -> Rules {
    let text = include_str!("../../../rules.yaml").replace(
        "reset_on_push: true          # new commits after the review reset it",
        "reset_on_push: changed_diff",
    );
    crate::rules::parse("rules.yaml", &text).expect("valid rules")
}

fn print(files: &[(&str, &str)]) -> Fingerprint {
    Fingerprint {
        digest: files.iter().map(|(p, d)| format!("{p}={d};")).collect(),
        files: files
            .iter()
            .map(|(p, d)| FilePrint {
                path: p.to_string(),
                digest: d.to_string(),
            })
            .collect(),
    }
}

/// Peter approved at minute 1 on `OLD` (recorded), the head `HEAD` arrived at minute 3.
fn approved_then_pushed(recorded: Option<Fingerprint>, now: Option<Fingerprint>) -> Case {
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 0)
        .label("Peer Approval::Approved", "peter", 1)
        .label("BT Integration Manager::Approved", "mona", 2)
        .push(3);
    case.snap.change.target_branch = Some("main".into());
    case.snap.diffs.approved.push(ApprovedDiff {
        role: "peer".into(),
        via: "label".into(),
        by: User::named("peter"),
        given_at: at(1),
        head_sha: OLD.into(),
        target_branch: Some("main".into()),
        base_sha: None,
        merge_base: Some("m1".into()),
        problem: recorded
            .is_none()
            .then(|| "GitHub lists at most 300 files".into()),
        fingerprint: recorded,
    });
    case.snap.diffs.now = Some(DiffNow {
        head_sha: HEAD.into(),
        target_branch: Some("main".into()),
        merge_base: Some("m2".into()),
        commits: vec![],
        blobs_given: true,
        problem: now.is_none().then(|| "`big.bin` is a binary change".into()),
        fingerprint: now,
        unread: false,
    });
    case
}

fn outcome(case: &Case) -> (Verdict, String) {
    let d = case.eval_with(&rules());
    (d.verdict, d.notes.join("\n"))
}

#[test]
fn the_same_diff_keeps_the_approval_and_says_so() {
    let same = print(&[("src/auth/login.rs", "x")]);
    let (verdict, notes) = outcome(&approved_then_pushed(Some(same.clone()), Some(same)));
    assert_eq!(verdict, Verdict::Pass, "{notes}");
    assert!(
        notes.contains("kept: the change is identical to what @peter approved at `0000000` (the branch was rebased onto `main`)"),
        "{notes}"
    );
}

#[test]
fn every_difference_or_unknown_resets_it_with_the_reason() {
    let a = print(&[("src/auth/login.rs", "x")]);
    let rows: Vec<(Option<Fingerprint>, Option<Fingerprint>, &str)> = vec![
        (
            Some(a.clone()),
            Some(print(&[("src/auth/login.rs", "y")])),
            "reset: `src/auth/login.rs` differs from what @peter approved",
        ),
        (
            Some(a.clone()),
            Some(print(&[("src/auth/login.rs", "x"), ("src/new.rs", "z")])),
            "reset: `src/new.rs` differs from what @peter approved",
        ),
        (
            None,
            Some(a.clone()),
            "reset: changegate could not fingerprint the diff @peter approved at `0000000`: GitHub lists at most 300 files",
        ),
        (
            Some(a.clone()),
            None,
            "cannot be verified: `big.bin` is a binary change",
        ),
    ];
    for (recorded, now, words) in rows {
        let case = approved_then_pushed(recorded, now);
        let (verdict, notes) = outcome(&case);
        assert_eq!(verdict, Verdict::Fail, "{words}");
        assert!(notes.contains(words), "{notes}\nshould say {words}");
        let d = case.eval_with(&rules());
        assert!(removed(&d).contains(&"Peer Approval::Approved"), "{words}");
    }
}

#[test]
fn a_retarget_or_another_target_resets_it_whatever_the_diff() {
    let same = print(&[("a.rs", "x")]);
    let mut case = approved_then_pushed(Some(same.clone()), Some(same.clone()));
    case.snap.retarget = Some(Retarget {
        from: Some("main".into()),
        at: Some(at(4)),
    });
    assert_eq!(outcome(&case).0, Verdict::Fail);
    let mut case = approved_then_pushed(Some(same.clone()), Some(same));
    case.snap.change.target_branch = Some("release".into());
    let (verdict, notes) = outcome(&case);
    assert_eq!(verdict, Verdict::Fail);
    assert!(
        notes.contains("reset: the target branch changed (from `main`) after @peter approved"),
        "{notes}"
    );
}

#[test]
fn without_a_record_the_push_resets_it_as_with_true() {
    let same = print(&[("a.rs", "x")]);
    let mut case = approved_then_pushed(Some(same.clone()), Some(same));
    case.snap.diffs.approved.clear();
    let d = case.eval_with(&rules());
    let ApprovalState::Invalid { reason } = state(&d, "peer") else {
        panic!("expected invalid")
    };
    assert!(
        reason.contains("changegate recorded no fingerprint"),
        "{reason}"
    );
}

#[test]
fn the_diff_now_must_be_of_the_current_head() {
    let same = print(&[("a.rs", "x")]);
    let mut case = approved_then_pushed(Some(same.clone()), Some(same));
    if let Some(now) = case.snap.diffs.now.as_mut() {
        now.head_sha = OLD.into();
    }
    let (verdict, notes) = outcome(&case);
    assert_eq!(verdict, Verdict::Fail);
    assert!(notes.contains("was not read"), "{notes}");
}

#[test]
fn without_blob_ids_the_two_heads_must_agree_on_every_touched_path() {
    let same = print(&[("src/auth/login.rs", "x")]);
    let base = approved_then_pushed(Some(same.clone()), Some(same));
    let with_heads = |paths: Option<Vec<&str>>| {
        let mut case = base.clone();
        if let Some(now) = case.snap.diffs.now.as_mut() {
            now.blobs_given = false;
        }
        if let Some(paths) = paths {
            case.snap.diffs.heads.push(HeadsCompared {
                from: OLD.into(),
                to: HEAD.into(),
                paths: Some(paths.into_iter().map(String::from).collect()),
                problem: None,
            });
        }
        case
    };
    assert_eq!(
        outcome(&with_heads(Some(vec!["README.md"]))).0,
        Verdict::Pass
    );
    let (verdict, notes) = outcome(&with_heads(Some(vec!["src/auth/login.rs"])));
    assert_eq!(verdict, Verdict::Fail);
    assert!(
        notes.contains("reset: `src/auth/login.rs` differs"),
        "{notes}"
    );
    let (verdict, notes) = outcome(&with_heads(None));
    assert_eq!(verdict, Verdict::Fail);
    assert!(notes.contains("were not compared"), "{notes}");
}

/// [`approved_then_pushed`], with peter's approval given by comment (on `OLD`) instead of
/// his label.
fn approved_by_comment_then_pushed(
    recorded: Option<Option<Fingerprint>>,
    now: Option<Fingerprint>,
) -> Case {
    let mut case = approved_then_pushed(recorded.clone().flatten(), now);
    case.snap
        .label_events
        .retain(|e| e.label.as_str() != "Peer Approval::Approved");
    case.snap
        .change
        .labels
        .retain(|l| l.as_str() != "Peer Approval::Approved");
    case.snap.diffs.approved.clear();
    if let Some(fingerprint) = recorded {
        case.snap.diffs.approved.push(ApprovedDiff {
            role: "peer".into(),
            via: "comment".into(),
            by: User::named("peter"),
            given_at: at(1),
            head_sha: OLD.into(),
            target_branch: Some("main".into()),
            base_sha: None,
            merge_base: Some("m1".into()),
            problem: fingerprint.is_none().then(|| "too many files".into()),
            fingerprint,
        });
    }
    case.snap
        .comment_approvals
        .push(crate::commands::CommentApproval {
            role: "peer".into(),
            by: User::named("peter"),
            at: at(1),
            source: crate::model::CommentSource::IssueComment,
            comment_id: 100,
            url: None,
            head: Some(OLD.into()),
            body_sha: "x".into(),
            node_id: None,
        });
    case
}

#[test]
fn an_approval_by_comment_is_judged_by_its_fingerprint_like_a_label() {
    let same = print(&[("src/auth/login.rs", "x")]);
    let other = print(&[("src/auth/login.rs", "y")]);
    let cases: Vec<(&str, Case, Verdict, &str)> = vec![
        (
            "the same diff",
            approved_by_comment_then_pushed(Some(Some(same.clone())), Some(same.clone())),
            Verdict::Pass,
            "kept: the change is identical to what @peter approved at `0000000`",
        ),
        (
            "another diff",
            approved_by_comment_then_pushed(Some(Some(same.clone())), Some(other)),
            Verdict::Fail,
            "reset: `src/auth/login.rs` differs from what @peter approved",
        ),
        (
            "no fingerprint of the approved diff",
            approved_by_comment_then_pushed(Some(None), Some(same.clone())),
            Verdict::Fail,
            "reset: changegate could not fingerprint the diff @peter approved",
        ),
        (
            "the diff now unknown",
            approved_by_comment_then_pushed(Some(Some(same.clone())), None),
            Verdict::Fail,
            "reset: the diff at",
        ),
        (
            "no record: reset as with `true`",
            approved_by_comment_then_pushed(None, Some(same)),
            Verdict::Fail,
            "",
        ),
    ];
    for (name, case, verdict, words) in cases {
        let (got, notes) = outcome(&case);
        assert_eq!(got, verdict, "{name}: {notes}");
        assert!(notes.contains(words), "{name}: {notes}");
    }
}

/// Peter's comment approval at minute `given`, with the fingerprint recorded on the current
/// head `HEAD`, whose push arrived at minute 3.
fn comment_on_current_head(given: u32) -> Case {
    let same = print(&[("src/auth/login.rs", "x")]);
    let mut case = approved_by_comment_then_pushed(Some(Some(same.clone())), Some(same));
    for r in &mut case.snap.diffs.approved {
        r.head_sha = HEAD.into();
        r.given_at = at(given);
    }
    for c in &mut case.snap.comment_approvals {
        c.head = Some(HEAD.into());
        c.at = at(given);
    }
    case
}

#[test]
fn an_unmoved_approval_by_comment_still_keeps_the_push_time_rules() {
    let cases: Vec<(&str, Case, Verdict)> = vec![
        (
            "written after the head's push",
            comment_on_current_head(4),
            Verdict::Pass,
        ),
        (
            "written before the head's push, though recorded on it",
            comment_on_current_head(1),
            Verdict::Fail,
        ),
        (
            "retargeted since",
            {
                let mut case = comment_on_current_head(4);
                case.snap.retarget = Some(crate::policy::Retarget {
                    at: Some(at(5)),
                    from: Some("main".into()),
                });
                case
            },
            Verdict::Fail,
        ),
    ];
    for (name, case, verdict) in cases {
        let (got, notes) = outcome(&case);
        assert_eq!(got, verdict, "{name}: {notes}");
    }
}
