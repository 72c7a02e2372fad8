//! What a deployment brings: the commits between the environment's baseline and the deployed
//! SHA, each from a change that passed its policy when it merged into the deployed branch.

use super::{DeployFacts, DeployedChange, Findings, MergeVerdict, RangeCommit, Relation, short};
use crate::markdown::code;
use crate::rules::deploy::DeploymentRule;
use std::collections::{HashMap, HashSet};

/// Checks the range and returns the changes it brings.
pub(super) fn check<'a>(
    entry: &DeploymentRule,
    facts: &'a DeployFacts,
    f: &mut Findings,
) -> Vec<&'a DeployedChange> {
    // Without the deployed branch nothing more can be told of the range.
    if !branch(facts, f) {
        return vec![];
    }
    let Some(baseline) = &facts.baseline else {
        f.deny(format!(
            "this is the first deployment to {} changegate can place: it has no baseline; an operator records one with `changegate deployments baseline --forge {} --repo {} --environment {} --sha SHA --by NAME`",
            code(&facts.environment),
            facts.forge.as_str(),
            facts.repo,
            facts.environment
        ));
        return vec![];
    };
    let Some(range) = &facts.range else {
        f.deny(format!(
            "the commits between the baseline {} and {} cannot be read",
            short(&baseline.sha),
            short(&facts.sha)
        ));
        return vec![];
    };
    if !range.complete {
        f.deny(format!(
            "the forge did not list every commit between the baseline {} and {}, or the list \
             could not be checked whole (a cut list, commits without parents, or more side-branch \
             parents than are verified)",
            short(&baseline.sha),
            short(&facts.sha)
        ));
    }
    match range.relation {
        Relation::Identical | Relation::Behind => {
            redeploy(entry, facts, f);
            return vec![];
        }
        // Deploying it would take back the baseline's own commits: only a rollback to a SHA
        // changegate allowed there before may do that.
        Relation::Diverged if !facts.allowed_before => {
            f.deny(format!(
                "{} does not descend from the baseline {} (its branch was cut before the baseline): deploying it would take back the baseline's own commits; deploy a commit of the branch that contains the baseline",
                short(&facts.sha),
                short(&baseline.sha)
            ));
            return vec![];
        }
        Relation::Diverged => {
            redeploy(entry, facts, f);
            return vec![];
        }
        Relation::Ahead => {}
    }
    if range.commits.is_empty() {
        f.deny(format!(
            "{} is ahead of the baseline {} but the forge listed no commit between them",
            short(&facts.sha),
            short(&baseline.sha)
        ));
        return vec![];
    }
    let line = first_parent_line(facts, &range.commits);
    let mut numbers: Vec<u64> = vec![];
    for c in &range.commits {
        if let Some(a) = &c.accepted {
            f.holds(format!(
                "commit {} reached the branch without a change and was accepted by {} ({})",
                short(&c.sha),
                code(&a.by),
                a.reason
            ));
        } else if c.changes.is_empty() {
            f.deny(format!(
                "commit {} reached the deployed branch without a change (a direct push); after review, accept it with `changegate deployments accept --forge {} --repo {} --sha {} --by NAME --reason TEXT`",
                short(&c.sha),
                facts.forge.as_str(),
                facts.repo,
                c.sha
            ));
        } else if !c.changes.iter().any(|n| landed_on(facts, *n, &line)) {
            f.deny(format!(
                "commit {} belongs to {} but is not part of what {} merged as on the deployed line: a change's own intermediate commit deploys code no one approved as merged",
                short(&c.sha),
                numbered(&c.changes),
                if c.changes.len() == 1 { "it" } else { "they" }
            ));
        }
        for n in &c.changes {
            if !numbers.contains(n) {
                numbers.push(*n);
            }
        }
    }
    let mut changes = vec![];
    for n in numbers {
        match facts.changes.iter().find(|c| c.number == n) {
            Some(c) => changes.push(c),
            None => f.deny(format!(
                "change #{n} cannot be verified: nothing is known of it"
            )),
        }
    }
    for c in &changes {
        verdict(facts, c, f);
    }
    if !changes.is_empty() && f.deny.is_empty() {
        f.holds(format!(
            "{} change(s) since the baseline {} ({}), each passed when it merged",
            changes.len(),
            short(&baseline.sha),
            baseline.how
        ));
    }
    changes
}

