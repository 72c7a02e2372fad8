//! What the forges tell about deployments, environments and commit ranges, in the words the
//! deployment gate reads them. The forge's word only: deployments and statuses can be
//! created by anyone with push access (GitHub) or Developer access (GitLab API).

use crate::model::{Change, DeploymentState, User};
use chrono::{DateTime, Utc};

/// Commits in head not in base (`base...head`), oldest first, and how head relates to base.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRange {
    pub relation: RangeRelation,
    pub commits: Vec<RangeCommit>,
    /// False when the forge would not list every commit of the range.
    pub complete: bool,
}

/// How head relates to base, as the forge's compare says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRelation {
    /// Head is base plus commits.
    Ahead,
    /// Head is an ancestor of base (a rollback).
    Behind,
    Identical,
    /// Both have commits the other has not.
    Diverged,
}

impl RangeRelation {
    /// GitHub's `status` word (`ahead`, `behind`, `identical`, `diverged`).
    pub fn from_github(word: &str) -> Option<Self> {
        match word {
            "ahead" => Some(RangeRelation::Ahead),
            "behind" => Some(RangeRelation::Behind),
            "identical" => Some(RangeRelation::Identical),
            "diverged" => Some(RangeRelation::Diverged),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RangeRelation::Ahead => "ahead",
            RangeRelation::Behind => "behind",
            RangeRelation::Identical => "identical",
            RangeRelation::Diverged => "diverged",
        }
    }
}

/// A merge/pull request that holds a commit, with the commits it landed on its target branch
/// as: the merge commit, the squash commit (GitLab), or for a rebase or fast-forward merge
/// the last commit put on the branch (`merge_commit_sha`). Fixed when it merged.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitChange {
    pub change: Change,
    pub landed_as: Vec<String>,
}

/// A branch name as put in a path or query: what git allows in a ref name, never `..`.
pub(crate) fn is_branch_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.contains("..")
        && !s.starts_with(['/', '-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+'))
}

/// One commit of a range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeCommit {
    pub sha: String,
    pub parents: Vec<String>,
    /// The forge account the commit's author is linked to, when it links one.
    pub author: Option<User>,
    pub committer: Option<User>,
}

/// An environment's protection settings, where the forge shows them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvironmentSettings {
    pub name: String,
    /// GitHub: the App slugs of the environment's custom deployment protection rules.
    pub custom_rule_apps: Vec<String>,
    /// GitHub `can_admins_bypass`; `None` where the forge does not say.
    pub admins_can_bypass: Option<bool>,
    /// GitLab protected environment `required_approval_count` (or the sum of its approval
    /// rules'); GitHub: none.
    pub required_approvals: Option<u32>,
}

/// One deployment as the forge lists it, with its latest status.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgeDeployment {
    pub id: u64,
    pub sha: String,
    pub git_ref: Option<String>,
    pub environment: String,
    pub creator: Option<User>,
    pub created_at: Option<DateTime<Utc>>,
    /// The latest status (GitHub: the newest of `statuses`; GitLab: `status`).
    pub state: Option<DeploymentState>,
    pub state_at: Option<DateTime<Utc>>,
    /// Who wrote the latest status (GitHub: its creator; GitLab: the deployment's user).
    pub state_creator: Option<User>,
    /// GitLab: the deployment has a pipeline job (`deployable`); GitHub: always true.
    pub deployable: bool,
}

/// Which question about a deployment an answer goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentTarget {
    /// A GitHub Actions run waiting on the App's custom protection rule for `environment`.
    GithubRun { run_id: u64, environment: String },
    /// A GitLab deployment blocked for approval.
    GitlabDeployment { deployment_id: u64 },
}

/// The answer to a deployment's question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentAnswer {
    Approve,
    Reject,
    /// GitHub: a comment without a state (the run keeps waiting); GitLab: no call.
    Report,
}

