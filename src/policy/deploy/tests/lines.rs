//! The deployed SHA's place: on the deployed branch, and every commit it brings part of what
//! a change merged as on its first-parent line; a diverged SHA; exceptions used once and
//! requested anew; the latest staging success.

use super::*;

const FEATURE: &str = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1";
const MERGE: &str = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0";

fn commit(sha: &str, parents: &[&str], changes: &[u64]) -> RangeCommit {
    RangeCommit {
        sha: sha.into(),
        parents: parents.iter().map(|p| p.to_string()).collect(),
        changes: changes.to_vec(),
        accepted: None,
    }
}

/// #12's commit FEATURE (on BASE) merged into main by merge commit MERGE (BASE, FEATURE).
fn merged_by_commit(deployed: &str) -> DeployFacts {
    let mut f = facts();
    f.sha = deployed.into();
    f.successes[0].sha = deployed.into();
    f.range.as_mut().unwrap().commits = vec![
        commit(FEATURE, &[BASE], &[12]),
        commit(MERGE, &[BASE, FEATURE], &[12]),
    ];
    f.changes[0].landed_as = vec![MERGE.into()];
    if deployed == FEATURE {
        f.range.as_mut().unwrap().commits.pop();
    }
    f
}

#[test]
fn only_what_a_change_merged_as_on_the_deployed_branch_deploys() {
    let mut elsewhere = facts();
    elsewhere.on_branch = Some(false);
    let mut no_branch = facts();
    no_branch.git_ref = None;
    let mut untold = facts();
    untold.on_branch = None;
    // A squash-merged change's own commit: in #12's history, but #12 landed as another
    // commit (and the branch check would deny it too).
    let mut squashed = facts();
    squashed.changes[0].landed_as = vec!["5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a".into()];
    check(vec![
        Row {
            what: "not on the branch",
            facts: elsewhere,
            outcome: Outcome::Deny,
            says: "is not on the deployed branch `main`",
        },
        Row {
            what: "no branch",
            facts: no_branch,
            outcome: Outcome::Deny,
            says: "the deployed branch is not known",
        },
        Row {
            what: "branch not told",
            facts: untold,
            outcome: Outcome::Deny,
            says: "cannot be told",
        },
        Row {
            what: "intermediate commit of a squash-merged change",
            facts: squashed,
            outcome: Outcome::Deny,
            says: "is not part of what it merged as on the deployed line",
        },
        Row {
            what: "intermediate commit of a change merged by a merge commit",
            facts: merged_by_commit(FEATURE),
            outcome: Outcome::Deny,
            says: "commit `f1f1f1f1f1f1` belongs to #12 but is not part of what it merged as",
        },
        Row {
            what: "the merge commit brings the change's commits",
            facts: merged_by_commit(MERGE),
            outcome: Outcome::Allow,
            says: "each passed when it merged",
        },
    ]);
}

#[test]
fn a_diverged_sha_is_a_rollback_or_denied() {
    let mut diverged = facts();
    diverged.range.as_mut().unwrap().relation = Relation::Diverged;
    let mut allowed = diverged.clone();
    allowed.allowed_before = true;
    check(vec![
        Row {
            what: "diverged",
            facts: diverged,
            outcome: Outcome::Deny,
            says: "does not descend from the baseline",
        },
        Row {
            what: "diverged, allowed before",
            facts: allowed,
            outcome: Outcome::Allow,
            says: "which changegate allowed to `production` before",
        },
    ]);
}

