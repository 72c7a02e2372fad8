//! OPS-01 (`examples/ops-01.yaml`): risk levels, two reviewers for high risk (labels and
//! native reviews mixed), the security trigger by path, required description sections, and
//! report-only mode.

use super::*;
use crate::model::ChangedFiles;

fn ops() -> Rules {
    crate::rules::parse("ops-01.yaml", include_str!("../../../examples/ops-01.yaml"))
        .expect("the OPS-01 example is valid")
}

const DESCRIBED: &str = "## Justification\nCustomers asked.\n## Risk assessment\nLow.\n\
                         ## Rollback plan\nRevert.\n## Testing\nUnit tests.\n\
                         ## Security considerations\nNone.\n";

/// alice's described pull request touching `paths`, with the reviewers' memberships.
fn case(paths: &[&str]) -> Case {
    let mut c = Case::mr();
    c.snap.change.description = DESCRIBED.into();
    c.snap.changed_files = Some(ChangedFiles {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        complete: true,
    });
    for (group, user) in [
        ("engineers", "erin"),
        ("engineers", "ed"),
        ("engineers", "alice"),
        ("security-team", "sam"),
        ("tech-leads", "tess"),
    ] {
        c.snap.memberships.set(group, &User::named(user), true);
    }
    c
}

fn item<'a>(d: &'a Decision, title: &str) -> &'a ChecklistItem {
    d.checklist
        .iter()
        .find(|i| i.title == title)
        .unwrap_or_else(|| panic!("no `{title}` in {:#?}", d.checklist))
}

#[test]
fn a_low_risk_change_needs_one_reviewer() {
    let base = case(&["src/app.rs"]).label("Risk::Low", "alice", 1);
    assert_eq!(base.eval_with(&ops()).verdict, Verdict::Fail);
    let d = base.review("erin", HEAD, 2).eval_with(&ops());
    assert_eq!(d.verdict, Verdict::Pass, "{:#?}", d.checklist);
}

#[test]
fn high_risk_needs_two_distinct_reviewers_a_tech_lead_and_security() {
    let one = case(&["src/app.rs"])
        .label("Risk::High", "alice", 1)
        .label("Review::Approved", "erin", 2)
        .label("Tech Lead::Approved", "tess", 3)
        .label("Security Review::Approved", "sam", 4);
    let d = one.eval_with(&ops());
    assert_eq!(d.verdict, Verdict::Fail);
    let r = item(&d, "Reviewer approval");
    assert!(!r.met);
    assert!(
        r.detail.starts_with("1 of 2: approved by @erin"),
        "{}",
        r.detail
    );
    // The same person reviewing natively too is still one person.
    let same = one.clone_with(|c| c.review("erin", HEAD, 5));
    assert_eq!(same.eval_with(&ops()).verdict, Verdict::Fail);
    // The author's review never counts.
    let own = one.clone_with(|c| c.review("alice", HEAD, 5));
    assert_eq!(own.eval_with(&ops()).verdict, Verdict::Fail);
    // A second engineer's approving review on the head: 2 of 2.
    let two = one.clone_with(|c| c.review("ed", HEAD, 5));
    let d = two.eval_with(&ops());
    assert_eq!(d.verdict, Verdict::Pass, "{:#?}", d.checklist);
    assert!(
        item(&d, "Reviewer approval")
            .detail
            .starts_with("2 of 2: approved by @erin")
    );
    // The tech lead cannot also be the second reviewer (one person, one role).
    let mut lead = one.clone_with(|c| c.review("tess", HEAD, 5));
    lead.snap
        .memberships
        .set("engineers", &User::named("tess"), true);
    assert_eq!(lead.eval_with(&ops()).verdict, Verdict::Fail);
}

