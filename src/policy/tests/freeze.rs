//! Freeze exceptions lift one freeze, for one head: the occurrence in force when given (or
//! the next to start), never a later one; new commits and retargets reset them.

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// alice's approved standard change, judged at `now`, with both exceptions given at `given`
/// (RFC 3339) by hank and bea.
fn excepted(now: &str, given: Option<&str>) -> Case {
    let mut case = Case::mr()
        .label("CMT::Standard", "alice", 1)
        .label("Peer Approval::Approved", "peter", 2)
        .label("BT Integration Manager::Approved", "mona", 3);
    case.snap
        .memberships
        .set("head-of-it", &User::named("hank"), true);
    case.snap
        .memberships
        .set("business-exception-approvers", &User::named("bea"), true);
    for (label, by) in [
        ("Head of IT Exception::Approved", "hank"),
        ("Business Exception::Approved", "bea"),
    ] {
        case.snap.change.labels.push(Label::new(label));
        case.snap.label_events.push(LabelEvent {
            label: Label::new(label),
            added: true,
            actor: User::named(by),
            at: given.map(t),
        });
    }
    case.snap.now = t(now);
    case
}

fn pushed(mut case: Case, at: &str) -> Case {
    case.snap.last_push = Some(Push {
        sha: Some(HEAD.into()),
        at: Some(t(at)),
        seen_only: false,
    });
    case
}

struct Row {
    what: &'static str,
    case: Case,
    lifted: bool,
    /// What the blocked period's line says when not lifted.
    says: &'static str,
}

#[test]
fn an_exception_lifts_the_freeze_it_was_given_for_and_only_on_its_head() {
    let rows = [
        Row {
            what: "given during the December close, judged in it",
            case: excepted("2026-12-30T10:00:00Z", Some("2026-12-28T09:00:00Z")),
            lifted: true,
            says: "",
        },
        Row {
            what: "given before the December close started: for the next one to start",
            case: excepted("2026-12-30T10:00:00Z", Some("2026-12-01T09:00:00Z")),
            lifted: true,
            says: "",
        },
        Row {
            what: "given between two closes: for the March one",
            case: excepted("2027-03-28T10:00:00Z", Some("2027-02-15T09:00:00Z")),
            lifted: true,
            says: "",
        },
        Row {
            what: "given on 28 December, judged at the March close",
            case: excepted("2027-03-28T10:00:00Z", Some("2026-12-28T09:00:00Z")),
            lifted: false,
            says: "given on 2026-12-28 for the freeze until 2027-01-07; this freeze (until 2027-04-07) needs its own",
        },
        Row {
            what: "given in November for December, judged at the March close",
            case: excepted("2027-03-28T10:00:00Z", Some("2026-11-20T09:00:00Z")),
            lifted: false,
            says: "for the freeze until 2027-01-07",
        },
        Row {
            what: "new commits after the exceptions",
            case: pushed(
                excepted("2026-12-30T10:00:00Z", Some("2026-12-28T09:00:00Z")),
                "2026-12-29T09:00:00Z",
            ),
            lifted: false,
            says: "new commits were pushed after it was given",
        },
        Row {
            what: "commits pushed before every approval",
            case: pushed(
                excepted("2026-12-30T10:00:00Z", Some("2026-12-28T09:00:00Z")),
                "2026-11-02T10:01:30Z",
            ),
            lifted: true,
            says: "",
        },
        Row {
            what: "a retarget after the exceptions",
            case: {
                let mut c = excepted("2026-12-30T10:00:00Z", Some("2026-12-28T09:00:00Z"));
                c.snap.retarget = Some(Retarget {
                    from: Some("develop".into()),
                    at: Some(t("2026-12-29T09:00:00Z")),
                });
                c
            },
            lifted: false,
            says: "the target branch changed after it was given",
        },
        Row {
            what: "given at an unknown time",
            case: excepted("2026-12-30T10:00:00Z", None),
            lifted: false,
            says: "given at an unknown time",
        },
    ];
    for row in rows {
        let d = row.case.eval();
        assert_eq!(d.blocked.len(), 1, "{}", row.what);
        let b = &d.blocked[0];
        assert_eq!(b.lifted, row.lifted, "{}: {b:?}", row.what);
        let line = &d.checklist[0];
        assert!(line.title.starts_with("Blocked period"), "{}", row.what);
        if row.lifted {
            assert_eq!(d.verdict, Verdict::Pass, "{}: {d:#?}", row.what);
            assert!(b.stale.is_empty(), "{}", row.what);
            continue;
        }
        assert_eq!(d.verdict, Verdict::Fail, "{}", row.what);
        assert!(
            line.detail.contains(row.says),
            "{}: {}",
            row.what,
            line.detail
        );
        // The spent exceptions come off so that they can be given again, and are asked for.
        assert!(
            removed(&d).contains(&"Head of IT Exception::Approved")
                && removed(&d).contains(&"Business Exception::Approved"),
            "{}: {:?}",
            row.what,
            removed(&d)
        );
        assert!(
            added(&d).contains(&"Head of IT Exception::Needs Approval"),
            "{}: {:?}",
            row.what,
            added(&d)
        );
    }
}

#[test]
fn a_merged_change_is_judged_by_the_exceptions_for_the_freeze_it_merged_in() {
    let mut merged = excepted("2027-03-28T10:00:00Z", Some("2026-12-28T09:00:00Z"));
    merged.snap.change.state = ChangeState::Merged;
    merged.snap.change.merged_at = Some(t("2026-12-30T00:00:00Z"));
    let d = merged.eval();
    assert!(d.blocked[0].lifted, "{d:#?}");
    assert!(removed(&d).is_empty(), "a merged change keeps its labels");
    let mut late = merged.clone();
    late.snap.change.merged_at = Some(t("2027-03-27T00:00:00Z"));
    let d = late.eval();
    assert!(!d.blocked[0].lifted);
    assert!(removed(&d).is_empty(), "a merged change keeps its labels");
}