/// A redeploy or rollback: only to a SHA changegate allowed before, and never when approvals
/// are required (there is no change to give them on).
fn redeploy(entry: &DeploymentRule, facts: &DeployFacts, f: &mut Findings) {
    if facts.allowed_before {
        f.holds(format!(
            "a redeploy or rollback to {}, which changegate allowed to {} before",
            short(&facts.sha),
            code(&facts.environment)
        ));
    } else {
        f.deny(format!(
            "a redeploy or rollback to {}, which changegate never allowed to {}",
            short(&facts.sha),
            code(&facts.environment)
        ));
    }
    if !entry.require.is_empty() {
        f.deny(format!(
            "it brings no change, so nothing can carry the approvals every deployment needs ({})",
            entry
                .require
                .iter()
                .map(code)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

fn verdict(facts: &DeployFacts, c: &DeployedChange, f: &mut Findings) {
    let branch = |b: &str| b.trim_start_matches("refs/heads/").to_string();
    if let (Some(deployed), Some(target)) = (&facts.git_ref, &c.target_branch)
        && branch(deployed) != branch(target)
    {
        f.deny(format!(
            "#{} merged into {}, not the deployed branch {}",
            c.number,
            code(target),
            code(branch(deployed))
        ));
    }
    match &c.verdict {
        MergeVerdict::Passed { .. } => {}
        MergeVerdict::Failed { why } => {
            f.deny(format!("#{} did not pass when it merged: {why}", c.number))
        }
        MergeVerdict::Unknown { why } => f.deny(format!("#{} cannot be verified: {why}", c.number)),
    }
}

/// The deployed SHA must be on the deployed branch: a commit that never landed there (a
/// squash-merged pull request's own commit, another branch's) was never merged as deployed.
/// False when the branch is not known at all.
fn branch(facts: &DeployFacts, f: &mut Findings) -> bool {
    match (&facts.git_ref, facts.on_branch) {
        (None, _) => {
            f.deny(format!(
                "the deployed branch is not known (give `ref`): whether {} is on it cannot be told",
                short(&facts.sha)
            ));
            return false;
        }
        (Some(b), Some(false)) => f.deny(format!(
            "{} is not on the deployed branch {}: only what was merged there deploys",
            short(&facts.sha),
            code(b.trim_start_matches("refs/heads/"))
        )),
        // The worker said why when the forge could not tell.
        (Some(b), None) if facts.incomplete.is_empty() => f.deny(format!(
            "whether {} is on the deployed branch {} cannot be told",
            short(&facts.sha),
            code(b.trim_start_matches("refs/heads/"))
        )),
        _ => {}
    }
    true
}

/// The deployed SHA's first-parent line within the range: the branch's own history (merge
/// commits, squash commits, direct pushes), not the side histories merges brought in.
fn first_parent_line<'a>(facts: &'a DeployFacts, commits: &'a [RangeCommit]) -> HashSet<&'a str> {
    let by_sha: HashMap<&str, &RangeCommit> = commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    let mut line = HashSet::new();
    let mut at = facts.sha.as_str();
    while let Some(c) = by_sha.get(at) {
        if !line.insert(at) {
            break;
        }
        match c.parents.first() {
            Some(p) => at = p.as_str(),
            None => break,
        }
    }
    line
}

/// Whether change `n` landed (as its merge, squash or last rebased commit, or its approved
/// head) on the deployed first-parent line.
fn landed_on(facts: &DeployFacts, n: u64, line: &HashSet<&str>) -> bool {
    facts
        .changes
        .iter()
        .find(|c| c.number == n)
        .is_some_and(|c| c.landed_as.iter().any(|l| line.contains(l.as_str())))
}

fn numbered(ns: &[u64]) -> String {
    ns.iter()
        .map(|n| format!("#{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