#[test]
fn security_sensitive_paths_need_the_security_team() {
    let reviewed = |paths: &[&str]| {
        case(paths)
            .label("Risk::Medium", "alice", 1)
            .review("erin", HEAD, 2)
    };
    assert_eq!(
        reviewed(&["docs/readme.md"]).eval_with(&ops()).verdict,
        Verdict::Pass
    );
    for sensitive in [
        "src/auth/login.rs",
        "lib/crypto/aes.rs",
        "crypto/keys.rs",
        "deploy/prod/secrets.yaml",
        "src/encryption.rs",
    ] {
        let d = reviewed(&[sensitive]).eval_with(&ops());
        assert_eq!(d.verdict, Verdict::Fail, "{sensitive}");
        assert!(!item(&d, "Security review").met, "{sensitive}");
    }
    // `*` stays within a directory: `deploy/**/secrets*` does not match a secrets directory's
    // sibling file names elsewhere.
    assert_eq!(
        reviewed(&["src/deploy_secrets.rs"])
            .eval_with(&ops())
            .verdict,
        Verdict::Pass
    );
    // A listing the forge cut short (more than 3,000 files): the trigger counts as met.
    let mut cut = reviewed(&["docs/readme.md"]);
    cut.snap.changed_files.as_mut().unwrap().complete = false;
    assert_eq!(cut.eval_with(&ops()).verdict, Verdict::Fail);
    // Renamed away from a sensitive path: the old path counts too.
    let renamed = reviewed(&["src/session.rs", "src/auth/session.rs"]);
    assert_eq!(renamed.eval_with(&ops()).verdict, Verdict::Fail);
    let approved = reviewed(&["src/auth/login.rs"]).label("Security Review::Approved", "sam", 3);
    assert_eq!(approved.eval_with(&ops()).verdict, Verdict::Pass);
}

#[test]
fn missing_and_empty_sections_are_listed() {
    let mut c = case(&["src/app.rs"])
        .label("Risk::Low", "alice", 1)
        .review("erin", HEAD, 2);
    c.snap.change.description = "## Justification\nWhy.\n## Testing\n<!-- how -->\n".into();
    let d = c.eval_with(&ops());
    assert_eq!(d.verdict, Verdict::Fail);
    let s = item(&d, "Description sections");
    assert_eq!(
        s.detail,
        "missing: Risk assessment, Rollback plan, Security considerations; empty: Testing"
    );
    let comment = crate::comment::sticky(&c.snap.change, &d);
    assert!(comment.contains("`## Rollback plan`"), "{comment}");
}

#[test]
fn report_only_repositories_pass_say_what_would_block_and_change_no_labels() {
    let text = format!(
        "{}\nreport_only: [\"acme/*\"]\n",
        include_str!("../../../examples/ops-01.yaml")
    );
    let rules = crate::rules::parse("r.yaml", &text).unwrap();
    let c =
        case(&["src/app.rs"])
            .label("Risk::High", "alice", 1)
            .label("Review::Approved", "alice", 2);
    let d = c.eval_with(&rules);
    assert_eq!(d.verdict, Verdict::Pass);
    assert!(
        d.summary
            .starts_with("report only: would block — missing Reviewer approval"),
        "{}",
        d.summary
    );
    assert!(d.add_labels.is_empty() && d.remove_labels.is_empty());
    let r = d.report_only.as_ref().unwrap();
    assert!(r.would_block);
    assert!(
        r.label_changes
            .iter()
            .any(|c| c.starts_with("remove `Review::Approved`")),
        "{:?}",
        r.label_changes
    );
    let comment = crate::comment::sticky(&c.snap.change, &d);
    assert!(comment.contains("report only"), "{comment}");
    let planned = crate::actions::plan(&c.snap, &d, &Default::default(), "changegate");
    assert!(planned.iter().all(|a| !matches!(
        a,
        crate::actions::PlannedAction::AddLabels { .. }
            | crate::actions::PlannedAction::RemoveLabels { .. }
    )));
    // Another repository is enforced as usual.
    let mut other = c.clone_with(|c| c);
    other.snap.change.repo.path = crate::model::RepoPath::new("beta/platypus");
    assert_eq!(other.eval_with(&rules).verdict, Verdict::Fail);
}
