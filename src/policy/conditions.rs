//! Whether a condition holds for a change, given its effective labels and valid approvals.

use crate::markdown::code;
use crate::model::{Change, ChangedFiles, Label};
use crate::rules::Condition;

/// What a condition is evaluated against.
pub struct Facts<'a> {
    pub change: &'a Change,
    pub labels: &'a [Label],
    /// Names of approval roles currently met.
    pub approved: &'a [String],
    /// The files the change touches, when read.
    pub files: Option<&'a ChangedFiles>,
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
    check(c, f, &mut |ok, _| {
        if ok {
            Flow::Continue(())
        } else {
            Flow::Break(())
        }
    })
    .is_continue()
}

/// The conditions that do not hold, in words (for `changegate explain`).
pub fn failing(c: &Condition, f: &Facts) -> Vec<String> {
    let mut out = vec![];
    let _ = check(c, f, &mut |ok, why| {
        if !ok {
            out.push(why());
        }
        Flow::Continue(())
    });
    out
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

type Flow = std::ops::ControlFlow<()>;

/// Each condition once: whether it holds, and (only when asked) why not.
fn check(
    c: &Condition,
    f: &Facts,
    visit: &mut dyn FnMut(bool, &dyn Fn() -> String) -> Flow,
) -> Flow {
    if let Some(k) = c.kind {
        visit(k == f.change.kind, &|| {
            format!("kind is not {}", k.as_str())
        })?;
    }
    for l in &c.labels {
        visit(f.has(l), &|| format!("label {} is missing", code(l)))?;
    }
    if !c.any_labels.is_empty() {
        visit(c.any_labels.iter().any(|l| f.has(l)), &|| {
            "none of any_labels is present".into()
        })?;
    }
    for l in &c.not_labels {
        visit(!f.has(l), &|| format!("label {} is present", code(l)))?;
    }
    for s in &c.has_scope {
        visit(f.has_scope(s), &|| {
            format!("no {} label", code(format!("{s}::")))
        })?;
    }
    for s in &c.no_scope {
        visit(!f.has_scope(s), &|| {
            format!("a {} label is present", code(format!("{s}::")))
        })?;
    }
    for a in &c.approved {
        visit(f.is_approved(a), &|| {
            format!("approval {} is not given", code(a))
        })?;
    }
    for a in &c.not_approved {
        visit(!f.is_approved(a), &|| {
            format!("approval {} is given", code(a))
        })?;
    }
    if !c.target_branch.is_empty() {
        visit(target_matches(&c.target_branch, f.change), &|| {
            "the target branch matches no pattern".into()
        })?;
    }
    if !c.author.is_empty() {
        visit(f.author_is(&c.author), &|| {
            "the author is not listed".into()
        })?;
    }
    visit(!f.author_is(&c.not_author), &|| {
        "the author is excluded".into()
    })?;
    if let Some(globs) = &c.changed_paths {
        // Files not read, or not all listed: the condition counts as met (fail closed).
        let touched = f
            .files
            .is_none_or(|files| !files.complete || files.paths.iter().any(|p| globs.matches(p)));
        visit(touched, &|| {
            format!("no changed file matches {}", globs.patterns.join(", "))
        })?;
    }
    if let Some(d) = c.draft {
        visit(d == f.change.draft, &|| {
            if d {
                "not a draft".into()
            } else {
                "a draft".into()
            }
        })?;
    }
    Flow::Continue(())
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
