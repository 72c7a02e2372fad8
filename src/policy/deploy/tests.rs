//! Table tests for every rule of the deployment decision.

use super::*;
use crate::model::{Forge, User};

mod lines;

const RULES: &str = r#"
version: 1
enforce: [{kind: merge_request}]
approver_groups:
  - {name: ops, users: {github: [olga, omar]}}
  - {name: managers, users: {github: [mia]}}
approvals:
  - {name: release-manager, label: "Release::Approved", approvers: managers}
  - {name: ops-impact, label: "Ops Impact::Approved", approvers: ops}
  - {name: ops-manager, label: "Ops Manager::Approved", approvers: managers}
  - {name: freeze-lift, label: "Freeze Lift::Approved", approvers: managers}
blocked_periods:
  - name: quarter-close
    from: 2026-03-23
    to: 2026-04-01
    exception: [freeze-lift]
deployments:
  - name: production
    environments: ["production", "prod-*"]
    windows:
      - {name: monthly release, days_of_month: [1], timezone: UTC}
      - name: business hours
        weekdays: [Mon, Tue, Wed, Thu, Fri]
        hours: "09:00-17:00"
        timezone: Europe/London
    after: {environment: staging, succeeded_for: 30m}
    exception:
      require: [ops-impact, ops-manager]
      confirm: requester
    checklist: complete
  - name: approved
    environments: ["approved"]
    require: [release-manager]
  - name: listed
    environments: ["listed"]
    checklist: ["Notify the service desk"]
  - name: staging
    environments: ["staging"]
  - name: released
    environments: ["released"]
    branches: ["release/*"]
"#;

fn rules() -> Rules {
    crate::rules::parse("rules.yaml", RULES).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    crate::rules::parse_time(s).unwrap()
}

const SHA: &str = "cccccccccccccccccccccccccccccccccccccccc";
const BASE: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn change(number: u64) -> DeployedChange {
    DeployedChange {
        number,
        title: format!("change {number}"),
        author: User::named("alice"),
        target_branch: Some("main".into()),
        merged_at: Some(t("2026-03-02T10:00:00Z")),
        verdict: MergeVerdict::Passed {
            how: "recorded at merge".into(),
        },
        landed_as: vec![SHA.into()],
        emergency_owes: None,
        grants: vec![],
        issue: Some(IssueTasks {
            reference: "#7".into(),
            tasks: vec![Task {
                text: "Notify the service desk".into(),
                checked: true,
            }],
            readable: true,
        }),
        periods: vec!["quarter-close".into()],
        exception_events: vec![],
    }
}

/// A deployment of one passed change to production on Tuesday 10 March 2026 at 10:00 UTC
/// (in business hours), staged an hour before.
fn facts() -> DeployFacts {
    DeployFacts {
        forge: Forge::Github,
        repo: "acme/shop".into(),
        environment: "production".into(),
        sha: SHA.into(),
        git_ref: Some("main".into()),
        default_branch: Some("main".into()),
        now: t("2026-03-10T10:00:00Z"),
        on_branch: Some(true),
        baseline: Some(Baseline {
            sha: BASE.into(),
            how: "allowed by changegate".into(),
        }),
        range: Some(Range {
            relation: Relation::Ahead,
            commits: vec![RangeCommit {
                sha: SHA.into(),
                parents: vec![BASE.into()],
                changes: vec![12],
                accepted: None,
            }],
            complete: true,
        }),
        changes: vec![change(12)],
        allowed_before: false,
        successes: vec![Success {
            environment: "staging".into(),
            sha: SHA.into(),
            at: t("2026-03-10T09:00:00Z"),
            how: "allowed by changegate and seen succeeding".into(),
        }],
        uncounted: vec![],
        spent: vec![],
        settings: None,
        incomplete: vec![],
    }
}

fn ev(kind: ExceptionEventKind, by: &str, at: &str) -> ExceptionEvent {
    ExceptionEvent {
        kind,
        by: User::named(by),
        at: Some(t(at)),
        source: ExceptionSource::Label,
    }
}

fn grant(role: &str, by: &str, at: &str) -> Grant {
    Grant {
        role: role.into(),
        by: User::named(by),
        at: Some(t(at)),
    }
}

