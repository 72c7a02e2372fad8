//! Conditions in words, for `changegate check`'s list of blocked periods.

use super::Condition;

impl Condition {
    /// Which changes the condition selects, in a few words: `every change` when it holds for
    /// all, otherwise each field it tests.
    pub fn describe(&self) -> String {
        let list = |l: &[String]| {
            l.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let labels =
            |l: &[crate::model::Label]| list(&l.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let mut parts = vec![];
        if let Some(kind) = self.kind {
            parts.push(format!("{} only", kind.as_str().replace('_', " ")));
        }
        if !self.labels.is_empty() {
            parts.push(format!("labelled {}", labels(&self.labels)));
        }
        if !self.any_labels.is_empty() {
            parts.push(format!("labelled any of {}", labels(&self.any_labels)));
        }
        if !self.not_labels.is_empty() {
            parts.push(format!("not labelled {}", labels(&self.not_labels)));
        }
        if !self.has_scope.is_empty() {
            parts.push(format!("with a label of {}", list(&self.has_scope)));
        }
        if !self.no_scope.is_empty() {
            parts.push(format!("with no label of {}", list(&self.no_scope)));
        }
        if !self.approved.is_empty() {
            parts.push(format!("approved {}", list(&self.approved)));
        }
        if !self.not_approved.is_empty() {
            parts.push(format!("not approved {}", list(&self.not_approved)));
        }
        if !self.target_branch.is_empty() {
            parts.push(format!("targeting {}", list(&self.target_branch)));
        }
        if !self.author.is_empty() {
            parts.push(format!("by {}", list(&self.author)));
        }
        if !self.not_author.is_empty() {
            parts.push(format!("not by {}", list(&self.not_author)));
        }
        if let Some(draft) = self.draft {
            parts.push(if draft { "drafts" } else { "not drafts" }.into());
        }
        if let Some(paths) = &self.changed_paths {
            parts.push(format!("changing {}", list(&paths.patterns)));
        }
        if parts.is_empty() {
            "every change".into()
        } else {
            format!("changes {}", parts.join(", "))
        }
    }
}
