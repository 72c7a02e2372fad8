//! `changegate labels`: every label the rules use, with a colour per scope and a description
//! from the rules, compared with the repository's labels (as Prow's label_sync does). Pure:
//! the command reads and writes the forge.

use crate::model::Label;
use crate::rules::Rules;
use sha2::{Digest, Sha256};

/// A label as the rules want it on the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedLabel {
    pub name: String,
    /// Six hex digits, no `#`.
    pub color: String,
    pub description: String,
}

/// A label as the forge has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingLabel {
    pub name: String,
    pub color: String,
    pub description: Option<String>,
    /// GitLab's label id (its update names the label by id).
    pub id: Option<u64>,
    /// A label of a parent group (GitLab): not this project's to change.
    pub inherited: bool,
}

/// What `--apply` does for one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelChange {
    Create(WantedLabel),
    Update {
        wanted: WantedLabel,
        existing: ExistingLabel,
    },
    /// Already as wanted, or a group's label left alone.
    Keep {
        wanted: WantedLabel,
        why: &'static str,
    },
}

/// GitHub's longest label description.
const MAX_DESCRIPTION: usize = 100;

/// Readable on white, distinct from one another.
const PALETTE: [&str; 10] = [
    "1d76db", "0e8a16", "b60205", "5319e7", "d93f0b", "006b75", "fbca04", "c2e0c6", "bfd4f2",
    "f9d0c4",
];

/// Labels outside any scope.
const UNSCOPED: &str = "ededed";

/// The colour of a scope: the same on every run and repository.
pub fn scope_color(scope: &str) -> &'static str {
    let digest = Sha256::digest(scope.to_lowercase().as_bytes());
    PALETTE[usize::from(digest[0]) % PALETTE.len()]
}

/// Every label the rules use, once, in the order they first appear.
pub fn wanted(rules: &Rules) -> Vec<WantedLabel> {
    let mut out: Vec<WantedLabel> = vec![];
    let mut add = |label: &Label, description: String| {
        if out
            .iter()
            .any(|w| w.name.eq_ignore_ascii_case(label.as_str()))
        {
            return;
        }
        let color = label.scope().map(scope_color).unwrap_or(UNSCOPED);
        out.push(WantedLabel {
            name: label.to_string(),
            color: color.to_string(),
            description: clip(&description),
        });
    };
    let classification = rules.classification();
    for scope in &rules.scopes {
        for value in &scope.values {
            let label = Label::new(&format!("{}::{value}", scope.name));
            let approval = rules.approvals.iter().find(|a| a.label == label);
            let pending = rules
                .approvals
                .iter()
                .find(|a| a.pending_label.as_ref() == Some(&label));
            let description = match (approval, pending) {
                (Some(a), _) => format!("{}: given (only its approvers may apply it)", a.title),
                (_, Some(a)) => format!("{}: needed", a.title),
                _ if classification == Some(scope.name.as_str()) => {
                    format!("Change classification: {value}")
                }
                _ => format!("{}: {value}", scope.name),
            };
            add(&label, description);
        }
    }
    for a in &rules.approvals {
        add(
            &a.label,
            format!("{}: given (only its approvers may apply it)", a.title),
        );
        if let Some(p) = &a.pending_label {
            add(p, format!("{}: needed", a.title));
        }
    }
    for r in &rules.rules {
        for l in r.add_labels.iter().chain(&r.remove_labels) {
            add(l, format!("Set by changegate (rule {})", r.name));
        }
        if let Some(m) = &r.after_merge {
            if let Some(l) = &m.retrospective_label {
                add(l, format!("Emergency retrospective done (rule {})", r.name));
            }
            if let Some(l) = &m.overdue_label {
                add(
                    l,
                    format!(
                        "Emergency owes approvals past its deadline (rule {})",
                        r.name
                    ),
                );
            }
        }
    }
    for (name, c) in rules
        .rules
        .iter()
        .map(|r| (r.name.as_str(), &r.when))
        .chain(
            rules
                .blocked_periods
                .iter()
                .map(|p| (p.name.as_str(), &p.when)),
        )
        .chain(rules.enforce.iter().map(|c| ("enforce", c)))
    {
        for l in c.labels.iter().chain(&c.any_labels).chain(&c.not_labels) {
            add(l, format!("Read by changegate ({name})"));
        }
    }
    out
}