/// An exception on #12 requested Saturday 14 March at 10:00 by rita, approved, confirmed.
fn excepted(mut f: DeployFacts) -> DeployFacts {
    let c = &mut f.changes[0];
    c.exception_events = vec![
        ev(
            ExceptionEventKind::Requested,
            "rita",
            "2026-03-14T10:00:00Z",
        ),
        ev(
            ExceptionEventKind::Confirmed,
            "rita",
            "2026-03-14T10:30:00Z",
        ),
    ];
    c.grants = vec![
        grant("ops-impact", "olga", "2026-03-14T10:10:00Z"),
        grant("ops-manager", "mia", "2026-03-14T10:20:00Z"),
    ];
    f.now = t("2026-03-14T11:00:00Z");
    f.successes[0].at = t("2026-03-14T09:00:00Z");
    f
}

struct Row {
    what: &'static str,
    facts: DeployFacts,
    outcome: Outcome,
    /// A piece of some reason.
    says: &'static str,
}

fn check(rows: Vec<Row>) {
    let rules = rules();
    for r in rows {
        let d = evaluate(&rules, &r.facts);
        let all = d.reasons.join("\n");
        assert_eq!(d.decision, r.outcome, "{}: {all}", r.what);
        assert!(
            all.contains(r.says),
            "{}: `{}` not in\n{all}",
            r.what,
            r.says
        );
    }
}

#[test]
fn a_deployment_in_its_window_with_everything_shown_is_allowed_for_allow_for() {
    let d = evaluate(&rules(), &facts());
    assert_eq!(d.decision, Outcome::Allow, "{:?}", d.reasons);
    assert_eq!(d.expires, Some(t("2026-03-10T11:00:00Z")));
    assert_eq!(d.timing.as_deref(), Some("window business hours"));
    assert_eq!(d.entry.as_deref(), Some("production"));
    assert_eq!(d.changes.len(), 1);
    // Environment names match case-insensitively on GitHub, exactly on GitLab.
    let mut upper = facts();
    upper.environment = "PROD-eu".into();
    assert_eq!(
        evaluate(&rules(), &upper).entry.as_deref(),
        Some("production")
    );
    let mut gitlab = facts();
    gitlab.forge = Forge::Gitlab;
    gitlab.environment = "Production".into();
    let free = evaluate(&rules(), &gitlab);
    assert_eq!((free.decision, free.entry), (Outcome::Allow, None));
}

#[test]
fn every_change_in_range_must_have_passed_at_merge() {
    let failed = |v: MergeVerdict| {
        let mut f = facts();
        f.changes[0].verdict = v;
        f
    };
    let mut direct = facts();
    direct.range.as_mut().unwrap().commits.push(RangeCommit {
        sha: "dddddddddddddddddddddddddddddddddddddddd".into(),
        parents: vec![],
        changes: vec![],
        accepted: None,
    });
    let mut accepted = direct.clone();
    accepted.range.as_mut().unwrap().commits[1].accepted = Some(Accepted {
        by: "oscar".into(),
        reason: "hotfix reviewed".into(),
        at: t("2026-03-10T09:30:00Z"),
    });
    let mut other_branch = facts();
    other_branch.changes[0].target_branch = Some("develop".into());
    let mut unknown_change = facts();
    unknown_change.changes.clear();
    let mut cut = facts();
    cut.range.as_mut().unwrap().complete = false;
    let mut unreadable = facts();
    unreadable.range = None;
    let mut broken = facts();
    broken.incomplete = vec!["the environment `production` is unknown to the forge".into()];
    check(vec![
        Row {
            what: "unapproved change",
            facts: failed(MergeVerdict::Failed {
                why: "Peer review missing".into(),
            }),
            outcome: Outcome::Deny,
            says: "#12 did not pass when it merged: Peer review missing",
        },
        Row {
            what: "no record, not verifiable",
            facts: failed(MergeVerdict::Unknown {
                why: "no record".into(),
            }),
            outcome: Outcome::Deny,
            says: "#12 cannot be verified",
        },
        Row {
            what: "direct push",
            facts: direct,
            outcome: Outcome::Deny,
            says: "commit `dddddddddddd` reached the deployed branch without a change",
        },
        Row {
            what: "direct push accepted",
            facts: accepted,
            outcome: Outcome::Allow,
            says: "accepted by `oscar` (hotfix reviewed)",
        },
        Row {
            what: "merged into another branch",
            facts: other_branch,
            outcome: Outcome::Deny,
            says: "not the deployed branch `main`",
        },
        Row {
            what: "a change nothing is known of",
            facts: unknown_change,
            outcome: Outcome::Deny,
            says: "change #12 cannot be verified",
        },
        Row {
            what: "range cut",
            facts: cut,
            outcome: Outcome::Deny,
            says: "did not list every commit",
        },
        Row {
            what: "range unreadable",
            facts: unreadable,
            outcome: Outcome::Deny,
            says: "cannot be read",
        },
        Row {
            what: "something unreadable",
            facts: broken,
            outcome: Outcome::Deny,
            says: "unknown to the forge",
        },
    ]);
}

