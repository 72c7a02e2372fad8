//! Deployment gates as validated: which environments an entry governs and what it asks of
//! every deployment to them. The calendar of its windows is in [`super::windows`].

use super::windows::DeployWindow;
use crate::model::Forge;
use chrono::{DateTime, Duration, Utc};

/// The default `allow_for`: how long an allow stays valid.
pub const DEFAULT_ALLOW_FOR_HOURS: i64 = 1;

/// The labels that request and confirm an exception deployment.
pub const EXCEPTION_REQUESTED: &str = "Exception Deployment::Requested";
pub const EXCEPTION_CONFIRMED: &str = "Exception Deployment::Confirmed";

/// One `deployments:` entry.
#[derive(Debug, Clone)]
pub struct DeploymentRule {
    pub name: String,
    /// Environment name globs as written.
    pub environments: Vec<String>,
    /// Branch globs a deployment may come from; empty: the repository's default branch.
    pub branches: Vec<String>,
    pub windows: Vec<DeployWindow>,
    pub after: Option<AfterEnvironment>,
    /// Roles every deployment needs on each change it brings.
    pub require: Vec<String>,
    pub exception: Option<DeployException>,
    pub checklist: Option<ChecklistRule>,
    /// Logins or App slugs, lowercase.
    pub trusted_deployers: Vec<String>,
    pub allow_for: Duration,
}

/// Staging first.
#[derive(Debug, Clone)]
pub struct AfterEnvironment {
    pub environment: String,
    pub succeeded_for: Duration,
}

/// What lifts the windows.
#[derive(Debug, Clone)]
pub struct DeployException {
    pub require: Vec<String>,
    /// Whether the requester must confirm after the approvals (always, today: `requester`).
    pub confirm_by_requester: bool,
}

/// What a change issue's task list must show.
#[derive(Debug, Clone, PartialEq)]
pub enum ChecklistRule {
    /// At least one task, all checked.
    Complete,
    /// These tasks must exist and be checked.
    Items(Vec<String>),
}

impl DeploymentRule {
    /// Whether the entry governs `environment` on `forge` (case-insensitively on GitHub).
    pub fn governs(&self, forge: Forge, environment: &str) -> bool {
        self.environments
            .iter()
            .any(|g| environment_matches(forge, g, environment))
    }

    /// Whether a deployment from `branch` may go to the entry's environments: one of
    /// `branches`, or else the repository's `default_branch`. `None`: the default branch is
    /// not known, so it cannot be said (the caller denies).
    pub fn allows_branch(&self, branch: &str, default_branch: Option<&str>) -> Option<bool> {
        if self.branches.is_empty() {
            return default_branch.map(|d| d == branch);
        }
        Some(self.branches.iter().any(|g| star_match(g, branch)))
    }

    /// Whether `environment` is the entry's `after` environment.
    pub fn is_after(&self, forge: Forge, environment: &str) -> bool {
        self.after
            .as_ref()
            .is_some_and(|a| same_environment(forge, &a.environment, environment))
    }

    /// Whether the account is a trusted deployer. A person's login and a GitHub App's bot
    /// account (`slug[bot]`) are different accounts: an entry `app:slug` (or `slug[bot]`)
    /// trusts only the App, a plain entry only the account of exactly that login, so an App
    /// whose slug equals a trusted person's login is not trusted, nor the reverse.
    pub fn trusts(&self, login: &str) -> bool {
        let login = login.to_lowercase();
        self.trusted_deployers
            .iter()
            .any(|t| match t.strip_prefix("app:") {
                Some(slug) => login == format!("{slug}[bot]"),
                None => *t == login,
            })
    }

    /// Whether a window holds at `at` (no windows: always).
    pub fn in_window(&self, at: DateTime<Utc>) -> Option<&DeployWindow> {
        self.windows.iter().find(|w| w.holding(at).is_some())
    }
}

/// Whether two environment names are the same environment on `forge`.
pub fn same_environment(forge: Forge, a: &str, b: &str) -> bool {
    match forge {
        Forge::Github => a.to_lowercase() == b.to_lowercase(),
        Forge::Gitlab => a == b,
    }
}

/// Whether an environment name matches a glob (`*`: any run of characters).
pub fn environment_matches(forge: Forge, glob: &str, environment: &str) -> bool {
    match forge {
        Forge::Github => star_match(&glob.to_lowercase(), &environment.to_lowercase()),
        Forge::Gitlab => star_match(glob, environment),
    }
}

/// `*` matches any run of characters, everything else itself.
fn star_match(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return glob == text;
    };
    if parts.len() == 1 {
        return glob == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusting(list: &[&str]) -> DeploymentRule {
        DeploymentRule {
            name: "production".into(),
            environments: vec!["production".into()],
            branches: vec![],
            windows: vec![],
            after: None,
            require: vec![],
            exception: None,
            checklist: None,
            trusted_deployers: list.iter().map(|t| t.to_string()).collect(),
            allow_for: Duration::hours(1),
        }
    }

    #[test]
    fn trusted_deployers_tell_a_login_from_an_app() {
        let r = trusting(&["release-bot", "app:deployer"]);
        assert!(r.trusts("Release-Bot"));
        assert!(
            !r.trusts("release-bot[bot]"),
            "an App whose slug is a trusted login"
        );
        assert!(r.trusts("deployer[bot]"));
        assert!(
            !r.trusts("deployer"),
            "a person whose login is a trusted App's slug"
        );
        let r = trusting(&["deployer[bot]"]);
        assert!(r.trusts("deployer[bot]"));
        assert!(!r.trusts("deployer"));
    }

    #[test]
    fn environment_globs_match_as_each_forge_names_them() {
        assert!(environment_matches(Forge::Github, "prod-*", "PROD-eu"));
        assert!(environment_matches(
            Forge::Github,
            "Production",
            "production"
        ));
        assert!(!environment_matches(
            Forge::Gitlab,
            "production",
            "Production"
        ));
        assert!(environment_matches(Forge::Gitlab, "prod-*", "prod-eu"));
        assert!(environment_matches(Forge::Gitlab, "*", "anything"));
        assert!(environment_matches(Forge::Gitlab, "a*b*c", "aXbYc"));
        assert!(!environment_matches(Forge::Gitlab, "a*b*c", "aXbY"));
        assert!(!environment_matches(Forge::Gitlab, "prod-*", "staging"));
        assert!(!environment_matches(Forge::Gitlab, "ab*ba", "aba"));
        assert!(!environment_matches(
            Forge::Gitlab,
            "production",
            "production-eu"
        ));
    }
}
