//! A change's headline on its details page: what happened to a merged change (merged without
//! its approvals, merged as an emergency that still owes), otherwise whether it may merge.

use crate::evidence::DecisionEvidence;
use crate::policy::Verdict;

/// The headline of a change: what happened to a merged one (merged without its approvals,
/// merged as an emergency that still owes), otherwise whether it may merge.
pub(super) fn headline(
    decided: &[(i64, DecisionEvidence, Option<String>)],
) -> (String, &'static str) {
    use crate::model::ChangeState;
    let Some((_, last, _)) = decided.last() else {
        return (String::new(), "muted");
    };
    let d = &last.decision;
    if last.change.state != ChangeState::Merged {
        let (words, class) = super::views::verdict_words(d.verdict);
        return (words.to_string(), class);
    }
    if let Some(o) = d.owed.as_ref().filter(|o| !o.complete) {
        let owes = o.items.iter().filter(|i| i.given.is_none()).count();
        let by = o
            .due
            .map(|t| format!(" by {}", t.format("%-d %b %H:%M UTC")))
            .unwrap_or_default();
        let overdue = if o.overdue { " (overdue)" } else { "" };
        return (
            format!("Merged as an emergency — owes {owes}{by}{overdue}"),
            "fail",
        );
    }
    // The decision made when the merge was first seen says what it merged with.
    let at_merge = decided
        .iter()
        .find(|(_, ev, _)| ev.change.state == ChangeState::Merged)
        .map(|(_, ev, _)| ev.decision.verdict)
        .unwrap_or(d.verdict);
    match (at_merge, d.owed.is_some()) {
        (_, true) => ("Merged as an emergency — nothing owed".into(), "pass"),
        (Verdict::Fail, _) => ("Merged without its approvals".into(), "fail"),
        (Verdict::Pass, _) => ("Merged with its approvals".into(), "pass"),
        (Verdict::NotEnforced, _) => ("Merged (not subject to change management)".into(), "muted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decided(state: &str, verdict: &str, owed: Option<serde_json::Value>) -> DecisionEvidence {
        let mut d = json!({
            "verdict": verdict, "summary": "", "matched_rules": [], "checklist": [], "notes": [],
            "approvals": [], "add_labels": [], "remove_labels": [], "rules_hash": "h",
            "change": {"kind": "merge_request", "state": state, "title": "t", "labels": [],
                       "head_sha": null, "author": {"id": 1, "username": "a"}, "web_url": null},
            "source": "forge"
        });
        if let Some(o) = owed {
            d["owed"] = o;
        }
        serde_json::from_value(d).unwrap()
    }

    fn owed(given: usize, missing: usize, overdue: bool) -> serde_json::Value {
        let item = |g: bool| {
            let mut i = json!({"name": "peer", "title": "Peer", "who": []});
            if g {
                i["given"] = json!({"by": {"id": 2, "username": "p"}, "at": null});
            }
            i
        };
        let items: Vec<_> = (0..given)
            .map(|_| item(true))
            .chain((0..missing).map(|_| item(false)))
            .collect();
        json!({"rules": ["emergency"], "within": "24 h", "merged_at": "2026-12-05T21:30:00Z",
               "due": "2026-12-06T21:30:00Z", "items": items, "merged": true,
               "complete": missing == 0, "overdue": overdue})
    }

    #[test]
    fn merged_changes_say_what_happened() {
        let at = |d: DecisionEvidence| (0, d, None);
        let open = [at(decided("open", "fail", None))];
        assert_eq!(headline(&open).0, "Not ready to merge");
        let failing = [
            at(decided("open", "fail", None)),
            at(decided("merged", "fail", None)),
        ];
        assert_eq!(
            headline(&failing),
            ("Merged without its approvals".into(), "fail")
        );
        // Approvals given after a merge do not rewrite how it merged.
        let late = [
            at(decided("merged", "fail", None)),
            at(decided("merged", "pass", None)),
        ];
        assert_eq!(headline(&late).0, "Merged without its approvals");
        let fine = [at(decided("merged", "pass", None))];
        assert_eq!(headline(&fine).0, "Merged with its approvals");
        let emergency = [at(decided("merged", "pass", Some(owed(0, 4, false))))];
        assert_eq!(
            headline(&emergency),
            (
                "Merged as an emergency — owes 4 by 6 Dec 21:30 UTC".into(),
                "fail"
            )
        );
        let late = [at(decided("merged", "fail", Some(owed(1, 3, true))))];
        assert_eq!(
            headline(&late).0,
            "Merged as an emergency — owes 3 by 6 Dec 21:30 UTC (overdue)"
        );
        let paid = [at(decided("merged", "pass", Some(owed(4, 0, false))))];
        assert_eq!(headline(&paid).0, "Merged as an emergency — nothing owed");
    }
}