#[test]
fn baselines_redeploys_and_rollbacks() {
    let mut first = facts();
    first.baseline = None;
    let mut rollback = facts();
    rollback.range.as_mut().unwrap().relation = Relation::Behind;
    rollback.range.as_mut().unwrap().commits.clear();
    let mut known = rollback.clone();
    known.allowed_before = true;
    let mut required = known.clone();
    required.environment = "approved".into();
    check(vec![
        Row {
            what: "first deployment",
            facts: first,
            outcome: Outcome::Deny,
            says: "changegate deployments baseline --forge github --repo acme/shop --environment production",
        },
        Row {
            what: "rollback never allowed",
            facts: rollback,
            outcome: Outcome::Deny,
            says: "which changegate never allowed",
        },
        Row {
            what: "rollback allowed before",
            facts: known,
            outcome: Outcome::Allow,
            says: "allowed to `production` before",
        },
        Row {
            what: "empty range with require",
            facts: required,
            outcome: Outcome::Deny,
            says: "nothing can carry the approvals",
        },
    ]);
}

#[test]
fn require_staging_and_checklist() {
    let mut needs = facts();
    needs.environment = "approved".into();
    let mut given = needs.clone();
    given.changes[0].grants = vec![grant("release-manager", "mia", "2026-03-10T09:00:00Z")];
    let mut recent = facts();
    recent.successes[0].at = t("2026-03-10T09:48:00Z");
    let mut untrusted = facts();
    untrusted.successes.clear();
    untrusted.uncounted = vec![Uncounted {
        environment: "Staging".into(),
        why: "created by `dev` (not a trusted deployer) without changegate's allow".into(),
    }];
    let mut other_sha = facts();
    other_sha.successes[0].sha = BASE.into();
    let mut unchecked = facts();
    unchecked.changes[0]
        .issue
        .as_mut()
        .unwrap()
        .tasks
        .push(Task {
            text: "Rollback plan".into(),
            checked: false,
        });
    let mut empty = facts();
    empty.changes[0].issue.as_mut().unwrap().tasks.clear();
    let mut unlinked = facts();
    unlinked.changes[0].issue = None;
    let mut listed_missing = facts();
    listed_missing.environment = "listed".into();
    listed_missing.changes[0].issue.as_mut().unwrap().tasks[0].text = "Other".into();
    let mut listed_ok = facts();
    listed_ok.environment = "listed".into();
    check(vec![
        Row {
            what: "require missing",
            facts: needs,
            outcome: Outcome::Wait,
            says: "#12 needs `release-manager`",
        },
        Row {
            what: "require given",
            facts: given,
            outcome: Outcome::Allow,
            says: "each passed when it merged",
        },
        Row {
            what: "staging too recent",
            facts: recent,
            outcome: Outcome::Wait,
            says: "it has run on `staging` for 12 min of 30 min",
        },
        Row {
            what: "staging by an untrusted developer",
            facts: untrusted,
            outcome: Outcome::Deny,
            says: "not a trusted deployer",
        },
        Row {
            what: "staging of another SHA",
            facts: other_sha,
            outcome: Outcome::Deny,
            says: "has not been deployed successfully to `staging`",
        },
        Row {
            what: "unchecked task",
            facts: unchecked,
            outcome: Outcome::Deny,
            says: "`Rollback plan` is not checked",
        },
        Row {
            what: "no task",
            facts: empty,
            outcome: Outcome::Deny,
            says: "has no task",
        },
        Row {
            what: "no change issue",
            facts: unlinked,
            outcome: Outcome::Deny,
            says: "links no change issue",
        },
        Row {
            what: "named item missing",
            facts: listed_missing,
            outcome: Outcome::Deny,
            says: "`Notify the service desk` is missing",
        },
        Row {
            what: "named item checked",
            facts: listed_ok,
            outcome: Outcome::Allow,
            says: "each passed",
        },
    ]);
    let mut recent = facts();
    recent.successes[0].at = t("2026-03-10T09:48:00Z");
    assert_eq!(
        evaluate(&rules(), &recent).until,
        Some(t("2026-03-10T10:18:00Z"))
    );
}

