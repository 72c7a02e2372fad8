//! Approvals that reset on push, against what is known of when their head arrived: a time
//! the worker could place, only when changegate first saw the head, or nothing.

use super::*;

/// The head's arrival as the worker reports it: `Some((minute, seen_only))`, or unknown.
fn arrived(case: Case, arrival: Option<(u32, bool)>) -> Case {
    let mut case = case;
    case.snap.last_push = Some(Push {
        sha: Some(HEAD.into()),
        at: arrival.map(|(m, _)| at(m)),
        seen_only: arrival.is_some_and(|(_, s)| s),
    });
    case
}

#[test]
fn a_peer_label_counts_only_after_its_head_is_known_to_have_arrived() {
    // (arrival, peer label's minute, passes, words of the reason when it does not)
    let rows = [
        (Some((3, false)), 4, true, ""),
        (Some((3, false)), 3, true, ""),
        (
            Some((3, false)),
            2,
            false,
            "new commits were pushed (1111111) after @peter",
        ),
        (Some((3, true)), 4, true, ""),
        (
            Some((3, true)),
            2,
            false,
            "@peter applied `Peer Approval::Approved` before changegate could see this code (1111111); approve again",
        ),
        (
            None,
            4,
            false,
            "before changegate could see this code (1111111); approve again",
        ),
    ];
    for (arrival, minute, passes, words) in rows {
        let case = Case::mr()
            .label("CMT::Standard", "alice", 0)
            .label("BT Integration Manager::Approved", "mona", 1)
            .label("Peer Approval::Approved", "peter", minute);
        let d = arrived(case, arrival).eval();
        assert_eq!(d.verdict == Verdict::Pass, passes, "{arrival:?} {minute}");
        if !passes {
            let ApprovalState::Invalid { reason } = state(&d, "peer") else {
                panic!("expected invalid: {arrival:?} {minute}")
            };
            assert!(reason.contains(words), "{reason}");
            // The manager's approval does not reset on push: it stands.
            assert!(with_met(&d, "manager"));
        }
    }
}

#[test]
fn a_native_approval_without_a_commit_counts_only_after_the_bot_saw_the_head() {
    for (seen_only, minute, passes) in [(true, 2, false), (true, 4, true), (false, 4, true)] {
        let mut case = arrived(
            Case::mr().label("CMT::Standard", "alice", 0).label(
                "BT Integration Manager::Approved",
                "mona",
                1,
            ),
            Some((3, seen_only)),
        );
        case.snap.reviews.push(Review {
            reviewer: User::named("pam"),
            approved: true,
            commit_sha: None,
            submitted_at: Some(at(minute)),
        });
        assert_eq!(
            case.eval().verdict == Verdict::Pass,
            passes,
            "{seen_only} {minute}"
        );
    }
}
