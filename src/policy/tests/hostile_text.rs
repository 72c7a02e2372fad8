//! Forge text in the sticky comment: hostile labels, logins, references and branch names are
//! read back with a CommonMark parser, and none of them escapes its code span.

use super::*;
use crate::markdown::tests::{hostile, read};
use pulldown_cmark::{Event, Options, Parser, Tag};

/// The sticky comment of `case`, checked: one heading (the verdict), one HTML comment (the
/// marker), and nothing from `text` outside code spans; the code spans it produced.
fn rendered_safely(case: &Case, text: &str) -> Vec<String> {
    let d = case.eval();
    let md = crate::comment::sticky(&case.snap.change, &d);
    let headings = Parser::new_ext(&md, Options::all())
        .filter(|e| matches!(e, Event::Start(Tag::Heading { .. })))
        .count();
    assert_eq!(headings, 1, "{text:?} → {md}");
    let (spans, outside) = read(&md);
    for bad in [
        "@acme/everyone",
        "@all",
        "@team",
        "✅ approved",
        "<details",
        "<img",
        "evil.",
    ] {
        assert!(!outside.contains(bad), "{text:?} lets {bad:?} out → {md}");
    }
    assert_eq!(outside.matches("<!--").count(), 1, "{text:?} → {md}");
    spans
}

/// The text as a code span reads back.
fn flat(text: &str) -> String {
    let f: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if f.is_empty() { " ".into() } else { f }
}

#[test]
fn hostile_labels_stay_in_their_code_spans() {
    for text in hostile() {
        // An undeclared value of the classification: removed, and the comment says why.
        let label = if text.starts_with("CMT::") {
            text.clone()
        } else {
            format!("CMT::{text}")
        };
        let case = Case::mr().label(&label, "alice", 1);
        let spans = rendered_safely(&case, &text);
        assert!(spans.contains(&flat(&label)), "{text:?}: {spans:?}");
    }
}

#[test]
fn hostile_names_references_and_branches_stay_in_their_code_spans() {
    for text in hostile() {
        // Someone whose name is not a login applies an approval: no mention is written.
        let case = Case::mr().label("CMT::Minor", "alice", 1).label(
            "BT Integration Manager::Approved",
            &text,
            2,
        );
        rendered_safely(&case, &text);
        // A change issue reference that is not one.
        let rules = crate::rules::parse(
            "r.yaml",
            &format!(
                "{}\nchange_issue:\n  approvals: [manager]\n",
                include_str!("../../../rules.yaml")
            ),
        )
        .expect("valid");
        let mut case = Case::mr().label("CMT::Minor", "alice", 1);
        case.snap.linked_issue = Some(LinkedIssue::Unreadable {
            reference: text.clone(),
            reason: crate::policy::change_issue::parse_reference(&text, &case.snap.change)
                .err()
                .unwrap_or_default(),
        });
        let d = evaluate(&rules, &case.snap);
        let md = crate::comment::sticky(&case.snap.change, &d);
        let (_, outside) = read(&md);
        assert!(!outside.contains("@acme/everyone"), "{text:?} → {md}");
        assert!(!outside.contains("✅ approved"), "{text:?} → {md}");
        // A retarget from a branch so named resets a given approval.
        let mut case = Case::mr().label("CMT::Minor", "alice", 1).label(
            "BT Integration Manager::Approved",
            "mona",
            2,
        );
        case.snap.retarget = Some(Retarget {
            from: Some(text.clone()),
            at: Some(at(3)),
        });
        rendered_safely(&case, &text);
    }
}
