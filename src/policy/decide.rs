//! One evaluation: the labels as the decision leaves them, who approved validly (on the change
//! or its linked change issue), which rules apply and what they require, blocked periods,
//! what an emergency owes, and the checklist and verdict that follow.

use super::*;
use crate::markdown::code;

/// The decision, and the approval roles it requires (before merge, in a blocked period, or
/// owed after merge). `counted`: the roles whose native approvals count.
pub(super) fn decide(
    rules: &Rules,
    snap: &Snapshot,
    needs: &[(String, u32)],
    counted: &[String],
) -> (Decision, Vec<String>) {
    let change = &snap.change;
    let mut set = LabelSet {
        labels: change.labels.clone(),
        add: vec![],
        remove: vec![],
    };
    undeclared_values(rules, &mut set);
    one_value_per_scope(rules, snap, &mut set);
    let link = change_issue::judge(rules, snap, needs);
    let mut outcomes = approvals::assess(rules, snap, &set.labels, needs, &link.taken, counted);
    for o in &outcomes {
        let approval = rules.approval(&o.name);
        match (&o.state, approval) {
            (ApprovalState::Invalid { reason }, Some(a)) => {
                set.remove(&a.label, reason.clone());
                if let Some(p) = &a.pending_label {
                    set.add(
                        p,
                        format!("{} was removed: approval still needed", code(&a.label)),
                    );
                }
            }
            (
                ApprovalState::Met {
                    via: via @ (Via::NativeApproval | Via::Comment),
                    by,
                    ..
                },
                Some(a),
            ) => {
                let how = match via {
                    Via::Comment => "approval by comment",
                    _ => "native approval",
                };
                set.add(&a.label, format!("{how} by {}", by.mention()));
                if let Some(p) = &a.pending_label {
                    set.remove(p, format!("{} is given", code(&a.label)));
                }
            }
            _ => {}
        }
    }
    change_issue::give(&link, &mut outcomes);
    // The issue's classification stands for the merge request's (seen, not applied).
    if let Some(l) = &link.classification {
        set.labels.push(l.clone());
    }
    let met: Vec<String> = outcomes
        .iter()
        .filter(|o| o.is_met())
        .map(|o| o.name.clone())
        .collect();
    let (mut decision, required) = apply_rules(rules, snap, set, outcomes, &met, link.items);
    decision.notes.extend(same_diff::notes(rules, snap));
    (decision, required)
}

