//! OPS-01 (`examples/ops-01.yaml`) end to end on the fake forges: the security trigger by
//! path, two reviewers for high risk (a label and a native approval), missing description
//! sections, and report-only mode writing no labels.

mod common;

use changegate::rules::Rules;
use common::github_setup::{H1, Setup, setup};
use common::gitlab_world::GitlabWorld;
use common::*;
use std::sync::Arc;

const DESCRIBED: &str = "## Justification\nCustomers asked.\n## Risk assessment\nLow.\n\
                         ## Rollback plan\nRevert.\n## Testing\nUnit tests.\n\
                         ## Security considerations\nNone.\n";

fn ops(extra: &str) -> Rules {
    let text = format!(
        "{}{extra}",
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ops-01.yaml"))
            .unwrap()
    );
    changegate::rules::parse("ops-01.yaml", &text).expect("valid")
}

fn use_rules(app: &TestApp, rules: Rules) {
    *app.worker.rules.write().unwrap() = Arc::new(rules);
}

/// #7 by alice under OPS-01, described, on GitHub.
async fn github(extra: &str) -> Setup {
    let s = setup().await;
    for (team, who) in [
        ("engineers", "erin"),
        ("engineers", "ed"),
        ("engineers", "alice"),
        ("security", "sam"),
        ("tech-leads", "tess"),
    ] {
        s.gh.member(team, who);
    }
    s.gh.set_body(7, DESCRIBED);
    use_rules(&s.app, ops(extra));
    s
}

#[tokio::test]
async fn high_risk_needs_a_second_reviewer_a_label_and_a_review_mixed() {
    let s = github("").await;
    s.apply_label("alice", "Risk::High").await;
    s.apply_label("erin", "Review::Approved").await;
    s.apply_label("tess", "Tech Lead::Approved").await;
    s.apply_label("sam", "Security Review::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(description, "Missing: Reviewer approval");
    assert!(
        s.comment().contains("1 of 2: approved by @erin"),
        "{}",
        s.comment()
    );
    // The same engineer approving natively is still one person.
    s.approve("erin").await;
    assert_eq!(s.status_of(H1).0, "failure");
    s.approve("ed").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}");
    assert!(
        s.comment().contains("2 of 2: approved by @erin"),
        "{}",
        s.comment()
    );
}

#[tokio::test]
async fn a_security_sensitive_path_needs_the_security_team() {
    let s = github("").await;
    s.gh.set_files(7, &["README.md", "src/session.rs<-src/auth/session.rs"]);
    s.apply_label("alice", "Risk::Low").await;
    s.approve("erin").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(description, "Missing: Security review");
    let calls = s.gh.calls();
    let reads = calls
        .iter()
        .filter(|c| c.starts_with("GET /repos/acme/platypus/pulls/7/files"))
        .count();
    assert_eq!(reads, 1, "the files of one head are read once: {calls:#?}");
    s.apply_label("sam", "Security Review::Approved").await;
    assert_eq!(s.status_of(H1).0, "success");
}

#[tokio::test]
async fn missing_description_sections_are_listed() {
    let s = github("").await;
    s.gh.set_body(
        7,
        "## Justification\nWhy.\n\n## Testing\n<!-- what you ran -->\n",
    );
    s.apply_label("alice", "Risk::Low").await;
    s.approve("erin").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure");
    assert_eq!(description, "Missing: Description sections");
    let comment = s.comment();
    assert!(
        comment.contains(
            "missing: Risk assessment, Rollback plan, Security considerations; empty: Testing"
        ),
        "{comment}"
    );
}

#[tokio::test]
async fn report_only_passes_says_what_it_would_block_and_changes_no_labels() {
    let s = github("\nreport_only: [\"acme/*\"]\n").await;
    s.apply_label("alice", "Risk::High").await;
    s.apply_label("alice", "Review::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success");
    assert!(
        description.starts_with("report only: would block — missing Reviewer approval"),
        "{description}"
    );
    let labels = s.gh.labels(7);
    assert!(
        labels.contains(&"Review::Approved".to_string()),
        "{labels:?}"
    );
    assert!(
        !labels.iter().any(|l| l.starts_with("Security Review")),
        "{labels:?}"
    );
    assert!(
        !s.gh.writes().iter().any(|w| w.contains("/labels")),
        "no label writes: {:#?}",
        s.gh.writes()
    );
    let comment = s.comment();
    assert!(comment.contains("report only"), "{comment}");
    assert!(comment.contains("remove `Review::Approved`"), "{comment}");
}

