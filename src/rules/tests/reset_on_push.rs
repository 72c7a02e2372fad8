//! `reset_on_push` takes `true`, `false` or `changed_diff`; anything else is refused where it
//! stands, and the schema names the three.

use super::*;

fn approval(value: &str) -> String {
    format!(
        "approvals:\n  - name: p\n    approvers: peers\n    label: \"P::A\"\n    reset_on_push: {value}\n"
    )
}

fn reset_of(value: &str) -> ResetOnPush {
    let rules = parse("r.yaml", &format!("{HEAD}{}", approval(value))).expect("valid rules");
    rules.approvals[0].reset_on_push
}

#[test]
fn the_three_values_read() {
    assert_eq!(reset_of("true"), ResetOnPush::Always);
    assert_eq!(reset_of("false"), ResetOnPush::Never);
    assert_eq!(reset_of("changed_diff"), ResetOnPush::ChangedDiff);
    assert!(ResetOnPush::ChangedDiff.resets() && ResetOnPush::ChangedDiff.keeps_same_diff());
    assert!(ResetOnPush::Always.resets() && !ResetOnPush::Always.keeps_same_diff());
    assert!(!ResetOnPush::Never.resets());
    let without = parse(
        "r.yaml",
        &format!("{HEAD}approvals:\n  - name: p\n    approvers: peers\n    label: \"P::A\"\n"),
    )
    .unwrap();
    assert_eq!(without.approvals[0].reset_on_push, ResetOnPush::Never);
}

#[test]
fn other_values_are_refused_where_they_stand() {
    for bad in ["changed-diff", "sometimes", "1", "[true]"] {
        let found = problems(&approval(bad));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert!(found[0].starts_with("14:"), "{bad}: {found:?}");
        assert!(
            found[0].contains("true, false or changed_diff"),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn the_schema_names_the_three_values() {
    let s = json_schema().to_string();
    assert!(s.contains("changed_diff"), "{s}");
    assert!(s.contains("\"boolean\""), "{s}");
}
