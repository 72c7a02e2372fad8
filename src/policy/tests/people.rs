//! Static approvers are accounts, not logins (issue 22, item 11): a listed login counts for the
//! account it was first resolved to, a listed id for its account whatever its login now.

use super::*;

/// One approval `m` by group `g` of static `users` (YAML flow mapping), required.
fn rules(users: &str) -> Rules {
    let text = format!(
        "version: 1\nenforce:\n  - {{}}\napprover_groups:\n  - name: g\n    users: {users}\napprovals:\n  - name: m\n    label: \"X::Approved\"\n    approvers: g\nrules:\n  - name: r\n    require: [m]\n"
    );
    crate::rules::parse("people.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// `X::Approved` applied by the account (`login`, `id`).
fn applied_by(login: &str, id: Option<u64>) -> Case {
    let mut c = Case::mr().label("X::Approved", login, 0);
    c.snap.label_events[0].actor.id = id;
    c
}

#[test]
fn static_approvers_are_matched_by_account_id() {
    let by_login = rules("{github: [pam]}");
    let by_id = rules("{github_ids: [101]}");
    let resolved = |mut c: Case, id: Option<u64>| {
        c.snap.memberships.resolve("pam", id);
        c
    };
    #[derive(Debug, PartialEq)]
    enum Is {
        Met,
        Invalid,
        Unverified,
    }
    // (rules, the case, expected)
    let rows: Vec<(&Rules, Case, Is)> = vec![
        // pam, resolved to 101 when the rules were read, approves.
        (
            &by_login,
            resolved(applied_by("pam", Some(101)), Some(101)),
            Is::Met,
        ),
        // Another account renamed to pam does not.
        (
            &by_login,
            resolved(applied_by("pam", Some(999)), Some(101)),
            Is::Invalid,
        ),
        (
            &by_login,
            resolved(applied_by("PAM", Some(999)), Some(101)),
            Is::Invalid,
        ),
        // pam renamed to pam2 is still the account the rules meant.
        (
            &by_login,
            resolved(applied_by("pam2", Some(101)), Some(101)),
            Is::Met,
        ),
        // An actor without an id cannot be told apart from an impostor.
        (
            &by_login,
            resolved(applied_by("pam", None), Some(101)),
            Is::Invalid,
        ),
        // A login no account had approves nothing.
        (
            &by_login,
            resolved(applied_by("pam", Some(101)), None),
            Is::Invalid,
        ),
        // Not resolved yet: unknown, so the approval waits.
        (&by_login, applied_by("pam", Some(101)), Is::Unverified),
        // By id: whatever the account's login now.
        (&by_id, applied_by("pam", Some(101)), Is::Met),
        (&by_id, applied_by("someone-else", Some(101)), Is::Met),
        (&by_id, applied_by("pam", Some(999)), Is::Invalid),
        (&by_id, applied_by("pam", None), Is::Invalid),
    ];
    for (i, (rules, case, expected)) in rows.into_iter().enumerate() {
        let d = case.eval_with(rules);
        let got = match state(&d, "m") {
            ApprovalState::Met { .. } => Is::Met,
            ApprovalState::Invalid { .. } => Is::Invalid,
            ApprovalState::Unverified { .. } => Is::Unverified,
            other => panic!("row {i}: {other:?}"),
        };
        assert_eq!(got, expected, "row {i}");
        assert_eq!(d.verdict == Verdict::Pass, expected == Is::Met, "row {i}");
    }
}