#[test]
fn outside_the_windows_it_waits_or_needs_a_bound_exception() {
    // Saturday 14 March 2026 11:00 UTC: closed until Monday 09:00 GMT.
    let mut weekend = facts();
    weekend.now = t("2026-03-14T11:00:00Z");
    weekend.successes[0].at = t("2026-03-14T09:00:00Z");
    let d = evaluate(&rules(), &weekend);
    assert_eq!(d.decision, Outcome::Wait);
    assert_eq!(d.until, Some(t("2026-03-16T09:00:00Z")));
    // On Monday at 09:00 it decides again, and allows.
    let mut monday = weekend.clone();
    monday.now = t("2026-03-16T09:00:00Z");
    assert_eq!(evaluate(&rules(), &monday).decision, Outcome::Allow);

    let ok = excepted(facts());
    let d = evaluate(&rules(), &ok);
    assert_eq!(d.decision, Outcome::Allow, "{:?}", d.reasons);
    assert_eq!(d.timing.as_deref(), Some("exception"));
    assert_eq!(d.exceptions.len(), 1);
    assert_eq!(d.exceptions[0].requester, "rita");

    let mut before_request = excepted(facts());
    before_request.changes[0].grants[0].at = Some(t("2026-03-14T09:59:00Z"));
    let mut unconfirmed = excepted(facts());
    unconfirmed.changes[0].exception_events.pop();
    let mut confirmed_by_other = excepted(facts());
    confirmed_by_other.changes[0].exception_events[1].by = User::named("olga");
    let mut confirmed_too_early = excepted(facts());
    confirmed_too_early.changes[0].exception_events[1].at = Some(t("2026-03-14T10:15:00Z"));
    let mut one_person = excepted(facts());
    one_person.changes[0].grants[1].by = User::named("olga");
    let mut spent = excepted(facts());
    spent.spent = vec![SpentException {
        change: 12,
        requested_at: t("2026-03-14T10:00:00Z"),
        spent_at: Some(t("2026-03-14T10:40:00Z")),
    }];
    // Given for the weekend before, used the next one.
    let mut next_weekend = excepted(facts());
    next_weekend.now = t("2026-03-21T11:00:00Z");
    next_weekend.successes[0].at = t("2026-03-21T09:00:00Z");
    let mut second_request = excepted(facts());
    second_request.changes[0].exception_events.insert(
        0,
        ev(ExceptionEventKind::Requested, "sam", "2026-03-14T09:00:00Z"),
    );
    let mut unplaced = excepted(facts());
    unplaced.changes[0].grants[0].at = None;
    let mut two_changes = excepted(facts());
    two_changes.changes.push(change(13));
    two_changes.range.as_mut().unwrap().commits[0]
        .changes
        .push(13);
    check(vec![
        Row {
            what: "approval before the request",
            facts: before_request,
            outcome: Outcome::Wait,
            says: "needs `ops-impact` given after the request of `rita`",
        },
        Row {
            what: "not confirmed",
            facts: unconfirmed,
            outcome: Outcome::Wait,
            says: "waits for `rita` (the requester) to confirm",
        },
        Row {
            what: "confirmed by someone else",
            facts: confirmed_by_other,
            outcome: Outcome::Wait,
            says: "the requester",
        },
        Row {
            what: "confirmed before the approvals",
            facts: confirmed_too_early,
            outcome: Outcome::Wait,
            says: "to confirm after the approvals",
        },
        Row {
            what: "one person, two roles",
            facts: one_person,
            outcome: Outcome::Wait,
            says: "needs `ops-manager`",
        },
        Row {
            what: "used once",
            facts: spent,
            outcome: Outcome::Wait,
            says: "used its exception",
        },
        Row {
            what: "another window",
            facts: next_weekend,
            outcome: Outcome::Wait,
            says: "was for another time: it does not carry to this one",
        },
        Row {
            what: "the first requester is the requester",
            facts: second_request,
            outcome: Outcome::Wait,
            says: "waits for `sam` (the requester)",
        },
        Row {
            what: "an approval at an unknown time",
            facts: unplaced,
            outcome: Outcome::Wait,
            says: "needs `ops-impact`",
        },
        Row {
            what: "every change needs its own",
            facts: two_changes,
            outcome: Outcome::Wait,
            says: "#13 has no exception requested",
        },
    ]);
}

