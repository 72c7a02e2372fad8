//! GitLab blocks a merge only as far as the project is set up to: "Pipelines must succeed"
//! (with skipped pipelines not counted as success) makes a failing commit status a block;
//! on Ultimate, changegate's external status check, registered for the target branch, with
//! "Status checks must succeed". What is not set up is a missing block, and a verdict GitLab
//! would not enforce fails, saying which setting to turn on. Pure: the worker reads the facts.

use super::{ChecklistItem, Decision, Verdict, clip};

/// What GitLab said about a project's blocks (`None`: it did not say).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockFacts {
    pub pipeline_must_succeed: Option<bool>,
    pub skipped_pipeline_allowed: Option<bool>,
    /// Present when `gitlab.status_checks` is on.
    pub status_check: Option<CheckFacts>,
    /// Why the pipeline GitLab gates the merge request on cannot hold changegate's status (it
    /// runs in a fork changegate may not write to, or GitLab does not say where); `None` when
    /// it can, or when no merge request is in question.
    pub pipeline_gate: Option<String>,
}

/// changegate's external status check on a project, as GitLab lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckFacts {
    /// Whether a check with changegate's URL is registered.
    pub registered: bool,
    /// Whether it applies to the change's target branch (a check without protected branches
    /// applies to all).
    pub covers_target: bool,
    /// "Status checks must succeed".
    pub must_pass: Option<bool>,
}

/// The blocks that are not in force, each as a sentence saying which setting to change.
pub fn missing_blocks(f: &BlockFacts) -> Vec<String> {
    // First: the status says it, and no setting makes up for it.
    let mut out: Vec<String> = f.pipeline_gate.iter().cloned().collect();
    match f.pipeline_must_succeed {
        Some(true) => {}
        Some(false) => out.push(
            "the project's setting \"Pipelines must succeed\" (only_allow_merge_if_pipeline_succeeds) is off, so GitLab merges whatever this status says".to_string(),
        ),
        None => out.push(
            "GitLab did not say whether \"Pipelines must succeed\" (only_allow_merge_if_pipeline_succeeds) is on; the bot's token may need to read the project's settings".to_string(),
        ),
    }
    match f.skipped_pipeline_allowed {
        Some(false) => {}
        Some(true) => out.push(
            "the project's setting \"Skipped pipelines are considered successful\" (allow_merge_on_skipped_pipeline) is on, so a skipped pipeline merges without this status".to_string(),
        ),
        None => out.push(
            "GitLab did not say whether skipped pipelines count as successful (allow_merge_on_skipped_pipeline)".to_string(),
        ),
    }
    if let Some(c) = &f.status_check {
        if !c.registered {
            out.push("changegate's external status check is not registered on this project (its URL must be server.public_url + /webhooks/gitlab/status-check)".to_string());
        } else if !c.covers_target {
            out.push(
                "changegate's external status check is not registered for this merge request's target branch".to_string(),
            );
        }
        match c.must_pass {
            Some(true) => {}
            Some(false) => out.push(
                "the project's setting \"Status checks must succeed\" (only_allow_merge_if_all_status_checks_passed) is off".to_string(),
            ),
            None => out.push(
                "GitLab did not say whether \"Status checks must succeed\" (only_allow_merge_if_all_status_checks_passed) is on".to_string(),
            ),
        }
    }
    out
}

/// Whether a status check scoped to `branches` applies to a merge request into `target`: no
/// branches means all; a protected branch's name may be a wildcard (`release/*`), matched as
/// GitLab matches it (`*` stands for any characters, `/` included). An unknown target is
/// covered by nothing but an unscoped check.
pub fn check_covers(branches: &[String], target: Option<&str>) -> bool {
    branches.is_empty() || target.is_some_and(|t| branches.iter().any(|b| super::glob(b, t)))
}

/// Each block GitLab can hold, and whether it is in force, for `changegate explain`.
pub fn blocks_in_force(f: &BlockFacts) -> Vec<(String, bool)> {
    let mut out = vec![
        (
            "Pipelines must succeed (only_allow_merge_if_pipeline_succeeds)".to_string(),
            f.pipeline_must_succeed == Some(true),
        ),
        (
            "skipped pipelines not counted as successful (allow_merge_on_skipped_pipeline off)"
                .to_string(),
            f.skipped_pipeline_allowed == Some(false),
        ),
    ];
    if let Some(why) = &f.pipeline_gate {
        out.push((
            format!(
                "changegate's status in the pipeline GitLab gates the merge request on ({why})"
            ),
            false,
        ));
    }
    if let Some(c) = &f.status_check {
        out.push((
            "changegate's external status check registered for the target branch".to_string(),
            c.registered && c.covers_target,
        ));
        out.push((
            "Status checks must succeed (only_allow_merge_if_all_status_checks_passed)".to_string(),
            c.must_pass == Some(true),
        ));
    }
    out
}

