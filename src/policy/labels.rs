//! The labels as the decision leaves them: values a scope does not declare removed, one value
//! per governed scope, and which labels' history decides the verdict.

use super::{LabelChange, Snapshot};
use crate::markdown::code;
use crate::model::{Label, LabelEvent};
use crate::rules::Rules;

/// Labels as they will be once the decision's changes are applied.
pub(super) struct LabelSet {
    pub labels: Vec<Label>,
    pub add: Vec<LabelChange>,
    pub remove: Vec<LabelChange>,
}

impl LabelSet {
    pub fn remove(&mut self, label: &Label, reason: String) {
        if self.labels.contains(label) {
            self.labels.retain(|l| l != label);
            self.add.retain(|c| &c.label != label);
            self.remove.push(LabelChange {
                label: label.clone(),
                reason,
            });
        }
    }

    pub fn add(&mut self, label: &Label, reason: String) {
        if !self.labels.contains(label) {
            self.labels.push(label.clone());
            // Removed earlier in this decision: it was there, so it simply stays.
            match self.remove.iter().position(|c| &c.label == label) {
                Some(i) => {
                    self.remove.remove(i);
                }
                None => self.add.push(LabelChange {
                    label: label.clone(),
                    reason,
                }),
            }
        }
    }
}

/// The labels whose latest application decides the verdict: approval labels (who applied
/// them), and the values of a governed scope carrying more than one (which came last).
pub fn deciding_labels(rules: &Rules, labels: &[Label]) -> Vec<Label> {
    labels
        .iter()
        .filter(|l| {
            rules.approvals.iter().any(|a| &a.label == *l)
                || rules.rules.iter().any(|r| {
                    r.after_merge
                        .as_ref()
                        .is_some_and(|a| a.retrospective_label.as_ref() == Some(*l))
                })
                || l.scope().is_some_and(|scope| {
                    rules.governs_scope(scope)
                        && labels.iter().filter(|o| o.scope() == Some(scope)).count() > 1
                })
        })
        .cloned()
        .collect()
}

/// A label of a governed scope whose value the rules do not declare (`CMT::Trivial`) would
/// otherwise classify a change that no rule covers: it is removed and counts for nothing.
pub(super) fn undeclared_values(rules: &Rules, set: &mut LabelSet) {
    let undeclared: Vec<(Label, String)> = set
        .labels
        .iter()
        .filter_map(|l| {
            let (scope, value) = l.scoped()?;
            let declared = rules.scopes.iter().find(|s| s.name == scope)?;
            (!declared.values.iter().any(|v| v == value)).then(|| {
                let values: Vec<String> = declared
                    .values
                    .iter()
                    .map(|v| code(format!("{scope}::{v}")))
                    .collect();
                (
                    l.clone(),
                    format!(
                        "{} is not a value the rules declare for {} (one of {})",
                        code(l),
                        code(format!("{scope}::")),
                        values.join(", ")
                    ),
                )
            })
        })
        .collect();
    for (label, reason) in undeclared {
        set.remove(&label, reason);
    }
}

/// On governed scopes, keep the value applied last and remove the others (GitHub has no
/// scoped labels; on GitLab this never fires because GitLab already enforces it).
pub(super) fn one_value_per_scope(rules: &Rules, snap: &Snapshot, set: &mut LabelSet) {
    for scope in &rules.scopes {
        let present: Vec<Label> = set
            .labels
            .iter()
            .filter(|l| l.scope() == Some(scope.name.as_str()))
            .cloned()
            .collect();
        if present.len() < 2 {
            continue;
        }
        // A pending label the bot applied never displaces a value someone else applied: the
        // bot decided on what it read, and an approval given meanwhile is newer news (it is
        // judged like any other). Otherwise the value applied last stands.
        let bots_pending = |l: &Label| {
            let by_bot = last_applied(snap, l).is_some_and(|e| {
                snap.bot
                    .as_ref()
                    .is_some_and(|b| b.same_as(&e.actor) == Some(true))
            });
            by_bot
                && rules
                    .approvals
                    .iter()
                    .any(|a| a.pending_label.as_ref() == Some(l))
        };
        let keep = present
            .iter()
            .enumerate()
            .max_by_key(|(i, l)| {
                (
                    !bots_pending(l),
                    last_applied(snap, l).map(|e| e.at),
                    last_applied(snap, l).is_some(),
                    *i,
                )
            })
            .map(|(_, l)| l.clone());
        if let Some(keep) = keep {
            for l in present.iter().filter(|l| **l != keep) {
                set.remove(
                    l,
                    format!(
                        "only one {} label may stand; {} stands (applied last; a pending label changegate applied gives way to a value a person applied)",
                        code(format!("{}::", scope.name)),
                        code(&keep)
                    ),
                );
            }
        }
    }
}

/// The latest event that applied `label`, if the history has one.
pub(crate) fn last_applied<'a>(snap: &'a Snapshot, label: &Label) -> Option<&'a LabelEvent> {
    snap.label_events
        .iter()
        .rev()
        .find(|e| e.added && &e.label == label)
}