#[test]
fn emergencies_pass_the_windows_only_together_and_say_what_they_owe() {
    let mut one = facts();
    one.now = t("2026-03-14T11:00:00Z");
    one.successes[0].at = t("2026-03-14T09:00:00Z");
    one.changes[0].emergency_owes = Some(vec!["ops-manager".into()]);
    let d = evaluate(&rules(), &one);
    assert_eq!(d.decision, Outcome::Allow, "{:?}", d.reasons);
    assert_eq!(d.timing.as_deref(), Some("emergency"));
    assert_eq!(d.owed, vec!["#12 still owes `ops-manager`".to_string()]);
    let mut mixed = one.clone();
    mixed.changes.push(change(13));
    mixed.range.as_mut().unwrap().commits[0].changes.push(13);
    assert_eq!(evaluate(&rules(), &mixed).decision, Outcome::Wait);
}

#[test]
fn a_blocked_period_needs_its_own_exception() {
    // Tuesday 24 March 2026 10:00 UTC: in business hours, inside the quarter close.
    let mut blocked = facts();
    blocked.now = t("2026-03-24T10:00:00Z");
    blocked.successes[0].at = t("2026-03-24T09:00:00Z");
    // The entry's exception roles do not lift the period.
    let mut entry_roles = blocked.clone();
    entry_roles.changes[0].exception_events = vec![
        ev(
            ExceptionEventKind::Requested,
            "rita",
            "2026-03-24T08:00:00Z",
        ),
        ev(
            ExceptionEventKind::Confirmed,
            "rita",
            "2026-03-24T08:30:00Z",
        ),
    ];
    entry_roles.changes[0].grants = vec![
        grant("ops-impact", "olga", "2026-03-24T08:10:00Z"),
        grant("ops-manager", "mia", "2026-03-24T08:20:00Z"),
    ];
    let mut lifted = entry_roles.clone();
    lifted.changes[0].grants = vec![grant("freeze-lift", "mia", "2026-03-24T08:20:00Z")];
    let mut spared = blocked.clone();
    spared.changes[0].periods.clear();
    check(vec![
        Row {
            what: "no exception",
            facts: blocked,
            outcome: Outcome::Deny,
            says: "blocked period `quarter-close` holds until 2026-04-01 00:00 UTC",
        },
        Row {
            what: "the entry's roles",
            facts: entry_roles,
            outcome: Outcome::Wait,
            says: "needs `freeze-lift`",
        },
        Row {
            what: "the period's roles",
            facts: lifted,
            outcome: Outcome::Allow,
            says: "lifted by an exception",
        },
        Row {
            what: "a change the period does not cover",
            facts: spared,
            outcome: Outcome::Allow,
            says: "in window",
        },
    ]);
}

#[test]
fn the_environments_settings_are_said_when_they_leave_a_way_around() {
    let mut f = facts();
    f.settings = Some(EnvironmentFacts {
        has_changegate_rule: Some(false),
        admins_can_bypass: Some(true),
    });
    let d = evaluate(&rules(), &f);
    assert_eq!(d.decision, Outcome::Allow);
    let all = d.reasons.join("\n");
    assert!(all.contains("does not list changegate"), "{all}");
    assert!(all.contains("administrators can bypass"), "{all}");
}