/// Fails a decision GitLab would not enforce: a checklist item names the missing blocks and
/// the status says the first. A report-only decision only notes them.
pub fn forge_blocks(d: &mut Decision, missing: &[String]) {
    let Some(first) = missing.first() else {
        return;
    };
    if d.verdict == Verdict::NotEnforced {
        return;
    }
    let detail = missing.join("; ");
    if d.report_only.is_some() {
        d.notes
            .push(format!("GitLab would not enforce this verdict: {detail}."));
        return;
    }
    d.summary = match d.verdict {
        Verdict::Pass => clip(&format!("GitLab would not enforce this: {first}")),
        _ => clip(&format!("{}; GitLab blocks off: {first}", d.summary)),
    };
    d.verdict = Verdict::Fail;
    d.checklist.push(ChecklistItem {
        title: "GitLab enforces the verdict".into(),
        met: false,
        detail,
        next_step: Some(
            "A project maintainer turns on the settings named (Settings > Merge requests); the bot checks them at each evaluation.".into(),
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> BlockFacts {
        BlockFacts {
            pipeline_must_succeed: Some(true),
            skipped_pipeline_allowed: Some(false),
            status_check: None,
            pipeline_gate: None,
        }
    }

    fn check(registered: bool, covers: bool, must: Option<bool>) -> BlockFacts {
        BlockFacts {
            status_check: Some(CheckFacts {
                registered,
                covers_target: covers,
                must_pass: must,
            }),
            ..on()
        }
    }

    #[test]
    fn each_setting_off_or_unknown_is_a_missing_block() {
        let cases: Vec<(BlockFacts, &str)> = vec![
            (on(), ""),
            (
                BlockFacts {
                    pipeline_must_succeed: Some(false),
                    ..on()
                },
                "Pipelines must succeed",
            ),
            (
                BlockFacts {
                    pipeline_must_succeed: None,
                    ..on()
                },
                "did not say",
            ),
            (
                BlockFacts {
                    skipped_pipeline_allowed: Some(true),
                    ..on()
                },
                "Skipped pipelines",
            ),
            (
                BlockFacts {
                    skipped_pipeline_allowed: None,
                    ..on()
                },
                "skipped pipelines",
            ),
            (check(true, true, Some(true)), ""),
            (
                check(false, false, Some(true)),
                "not registered on this project",
            ),
            (check(true, false, Some(true)), "target branch"),
            (check(true, true, Some(false)), "Status checks must succeed"),
            (check(true, true, None), "did not say"),
            (
                BlockFacts {
                    pipeline_gate: Some("block missing: the pipeline runs in the fork a/b".into()),
                    ..on()
                },
                "runs in the fork a/b",
            ),
        ];
        for (facts, says) in cases {
            let missing = missing_blocks(&facts);
            if says.is_empty() {
                assert!(missing.is_empty(), "{facts:?}: {missing:?}");
            } else {
                assert_eq!(missing.len(), 1, "{facts:?}: {missing:?}");
                assert!(missing[0].contains(says), "{facts:?}: {missing:?}");
            }
        }
    }

    #[test]
    fn a_check_covers_its_branches_and_their_wildcards() {
        let b = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: Vec<(Vec<String>, Option<&str>, bool)> = vec![
            (b(&[]), Some("main"), true),
            (b(&[]), None, true),
            (b(&["main"]), Some("main"), true),
            (b(&["main"]), Some("mainline"), false),
            (b(&["main"]), None, false),
            (b(&["release/*"]), Some("release/1.0"), true),
            (b(&["release/*"]), Some("release/1.0/hotfix"), true),
            (b(&["release/*"]), Some("prerelease/1.0"), false),
            (b(&["*-stable"]), Some("16-stable"), true),
            (b(&["*-stable"]), Some("16-stable-old"), false),
            (b(&["main", "release/*"]), Some("release/2"), true),
        ];
        for (branches, target, covers) in cases {
            assert_eq!(
                check_covers(&branches, target),
                covers,
                "{branches:?} {target:?}"
            );
        }
    }

    fn decision(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            summary: "All approvals given".into(),
            matched_rules: vec![],
            checklist: vec![],
            notes: vec![],
            approvals: vec![],
            add_labels: vec![],
            remove_labels: vec![],
            rules_hash: String::new(),
            blocked: vec![],
            owed: None,
            debt: None,
            report_only: None,
        }
    }

    #[test]
    fn a_pass_gitlab_would_not_enforce_fails_with_the_reason() {
        let missing = missing_blocks(&BlockFacts {
            pipeline_must_succeed: Some(false),
            ..on()
        });
        let mut d = decision(Verdict::Pass);
        forge_blocks(&mut d, &missing);
        assert_eq!(d.verdict, Verdict::Fail);
        assert!(
            d.summary.contains("Pipelines must succeed"),
            "{}",
            d.summary
        );
        assert!(d.summary.chars().count() <= crate::policy::MAX_SUMMARY_CHARS);
        assert!(!d.checklist.last().unwrap().met);

        let mut fine = decision(Verdict::Pass);
        forge_blocks(&mut fine, &[]);
        assert_eq!(fine, decision(Verdict::Pass));

        let mut outside = decision(Verdict::NotEnforced);
        forge_blocks(&mut outside, &missing);
        assert_eq!(outside.verdict, Verdict::NotEnforced);

        let mut failing = decision(Verdict::Fail);
        forge_blocks(&mut failing, &missing);
        assert!(
            failing
                .summary
                .starts_with("All approvals given; GitLab blocks off")
        );
    }
}
