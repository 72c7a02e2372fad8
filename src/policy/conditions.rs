//! Whether a condition holds for a change, given its effective labels and valid approvals.

use crate::model::{Change, Label};
use crate::rules::Condition;

/// What a condition is evaluated against.
pub struct Facts<'a> {
    pub change: &'a Change,
    pub labels: &'a [Label],
    /// Names of approval roles currently met.
    pub approved: &'a [String],
}

impl Facts<'_> {
    fn has(&self, l: &Label) -> bool {
        self.labels.contains(l)
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.labels.iter().any(|l| l.scope() == Some(scope))
    }

    fn is_approved(&self, name: &str) -> bool {
        self.approved.iter().any(|a| a == name)
    }

    fn author_is(&self, names: &[String]) -> bool {
        let author = self.change.author.username.as_deref().unwrap_or("");
        names.iter().any(|n| n.eq_ignore_ascii_case(author))
    }
}

pub fn holds(c: &Condition, f: &Facts) -> bool {
    c.kind.is_none_or(|k| k == f.change.kind)
        && c.labels.iter().all(|l| f.has(l))
        && (c.any_labels.is_empty() || c.any_labels.iter().any(|l| f.has(l)))
        && !c.not_labels.iter().any(|l| f.has(l))
        && c.has_scope.iter().all(|s| f.has_scope(s))
        && !c.no_scope.iter().any(|s| f.has_scope(s))
        && c.approved.iter().all(|a| f.is_approved(a))
        && !c.not_approved.iter().any(|a| f.is_approved(a))
        && (c.target_branch.is_empty() || target_matches(&c.target_branch, f.change))
        && (c.author.is_empty() || f.author_is(&c.author))
        && !f.author_is(&c.not_author)
        && c.draft.is_none_or(|d| d == f.change.draft)
}

/// Whether a condition looks at `scope` (a label of it, or its presence or absence): such a
/// rule decides something about the change's classification.
pub fn names_scope(c: &Condition, scope: &str) -> bool {
    let of_scope = |l: &Label| l.scope() == Some(scope);
    c.labels.iter().any(of_scope)
        || c.any_labels.iter().any(of_scope)
        || c.has_scope.iter().any(|s| s == scope)
        || c.no_scope.iter().any(|s| s == scope)
}

/// The conditions that do not hold, in words (for `changegate explain`).
pub fn failing(c: &Condition, f: &Facts) -> Vec<String> {
    let mut out = vec![];
    if let Some(k) = c.kind.filter(|k| *k != f.change.kind) {
        out.push(format!("kind is not {}", k.as_str()));
    }
    out.extend(
        c.labels
            .iter()
            .filter(|l| !f.has(l))
            .map(|l| format!("label `{l}` is missing")),
    );
    if !c.any_labels.is_empty() && !c.any_labels.iter().any(|l| f.has(l)) {
        out.push("none of any_labels is present".into());
    }
    out.extend(
        c.not_labels
            .iter()
            .filter(|l| f.has(l))
            .map(|l| format!("label `{l}` is present")),
    );
    out.extend(
        c.has_scope
            .iter()
            .filter(|s| !f.has_scope(s))
            .map(|s| format!("no `{s}::` label")),
    );
    out.extend(
        c.no_scope
            .iter()
            .filter(|s| f.has_scope(s))
            .map(|s| format!("a `{s}::` label is present")),
    );
    out.extend(
        c.approved
            .iter()
            .filter(|a| !f.is_approved(a))
            .map(|a| format!("approval `{a}` is not given")),
    );
    out.extend(
        c.not_approved
            .iter()
            .filter(|a| f.is_approved(a))
            .map(|a| format!("approval `{a}` is given")),
    );
    if !c.target_branch.is_empty() && !target_matches(&c.target_branch, f.change) {
        out.push("the target branch matches no pattern".into());
    }
    if !c.author.is_empty() && !f.author_is(&c.author) {
        out.push("the author is not listed".into());
    }
    if f.author_is(&c.not_author) {
        out.push("the author is excluded".into());
    }
    if let Some(d) = c.draft.filter(|d| *d != f.change.draft) {
        out.push(if d {
            "not a draft".into()
        } else {
            "a draft".into()
        });
    }
    out
}

fn target_matches(patterns: &[String], change: &Change) -> bool {
    let Some(target) = change.target_branch.as_deref() else {
        return false;
    };
    patterns.iter().any(|p| glob(p, target))
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("main", "main"));
        assert!(!glob("main", "mainline"));
        assert!(glob("release/*", "release/1.2"));
        assert!(glob("*", ""));
        assert!(glob("*-hotfix-*", "a-hotfix-b"));
        assert!(!glob("a*b*c", "acb"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("ab*ba", "aba"));
    }
}