/// The commits of a range ordered so that every commit comes after its parents in the range
/// (oldest first), keeping the forge's order where it already is: neither forge's order is
/// relied on.
pub(crate) fn oldest_first(mut commits: Vec<RangeCommit>) -> Vec<RangeCommit> {
    let mut pending: std::collections::HashMap<String, usize> = Default::default();
    for c in &commits {
        *pending.entry(c.sha.clone()).or_default() += 1;
    }
    let mut out: Vec<RangeCommit> = Vec::with_capacity(commits.len());
    while !commits.is_empty() {
        let ready = commits
            .iter()
            .position(|c| c.parents.iter().all(|p| !pending.contains_key(p)));
        // A cycle cannot happen in git; were the answer to have one, its order is kept.
        let next = commits.remove(ready.unwrap_or(0));
        if let Some(n) = pending.get_mut(&next.sha) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&next.sha);
            }
        }
        out.push(next);
    }
    out
}

/// The parents a range's commits name outside the range, other than the merge base: each must
/// be an ancestor of the merge base, else the list has a gap (the caller asks). `None` when
/// head itself is missing from the list (and is not the merge base): the list was cut.
pub(crate) fn parents_outside(
    commits: &[RangeCommit],
    head: &str,
    merge_base: &str,
) -> Option<Vec<String>> {
    // `asked` may be a short SHA; the forge's ids are full.
    let same = |full: &str, asked: &str| {
        full.to_ascii_lowercase()
            .starts_with(&asked.to_ascii_lowercase())
    };
    if !same(merge_base, head) && !commits.iter().any(|c| same(&c.sha, head)) {
        return None;
    }
    let listed: std::collections::HashSet<String> =
        commits.iter().map(|c| c.sha.to_ascii_lowercase()).collect();
    let mut out: Vec<String> = vec![];
    // Parents are full ids, compared exactly: a short or empty one is a gap for the caller.
    for p in commits.iter().flat_map(|c| &c.parents) {
        let known = listed.contains(&p.to_ascii_lowercase()) || merge_base.eq_ignore_ascii_case(p);
        if !known && !out.contains(p) {
            out.push(p.clone());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_with_a_gap_names_the_parent_beyond_it() {
        // base ← a ← b ← head, and a side branch s (from old, before base) merged at head.
        let whole = vec![
            commit("a", &["base"]),
            commit("b", &["a"]),
            commit("s", &["old"]),
            commit("head", &["b", "s"]),
        ];
        assert_eq!(
            parents_outside(&whole, "head", "base"),
            Some(vec!["old".to_string()])
        );
        // `a` left out: `b` names it, and it is no ancestor of base (the caller finds out).
        let cut: Vec<RangeCommit> = whole.iter().filter(|c| c.sha != "a").cloned().collect();
        assert_eq!(
            parents_outside(&cut, "head", "base"),
            Some(vec!["a".to_string(), "old".to_string()])
        );
        // Head itself left out: cut.
        assert_eq!(parents_outside(&whole[..3], "head", "base"), None);
        // Nothing to list when head is the merge base (behind or identical).
        assert_eq!(parents_outside(&[], "base", "base"), Some(vec![]));
    }

    #[test]
    fn parents_are_compared_whole_with_the_merge_base() {
        let mb = "b".repeat(40);
        // An empty or short parent id is no merge base (a prefix of it would be).
        let odd = vec![commit("head", &["", &mb[..7]])];
        assert_eq!(
            parents_outside(&odd, "head", &mb),
            Some(vec![String::new(), mb[..7].to_string()])
        );
        let fine = vec![commit("head", &[&mb.to_ascii_uppercase()])];
        assert_eq!(parents_outside(&fine, "head", &mb), Some(vec![]));
    }

    fn commit(sha: &str, parents: &[&str]) -> RangeCommit {
        RangeCommit {
            sha: sha.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            author: None,
            committer: None,
        }
    }

    fn shas(c: &[RangeCommit]) -> Vec<&str> {
        c.iter().map(|c| c.sha.as_str()).collect()
    }

    #[test]
    fn parents_come_first_whatever_order_the_forge_lists() {
        let newest_first = vec![
            commit("m", &["c", "b"]),
            commit("c", &["a"]),
            commit("b", &["a"]),
            commit("a", &["base"]),
        ];
        assert_eq!(shas(&oldest_first(newest_first)), ["a", "c", "b", "m"]);
        let oldest = vec![commit("a", &["base"]), commit("b", &["a"])];
        assert_eq!(shas(&oldest_first(oldest)), ["a", "b"]);
    }
}