const GL_SHA: &str = "3333333333333333333333333333333333333333";

#[tokio::test]
async fn on_gitlab_the_path_trigger_and_two_reviewers_hold_too() {
    let gl = GitlabWorld::start().await;
    for (group, who) in [
        ("acme/engineers", "erin"),
        ("acme/engineers", "ed"),
        ("acme/security", "sam"),
        ("acme/tech-leads", "tess"),
    ] {
        gl.member(group, who);
    }
    gl.open_mr(3, "alice", GL_SHA);
    gl.set_description(3, DESCRIBED);
    gl.set_files(3, &["deploy/prod/secrets.yaml", "src/app.rs"]);
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    use_rules(&app, ops(""));
    let mut n = 0;
    let mut send = |actor: &str| {
        n += 1;
        (format!("gl-{n}"), gl.mr_hook(GL_SHA, "update", actor))
    };
    for (label, who) in [
        ("Risk::High", "alice"),
        ("Review::Approved", "erin"),
        ("Tech Lead::Approved", "tess"),
        ("Security Review::Approved", "sam"),
    ] {
        gl.add_label(3, label, who);
        let (id, body) = send(who);
        app.gitlab("Merge Request Hook", &id, &body).await;
        app.drain().await;
    }
    let (state, _, description) = gl.status(GL_SHA).unwrap();
    assert_eq!(state, "failed");
    assert_eq!(description, "Missing: Reviewer approval");
    gl.approve(3, "ed");
    let (id, body) = send("ed");
    app.gitlab("Merge Request Hook", &id, &body).await;
    app.drain().await;
    let (state, _, description) = gl.status(GL_SHA).unwrap();
    assert_eq!(state, "success", "{description}");
    assert!(
        gl.calls()
            .iter()
            .any(|c| c.contains("/merge_requests/3/diffs")),
        "{:#?}",
        gl.calls()
    );
}

#[tokio::test]
async fn on_gitlab_missing_sections_are_listed_and_report_mode_writes_no_labels() {
    let gl = GitlabWorld::start().await;
    gl.member("acme/engineers", "erin");
    gl.open_mr(3, "alice", GL_SHA);
    gl.set_description(3, "## Justification\nWhy.\n");
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    use_rules(&app, ops("\nreport_only: [\"acme/platypus\"]\n"));
    gl.add_label(3, "Risk::Low", "alice");
    gl.add_label(3, "Review::Approved", "alice");
    app.gitlab(
        "Merge Request Hook",
        "r1",
        &gl.mr_hook(GL_SHA, "update", "alice"),
    )
    .await;
    app.drain().await;
    let (state, _, description) = gl.status(GL_SHA).unwrap();
    assert_eq!(state, "success");
    assert!(
        description.starts_with(
            "report only: would block — missing Reviewer approval; Description sections"
        ),
        "{description}"
    );
    assert!(gl.labels(3).contains(&"Review::Approved".to_string()));
    assert!(
        !gl.writes().iter().any(|w| w.starts_with("PUT")),
        "labels are never written in report mode: {:#?}",
        gl.writes()
    );
    let note = gl.notes(3).join("\n");
    assert!(
        note.contains("missing: Risk assessment, Rollback plan, Testing, Security considerations"),
        "{note}"
    );
}

#[tokio::test]
async fn an_emergency_merges_at_once_and_owes_its_review_afterwards() {
    let s = github("").await;
    // Undescribed, unassessed, touching a security-sensitive path: only EMERGENCY on it.
    s.gh.set_body(7, "Outage: hotfix.");
    s.gh.set_files(7, &["src/auth/session.rs"]);
    s.apply_label("alice", "EMERGENCY").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}\n{}", s.comment());
    assert!(
        s.comment()
            .contains("one reviewer approval and a retrospective are owed"),
        "{}",
        s.comment()
    );
    // Assessed as high risk, it still merges at once.
    s.apply_label("alice", "Risk::High").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}\n{}", s.comment());
}

#[test]
fn every_approval_label_belongs_to_a_declared_scope() {
    let rules = ops("");
    for a in &rules.approvals {
        let scope = a.label.scope().expect("a scoped label");
        assert!(rules.governs_scope(scope), "{} is undeclared", a.label);
    }
}
