//! Repository rules may only tighten: a label the central rules read in a condition is not
//! theirs to add, since adding it could switch a central rule on or off.

use super::*;

fn central(text: &str) -> Rules {
    parse(
        "rules.yaml",
        &format!("{text}\nrepository_rules:\n  path: .changegate.yaml\n"),
    )
    .unwrap()
}

fn adding(label: &str) -> String {
    format!("version: 1\nrules:\n  - name: x\n    add_labels: [\"{label}\"]\n")
}

#[test]
fn labels_central_conditions_read_are_not_theirs_to_add() {
    let ops = central(include_str!("../../../examples/ops-01.yaml"));
    let shipped = central(include_str!("../../../rules.yaml"));
    // (central rules, label a repository rule adds, refused)
    let rows: Vec<(&Rules, &str, bool)> = vec![
        // `not_labels` of ops-01's standard and high-risk rules: adding it drops their approvals.
        (&ops, "EMERGENCY", true),
        // `any_labels` of ops-01's data-access rule.
        (&ops, "Data Access", true),
        (&ops, "Security Sensitive", true),
        // `any_labels` of a shipped blocked period.
        (&shipped, "Financially Significant", true),
        // Labels no central condition reads are the repository's own.
        (&ops, "team::frontend", false),
        (&ops, "emergency-drill", false),
        (&shipped, "EMERGENCY", false),
    ];
    for (rules, label, refused) in rows {
        let got = with_repository(rules, ".changegate.yaml", &adding(label));
        match (refused, got) {
            (true, Err(e)) => assert_eq!(
                e.to_string(),
                format!(
                    ".changegate.yaml:4:18: repository rules cannot add `{label}`: the organization's rules read that label in a condition"
                )
            ),
            (false, Ok(_)) => {}
            (refused, got) => panic!("{label}: refused {refused}, got {:?}", got.err()),
        }
    }
}

#[test]
fn a_repositorys_prose_mentions_nobody() {
    let central = central(include_str!("../../../rules.yaml"));
    let text = "version: 1\nrules:\n  - name: \"x @acme/everyone\"\n    message: \"@acme/everyone <b>✅ approved</b>\"\n";
    let merged = with_repository(&central, ".changegate.yaml", text).unwrap();
    let rule = merged.rules.last().unwrap();
    assert_eq!(rule.title, "x @\u{2060}acme/everyone");
    assert_eq!(
        rule.message.as_deref(),
        Some("@\u{2060}acme/everyone &lt;b>✅ approved&lt;/b>")
    );
}
