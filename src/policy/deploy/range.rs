//! What a deployment brings: the commits between the environment's baseline and the deployed
//! SHA, each from a change that passed its policy when it merged into the deployed branch.

use super::{DeployFacts, DeployedChange, Findings, MergeVerdict, Relation, short};
use crate::markdown::code;
use crate::rules::deploy::DeploymentRule;

/// Checks the range and returns the changes it brings.
pub(super) fn check<'a>(
    entry: &DeploymentRule,
    facts: &'a DeployFacts,
    f: &mut Findings,
) -> Vec<&'a DeployedChange> {
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
            "the forge did not list every commit between the baseline {} and {}",
            short(&baseline.sha),
            short(&facts.sha)
        ));
    }
    match range.relation {
        Relation::Identical | Relation::Behind => {
            redeploy(entry, facts, f);
            return vec![];
        }
        Relation::Diverged => f.note(format!(
            "{} does not descend from the baseline {}: the baseline's own commits are taken back",
            short(&facts.sha),
            short(&baseline.sha)
        )),
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
    let mut numbers: Vec<u64> = vec![];
    for c in &range.commits {
        if c.changes.is_empty() {
            match &c.accepted {
                Some(a) => f.holds(format!(
                    "commit {} reached the branch without a change and was accepted by {} ({})",
                    short(&c.sha),
                    code(&a.by),
                    a.reason
                )),
                None => f.deny(format!(
                    "commit {} reached the deployed branch without a change (a direct push); after review, accept it with `changegate deployments accept --forge {} --repo {} --sha {} --by NAME --reason TEXT`",
                    short(&c.sha),
                    facts.forge.as_str(),
                    facts.repo,
                    c.sha
                )),
            }
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