fn apply_rules(
    rules: &Rules,
    snap: &Snapshot,
    mut set: LabelSet,
    outcomes: Vec<ApprovalOutcome>,
    met: &[String],
    link_items: Vec<ChecklistItem>,
) -> (Decision, Vec<String>) {
    let mut matched = vec![];
    let mut required: Vec<String> = vec![];
    let mut checklist = vec![];
    let mut notes = vec![];
    let mut sections: Vec<String> = vec![];
    for rule in &rules.rules {
        let facts = conditions::Facts {
            change: &snap.change,
            labels: &set.labels,
            approved: met,
            files: snap.changed_files.as_ref(),
        };
        if !conditions::holds(&rule.when, &facts) {
            continue;
        }
        matched.push(rule.name.clone());
        for l in &rule.add_labels {
            set.add(l, format!("rule {}", code(&rule.name)));
        }
        for l in &rule.remove_labels {
            set.remove(l, format!("rule {}", code(&rule.name)));
        }
        for r in &rule.require {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
        for name in &rule.require_sections {
            if !sections
                .iter()
                .any(|s: &String| s.eq_ignore_ascii_case(name))
            {
                sections.push(name.clone());
            }
        }
        match (&rule.message, rule.block) {
            (msg, true) => checklist.push(ChecklistItem {
                title: rule.title.clone(),
                met: false,
                detail: msg
                    .clone()
                    .unwrap_or_else(|| "required before merge".to_string()),
                next_step: None,
            }),
            (Some(msg), false) => notes.push(msg.clone()),
            (None, false) => {}
        }
    }
    // Blocked periods are judged on the labels as the rules leave them; while one covers the
    // change its exception approvals are required like any other.
    let labels_now = set.labels.clone();
    let facts = conditions::Facts {
        change: &snap.change,
        labels: &labels_now,
        approved: met,
        files: snap.changed_files.as_ref(),
    };
    let blocked = timed::blocked(rules, snap, &facts, &outcomes);
    // An exception given for another freeze or head is taken off, so that it can be given
    // again (unless a rule requires the same approval for itself).
    let open = snap.change.state == crate::model::ChangeState::Open;
    for (b, _) in blocked.iter().filter(|_| open) {
        for (name, why) in b.stale.iter().filter(|(n, _)| !required.contains(n)) {
            if let Some(a) = rules.approval(name) {
                set.remove(&a.label, format!("blocked period `{}`: {why}", b.period));
                if let Some(p) = &a.pending_label {
                    set.add(
                        p,
                        format!("blocked period `{}`: exception needed", b.period),
                    );
                }
            }
        }
    }
    for (b, _) in &blocked {
        for name in &b.exception {
            if !required.contains(name) {
                required.push(name.clone());
            }
            let missing = outcomes.iter().any(|o| &o.name == name && !o.is_met());
            if let (true, Some(p)) = (
                missing && !b.lifted,
                rules.approval(name).and_then(|a| a.pending_label.as_ref()),
            ) && !set
                .labels
                .iter()
                .any(|l| l.scope().is_some() && l.scope() == p.scope())
            {
                set.add(
                    p,
                    format!("blocked period {}: exception needed", code(&b.period)),
                );
            }
        }
    }
    // Exception approvals asked for during a period that no longer covers the change (and no
    // rule requires) are not pending any more.
    for p in &rules.blocked_periods {
        for name in p.exception.iter().filter(|n| !required.contains(n)) {
            if let Some(pending) = rules.approval(name).and_then(|a| a.pending_label.as_ref()) {
                set.remove(
                    pending,
                    "no blocked period covers the change now".to_string(),
                );
            }
        }
    }
    // What a merged change owes is fixed at merge: relabelling it, unlinking its change
    // issue or editing its history afterwards does not cancel an emergency's debts.
    let owing = debt::owing(rules, snap, &matched, met);
    notes.extend(owing.notes);
    let owed = timed::owed(
        rules,
        snap,
        &owing.rules,
        owing.debt.as_ref(),
        &outcomes,
        &mut set,
    );
    let owed_roles = owed.iter().flat_map(|o| &o.items).map(|i| &i.name);
    let mut requires = required.clone();
    for name in owed_roles {
        if rules.approval(name).is_some() && !requires.contains(name) {
            requires.push(name.clone());
        }
    }
    for name in &required {
        if let (Some(o), Some(a)) = (
            outcomes.iter().find(|o| &o.name == name),
            rules.approval(name),
        ) {
            checklist.push(checklist::checklist_item(rules, snap, a, o));
        }
    }
    if !sections.is_empty() {
        checklist.push(sections_item(&snap.change.description, &sections));
    }
    for item in link_items.into_iter().rev() {
        checklist.insert(0, item);
    }
    for (_, item) in blocked.iter().rev() {
        checklist.insert(0, item.clone());
    }
    if let Some(item) = uncovered(rules, &set.labels, &matched) {
        checklist.insert(0, item);
    }
    if !snap.incomplete.is_empty() {
        checklist.insert(
            0,
            ChecklistItem {
                title: "History too long to verify".into(),
                met: false,
                detail: format!(
                    "changegate could not read all of {}, so it cannot tell who gave which approval; it blocks rather than guess",
                    snap.incomplete.join(" and ")
                ),
                next_step: None,
            },
        );
    }
    let failing: Vec<&ChecklistItem> = checklist.iter().filter(|i| !i.met).collect();
    let verdict = if failing.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let summary = summary(&failing);
    let decision = Decision {
        verdict,
        summary,
        matched_rules: matched,
        checklist,
        notes,
        approvals: outcomes,
        add_labels: set.add,
        remove_labels: set.remove,
        rules_hash: rules.hash.clone(),
        blocked: blocked.into_iter().map(|(b, _)| b).collect(),
        owed,
        debt: owing.decided,
        report_only: None,
    };
    (decision, requires)
}

/// The description's required sections as one checklist line.
fn sections_item(description: &str, required: &[String]) -> ChecklistItem {
    let c = sections::check(description, required);
    let mut problems = vec![];
    if !c.missing.is_empty() {
        problems.push(format!("missing: {}", c.missing.join(", ")));
    }
    if !c.empty.is_empty() {
        problems.push(format!("empty: {}", c.empty.join(", ")));
    }
    let met = c.ok();
    ChecklistItem {
        title: "Description sections".into(),
        met,
        detail: if met {
            format!("the description states {}", required.join(", "))
        } else {
            problems.join("; ")
        },
        next_step: (!met).then(|| {
            let todo: Vec<String> = c
                .missing
                .iter()
                .chain(&c.empty)
                .map(|s| format!("`## {s}`"))
                .collect();
            format!(
                "The author adds {} to the description, each with text.",
                todo.join(", ")
            )
        }),
    }
}

/// GitHub caps status descriptions at 140 characters.
pub const MAX_SUMMARY_CHARS: usize = 140;

fn summary(failing: &[&ChecklistItem]) -> String {
    let text = if failing.is_empty() {
        "All change-management requirements are met".to_string()
    } else {
        let titles: Vec<&str> = failing.iter().map(|i| i.title.as_str()).collect();
        format!("Missing: {}", titles.join("; "))
    };
    clip(&text)
}

/// A status description within GitHub's limit.
pub fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    format!("{cut}…")
}

/// Fail closed when no rule speaks for the change: with a classification scope (the first
/// scope the rules declare), some matched rule must name that scope in its conditions; with
/// no scopes at all, some rule must match. Otherwise nobody decided what the change needs.
fn uncovered(rules: &Rules, labels: &[Label], matched: &[String]) -> Option<ChecklistItem> {
    let Some(scope) = rules.classification() else {
        return matched.is_empty().then(|| ChecklistItem {
            title: "No rule applies".into(),
            met: false,
            detail: "no rule of the change-management policy applies to this change, so changegate cannot tell what it needs; a maintainer must add one to the rules".into(),
            next_step: None,
        });
    };
    let covering = rules
        .rules
        .iter()
        .any(|r| matched.contains(&r.name) && conditions::names_scope(&r.when, scope));
    if covering {
        return None;
    }
    let current: Vec<String> = labels
        .iter()
        .filter(|l| l.scope() == Some(scope))
        .map(code)
        .collect();
    let what = if current.is_empty() {
        format!("no {} label", code(format!("{scope}::")))
    } else {
        current.join(", ")
    };
    Some(ChecklistItem {
        title: "No rule covers this classification".into(),
        met: false,
        detail: format!(
            "the change has {what} and no rule of the policy covers that classification, so changegate cannot tell which approvals it needs; a maintainer must add a rule for it"
        ),
        next_step: None,
    })
}