/// What to do for each wanted label, given the repository's (names compare without case, as
/// both forges do).
pub fn plan(wanted: &[WantedLabel], existing: &[ExistingLabel]) -> Vec<LabelChange> {
    wanted
        .iter()
        .map(|w| {
            let found = existing
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(&w.name));
            match found {
                None => LabelChange::Create(w.clone()),
                Some(e) if e.inherited => LabelChange::Keep {
                    wanted: w.clone(),
                    why: "a parent group's label: changed there, not here",
                },
                Some(e)
                    if e.color
                        .trim_start_matches('#')
                        .eq_ignore_ascii_case(&w.color)
                        && e.description.as_deref().unwrap_or("") == w.description =>
                {
                    LabelChange::Keep {
                        wanted: w.clone(),
                        why: "as wanted",
                    }
                }
                Some(e) => LabelChange::Update {
                    wanted: w.clone(),
                    existing: e.clone(),
                },
            }
        })
        .collect()
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_DESCRIPTION).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Rules {
        crate::rules::parse("rules.yaml", include_str!("../rules.yaml")).unwrap()
    }

    #[test]
    fn every_label_of_the_shipped_rules_once_with_its_scopes_colour() {
        let w = wanted(&shipped());
        let names: Vec<&str> = w.iter().map(|l| l.name.as_str()).collect();
        for needed in [
            "CMT::Minor",
            "CMT::Emergency",
            "Peer Approval::Approved",
            "Peer Approval::Needs Approval",
            "Head of IT Exception::Approved",
            "Retrospective::Done",
            "Emergency::Overdue",
            "Financially Significant",
        ] {
            assert!(names.contains(&needed), "{needed} missing from {names:?}");
        }
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        sorted.dedup_by_key(|n| n.to_lowercase());
        assert_eq!(sorted.len(), names.len(), "no label twice");
        let color = |n: &str| w.iter().find(|l| l.name == n).unwrap().color.clone();
        assert_eq!(color("CMT::Minor"), color("CMT::Emergency"));
        assert_eq!(color("CMT::Minor"), scope_color("CMT"));
        assert_eq!(color("Financially Significant"), UNSCOPED);
        let peer = w
            .iter()
            .find(|l| l.name == "Peer Approval::Approved")
            .unwrap();
        assert_eq!(
            peer.description,
            "Peer review: given (only its approvers may apply it)"
        );
        assert!(w.iter().all(|l| l.description.chars().count() <= 100));
    }

    #[test]
    fn the_plan_creates_updates_and_keeps() {
        let w = vec![
            WantedLabel {
                name: "CMT::Minor".into(),
                color: "1d76db".into(),
                description: "Change classification: Minor".into(),
            },
            WantedLabel {
                name: "Peer Approval::Approved".into(),
                color: "0e8a16".into(),
                description: "Peer review".into(),
            },
            WantedLabel {
                name: "New".into(),
                color: "ededed".into(),
                description: "x".into(),
            },
            WantedLabel {
                name: "Group".into(),
                color: "ededed".into(),
                description: "y".into(),
            },
        ];
        let existing = vec![
            ExistingLabel {
                name: "cmt::minor".into(),
                color: "#1D76DB".into(),
                description: Some("Change classification: Minor".into()),
                id: Some(1),
                inherited: false,
            },
            ExistingLabel {
                name: "Peer Approval::Approved".into(),
                color: "ffffff".into(),
                description: None,
                id: Some(2),
                inherited: false,
            },
            ExistingLabel {
                name: "Group".into(),
                color: "000000".into(),
                description: None,
                id: Some(3),
                inherited: true,
            },
        ];
        let p = plan(&w, &existing);
        assert!(matches!(
            &p[0],
            LabelChange::Keep {
                why: "as wanted",
                ..
            }
        ));
        assert!(matches!(&p[1], LabelChange::Update { existing, .. } if existing.id == Some(2)));
        assert!(matches!(&p[2], LabelChange::Create(l) if l.name == "New"));
        assert!(matches!(&p[3], LabelChange::Keep { why, .. } if why.contains("group")));
    }
}
