//! The checks beside the range: approvals every deployment needs, change issues' task lists,
//! staging first, and what the environment's own settings leave open.

use super::{DeployFacts, DeployedChange, Findings, plus, short, when};
use crate::markdown::code;
use crate::model::Forge;
use crate::rules::deploy::{ChecklistRule, DeploymentRule, same_environment};

/// `branches`: the deployment's own `ref` must be a branch the entry deploys from. Its
/// changes passed the policy of the branch they merged into, which need not be the one the
/// approvals were scoped to: a branch anyone can push to would otherwise deploy.
pub(super) fn deployed_from(entry: &DeploymentRule, facts: &DeployFacts, f: &mut Findings) {
    // No ref at all is denied with the range.
    let Some(git_ref) = &facts.git_ref else {
        return;
    };
    let branch = git_ref.trim_start_matches("refs/heads/");
    match entry.allows_branch(branch, facts.default_branch.as_deref()) {
        Some(true) => {}
        Some(false) => {
            let from = if entry.branches.is_empty() {
                facts.default_branch.as_deref().map(code).unwrap_or_default()
            } else {
                entry
                    .branches
                    .iter()
                    .map(code)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            f.deny(format!(
                "{} deploys only from {from}; this deployment is from {}",
                entry.name,
                code(branch)
            ));
        }
        // The worker reads the default branch from the forge; a facts file may lack it.
        None => f.deny(format!(
            "{} deploys only from the repository's default branch, which is not known here; name the branches in `deployments[].branches`, or give the facts a `default_branch` (this deployment is from {})",
            entry.name,
            code(branch)
        )),
    }
}

/// `require`: each role given on each change the deployment brings. Missing ones wait: an
/// approval arriving decides again.
pub(super) fn required(entry: &DeploymentRule, changes: &[&DeployedChange], f: &mut Findings) {
    for c in changes {
        for role in &entry.require {
            if !c.grants.iter().any(|g| &g.role == role) {
                f.wait(
                    format!("#{} needs {} for deployments", c.number, code(role)),
                    None,
                );
            }
        }
    }
}

/// `checklist`: the change issues' task lists.
pub(super) fn checklist(entry: &DeploymentRule, changes: &[&DeployedChange], f: &mut Findings) {
    let Some(rule) = &entry.checklist else {
        return;
    };
    for c in changes {
        let Some(issue) = &c.issue else {
            f.deny(format!(
                "#{} links no change issue, so its checklist cannot be done",
                c.number
            ));
            continue;
        };
        if !issue.readable {
            f.deny(format!(
                "#{}'s change issue {} cannot be read",
                c.number,
                code(&issue.reference)
            ));
            continue;
        }
        let open: Vec<String> = match rule {
            ChecklistRule::Complete => {
                if issue.tasks.is_empty() {
                    f.deny(format!(
                        "change issue {} (#{}) has no task to check",
                        code(&issue.reference),
                        c.number
                    ));
                }
                issue
                    .tasks
                    .iter()
                    .filter(|t| !t.checked)
                    .map(|t| format!("{} is not checked", code(&t.text)))
                    .collect()
            }
            ChecklistRule::Items(items) => items
                .iter()
                .filter_map(|item| {
                    let found = issue
                        .tasks
                        .iter()
                        .filter(|t| t.text.trim().eq_ignore_ascii_case(item))
                        .collect::<Vec<_>>();
                    if found.is_empty() {
                        Some(format!("{} is missing", code(item)))
                    } else if found.iter().any(|t| !t.checked) {
                        Some(format!("{} is not checked", code(item)))
                    } else {
                        None
                    }
                })
                .collect(),
        };
        if !open.is_empty() {
            f.deny(format!(
                "change issue {} (#{}): {}",
                code(&issue.reference),
                c.number,
                open.join(", ")
            ));
        }
    }
}

/// `after`: the same SHA deployed successfully to that environment long enough ago.
pub(super) fn staging(entry: &DeploymentRule, facts: &DeployFacts, f: &mut Findings) {
    let Some(after) = &entry.after else {
        return;
    };
    // The latest success: a later deployment of the same SHA there restarts the time it
    // has run.
    let latest = facts
        .successes
        .iter()
        .filter(|s| same_environment(facts.forge, &s.environment, &after.environment))
        .filter(|s| s.sha == facts.sha)
        .max_by_key(|s| s.at);
    let Some(s) = latest else {
        let mut why = format!(
            "{} has not been deployed successfully to {} (staging first)",
            short(&facts.sha),
            code(&after.environment)
        );
        for u in facts
            .uncounted
            .iter()
            .filter(|u| same_environment(facts.forge, &u.environment, &after.environment))
        {
            why.push_str(&format!("; a success there does not count: {}", u.why));
        }
        f.deny(why);
        return;
    };
    let ready = plus(s.at, after.succeeded_for);
    if ready <= facts.now {
        f.holds(format!(
            "deployed successfully to {} at {} ({})",
            code(&after.environment),
            when(s.at),
            s.how
        ));
    } else {
        let ran = facts
            .now
            .signed_duration_since(s.at)
            .max(chrono::Duration::zero());
        f.wait(
            format!(
                "it has run on {} for {} of {}: waits until {}",
                code(&after.environment),
                crate::rules::human_duration(ran),
                crate::rules::human_duration(after.succeeded_for),
                when(ready)
            ),
            Some(ready),
        );
    }
}

/// What the environment's settings leave open (said, never decisive).
pub(super) fn settings(facts: &DeployFacts, f: &mut Findings) {
    let Some(s) = &facts.settings else {
        return;
    };
    if facts.forge == Forge::Github && s.has_changegate_rule == Some(false) {
        f.note(format!(
            "environment {} does not list changegate among its protection rules: deployments to it do not wait for this answer",
            code(&facts.environment)
        ));
    }
    if s.admins_can_bypass == Some(true) {
        f.note(format!(
            "administrators can bypass the protection of {}: only the audit would show it",
            code(&facts.environment)
        ));
    }
}
