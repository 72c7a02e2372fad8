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