#[test]
fn a_used_exception_needs_a_new_request_then_new_approvals_and_confirmation() {
    let spent = |spent_at: Option<&str>| {
        let mut f = excepted(facts());
        f.spent = vec![SpentException {
            change: 12,
            requested_at: t("2026-03-14T10:00:00Z"),
            spent_at: spent_at.map(t),
        }];
        f.now = t("2026-03-14T13:00:00Z");
        f
    };
    let used = spent(Some("2026-03-14T11:00:00Z"));
    // A second request made before the first exception was used does not start a new one.
    let mut early = used.clone();
    early.changes[0].exception_events.push(ev(
        ExceptionEventKind::Requested,
        "rita",
        "2026-03-14T10:05:00Z",
    ));
    // Requested again after the use, with the old approvals only: pending.
    let mut asked = used.clone();
    asked.changes[0].exception_events.push(ev(
        ExceptionEventKind::Requested,
        "rita",
        "2026-03-14T11:30:00Z",
    ));
    let mut renewed = asked.clone();
    renewed.changes[0].grants.extend([
        grant("ops-impact", "omar", "2026-03-14T11:40:00Z"),
        grant("ops-manager", "mia", "2026-03-14T11:50:00Z"),
    ]);
    let mut confirmed = renewed.clone();
    confirmed.changes[0].exception_events.push(ev(
        ExceptionEventKind::Confirmed,
        "rita",
        "2026-03-14T12:00:00Z",
    ));
    // When the use's time is not known, no request can follow it.
    let mut unknown = confirmed.clone();
    unknown.spent[0].spent_at = None;
    check(vec![
        Row {
            what: "used",
            facts: used,
            outcome: Outcome::Wait,
            says: "used its exception (requested 2026-03-14 10:00 UTC) for an earlier deployment",
        },
        Row {
            what: "requested again before the use",
            facts: early,
            outcome: Outcome::Wait,
            says: "used its exception",
        },
        Row {
            what: "requested again, old approvals",
            facts: asked,
            outcome: Outcome::Wait,
            says: "needs `ops-impact`, `ops-manager` given after the request",
        },
        Row {
            what: "new approvals, not confirmed",
            facts: renewed,
            outcome: Outcome::Wait,
            says: "to confirm after the approvals",
        },
        Row {
            what: "a new exception",
            facts: confirmed,
            outcome: Outcome::Allow,
            says: "exception on #12 requested by `rita` at 2026-03-14 11:30 UTC",
        },
        Row {
            what: "use time unknown",
            facts: unknown,
            outcome: Outcome::Wait,
            says: "used its exception",
        },
    ]);
}

#[test]
fn staging_time_runs_from_the_latest_success() {
    let mut f = facts();
    f.successes.push(Success {
        environment: "staging".into(),
        sha: SHA.into(),
        at: t("2026-03-10T09:50:00Z"),
        how: "a later deployment".into(),
    });
    check(vec![Row {
        what: "redeployed to staging 10 minutes ago",
        facts: f,
        outcome: Outcome::Wait,
        says: "for 10 min of 30 min",
    }]);
}

/// A deployment from a branch of `evil`'s own making: every change in it merged into `evil`
/// and "passed" there (approval rules scoped to `main` did not apply), so only the entry's
/// branches stop it.
fn from_branch(environment: &str, branch: &str) -> DeployFacts {
    let mut f = facts();
    f.environment = environment.into();
    f.git_ref = Some(format!("refs/heads/{branch}"));
    for c in &mut f.changes {
        c.target_branch = Some(branch.into());
    }
    f
}

#[test]
fn a_deployment_comes_only_from_the_entrys_branches() {
    let mut unknown_default = from_branch("production", "main");
    unknown_default.default_branch = None;
    check(vec![
        Row {
            what: "default branch",
            facts: from_branch("production", "main"),
            outcome: Outcome::Allow,
            says: "",
        },
        Row {
            what: "another branch than the default",
            facts: from_branch("production", "evil"),
            outcome: Outcome::Deny,
            says: "production deploys only from `main`; this deployment is from `evil`",
        },
        Row {
            what: "default branch not known",
            facts: unknown_default,
            outcome: Outcome::Deny,
            says: "name the branches in `deployments[].branches`, or give the facts a `default_branch`",
        },
        Row {
            what: "a listed glob",
            facts: from_branch("released", "release/2.1"),
            outcome: Outcome::Allow,
            says: "",
        },
        Row {
            what: "the default branch is not listed",
            facts: from_branch("released", "main"),
            outcome: Outcome::Deny,
            says: "released deploys only from `release/*`; this deployment is from `main`",
        },
    ]);
}
