//! Gathers what the deployment evaluator needs: from changegate's own records (decisions,
//! counted successes, baselines, merge verdicts, exception events) and the forge's present
//! (the commit, the environment's settings, the range, the changes and their approvals).
//! Whatever cannot be read is said in `incomplete`, and the evaluator denies.

use super::DeployRequest;
use crate::forge::{Forge, ForgeError};
use crate::model::{Change, ChangeKind, ChangeState, DeploymentState, User};
use crate::policy::deploy::{
    self, Baseline, DeployFacts, DeployedChange, EnvironmentFacts, ExceptionEvent,
    ExceptionEventKind, ExceptionSource, Grant, IssueTasks, MergeVerdict, Success, Uncounted,
};
use crate::policy::{self, ApprovalState, LinkedIssue, Verdict};
use crate::rules::Rules;
use crate::rules::deploy::{DeploymentRule, EXCEPTION_CONFIRMED, EXCEPTION_REQUESTED};
use crate::store::env_key;
use anyhow::Result;
use tokio::sync::OnceCell;

impl super::super::Worker {
    /// Gathers the facts of one deployment.
    pub async fn deploy_facts<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        rules: &Rules,
        entry: &DeploymentRule,
        req: &DeployRequest,
    ) -> Result<DeployFacts> {
        let store = &self.store;
        let repo = req.repo.path.as_str();
        let mut f = DeployFacts {
            forge: req.forge,
            repo: repo.to_string(),
            environment: req.environment.clone(),
            sha: req.sha.clone(),
            git_ref: req.git_ref.clone(),
            default_branch: req.default_branch.clone(),
            now: store.clock().now(),
            on_branch: None,
            baseline: None,
            range: None,
            changes: vec![],
            allowed_before: false,
            successes: vec![],
            uncounted: vec![],
            spent: vec![],
            settings: None,
            incomplete: vec![],
        };
        match forge.commit_sha(&req.repo, &req.sha).await {
            Ok(Some(full)) => f.sha = full,
            Ok(None) => {
                f.incomplete
                    .push(format!("the forge does not know commit `{}`", req.sha));
                return Ok(f);
            }
            Err(e) => {
                f.incomplete.push(unreadable("the commit", &e));
                return Ok(f);
            }
        }
        let bot_user = super::super::enforce::identity(forge, bot).await?;
        match forge.environment(&req.repo, &req.environment).await {
            Ok(Some(s)) => {
                let slug = bot_user
                    .as_ref()
                    .and_then(|b| b.username.as_deref())
                    .map(|n| n.trim_end_matches("[bot]").to_lowercase());
                f.settings = Some(EnvironmentFacts {
                    has_changegate_rule: match (req.forge, slug) {
                        (crate::model::Forge::Github, Some(slug)) => {
                            Some(s.custom_rule_apps.iter().any(|a| a.to_lowercase() == slug))
                        }
                        _ => None,
                    },
                    admins_can_bypass: s.admins_can_bypass,
                });
            }
            Ok(None) => f.incomplete.push(format!(
                "the forge does not know environment `{}`",
                req.environment
            )),
            Err(e) => f.incomplete.push(unreadable("the environment", &e)),
        }
        // An entry without `branches` deploys from the default branch: read from the forge
        // when the question does not carry it (`/gate`, the CLI, a listed GitLab deployment).
        if f.default_branch.is_none() && entry.branches.is_empty() {
            match forge.default_branch(&req.repo).await {
                Ok(b) => f.default_branch = b,
                Err(e) => f
                    .incomplete
                    .push(unreadable("the repository's default branch", &e)),
            }
        }
        if let Some(branch) = deployed_branch(req) {
            match forge.on_branch(&req.repo, &f.sha, &branch).await {
                Ok(on) => f.on_branch = Some(on),
                Err(e) => f.incomplete.push(unreadable(
                    &format!("whether the commit is on branch `{branch}`"),
                    &e,
                )),
            }
        }
        f.allowed_before = store
            .allowed_before(req.forge, repo, &req.environment, &f.sha)
            .await?;
        f.spent = store.spent_exceptions(req.forge, repo).await?;
        self.evidence(forge, entry, req, &mut f).await?;
        let Some(base) = store.baseline(req.forge, repo, &req.environment).await? else {
            return Ok(f);
        };
        f.baseline = Some(Baseline {
            sha: base.sha.clone(),
            how: base.how.clone(),
        });
        self.range(forge, bot, rules, req, &base.sha, &mut f)
            .await?;
        Ok(f)
    }

    /// Successes of this SHA that count, and those seen on the forge that do not.
    async fn evidence<F: Forge>(
        &self,
        forge: &F,
        entry: &DeploymentRule,
        req: &DeployRequest,
        f: &mut DeployFacts,
    ) -> Result<()> {
        let repo = req.repo.path.as_str();
        for s in self
            .store
            .counted_successes(req.forge, repo, &f.sha)
            .await?
        {
            f.successes.push(Success {
                environment: s.env_key,
                sha: s.sha,
                at: s.at,
                how: s.how,
            });
        }
        let Some(after) = &entry.after else {
            return Ok(());
        };
        let listed = match forge
            .deployments(&req.repo, &after.environment, Some(&f.sha))
            .await
        {
            Ok(l) => l,
            Err(e) => {
                f.incomplete
                    .push(unreadable("the deployments to the `after` environment", &e));
                return Ok(());
            }
        };
        for d in listed {
            if d.state != Some(DeploymentState::Success) || d.sha != f.sha {
                continue;
            }
            let counted = f
                .successes
                .iter()
                .any(|s| s.environment == env_key(req.forge, &after.environment) && s.sha == d.sha);
            if counted {
                continue;
            }
            // The success's reporter must be trusted as well as the deployment's creator, and
            // the success must say when it happened.
            let creator = d.creator.as_ref().and_then(|c| c.username.clone());
            let reporter = d.state_creator.as_ref().and_then(|c| c.username.clone());
            let trusted = creator.as_deref().is_some_and(|c| entry.trusts(c))
                && reporter.as_deref().is_some_and(|c| entry.trusts(c));
            match (trusted, d.deployable, d.state_at) {
                (true, true, Some(at)) => {
                    let how = format!(
                        "deployment {} created by trusted deployer `{}`",
                        d.id,
                        creator.unwrap_or_default()
                    );
                    self.store
                        .record_success(
                            req.forge,
                            repo,
                            &after.environment,
                            &d.sha,
                            d.id as i64,
                            "trusted",
                            d.creator.as_ref().and_then(|c| c.username.as_deref()),
                            at,
                            &how,
                        )
                        .await?;
                    f.successes.push(Success {
                        environment: env_key(req.forge, &after.environment),
                        sha: d.sha.clone(),
                        at,
                        how,
                    });
                }
                (_, false, _) => f.uncounted.push(Uncounted {
                    environment: d.environment.clone(),
                    why: format!("deployment {} has no pipeline job (created through the API)", d.id),
                }),
                _ => f.uncounted.push(Uncounted {
                    environment: d.environment.clone(),
                    why: format!(
                        "deployment {} was created by `{}`, not a trusted deployer, and changegate did not allow it",
                        d.id,
                        creator.unwrap_or_else(|| "someone unknown".into())
                    ),
                }),
            }
        }
        Ok(())
    }

    /// One change the deployment brings: its verdict at merge, approvals, change issue,
    /// blocked periods and exception events.
    pub(super) async fn deployed_change<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        rules: &Rules,
        req: &DeployRequest,
        change: Change,
        f: &mut DeployFacts,
    ) -> Result<DeployedChange> {
        let repo = req.repo.path.as_str();
        let mut out = DeployedChange {
            number: change.number,
            title: change.title.clone(),
            author: change.author.clone(),
            target_branch: change.target_branch.clone(),
            merged_at: change.merged_at,
            landed_as: vec![],
            verdict: MergeVerdict::Unknown {
                why: "changegate has no record of its verdict at merge".into(),
            },
            emergency_owes: None,
            grants: vec![],
            issue: None,
            periods: vec![],
            exception_events: vec![],
        };
        let r = crate::forge::ChangeRef {
            repo: req.repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: change.number,
        };
        let explained = match self.explain(forge, bot, &r, rules).await {
            Ok(Some(x)) => x,
            Ok(None) => {
                f.incomplete
                    .push(format!("change #{} cannot be read", change.number));
                return Ok(out);
            }
            Err(e) => {
                f.incomplete
                    .push(format!("change #{} cannot be read: {e:#}", change.number));
                return Ok(out);
            }
        };
        let (snap, decision) = explained;
        out.verdict = match self
            .store
            .merge_verdict(req.forge, repo, change.number)
            .await?
        {
            Some(m) if m.pass => MergeVerdict::Passed { how: m.how },
            Some(m) => MergeVerdict::Failed { why: m.how },
            None => as_of_merge(rules, &snap),
        };
        for o in &decision.approvals {
            if let ApprovalState::Met { by, at, .. } = &o.state {
                out.grants.push(Grant {
                    role: o.name.clone(),
                    by: by.clone(),
                    at: *at,
                });
                for other in &o.others {
                    out.grants.push(Grant {
                        role: o.name.clone(),
                        by: other.by.clone(),
                        at: other.at,
                    });
                }
            }
        }
        // An emergency only as recorded when it merged (the debt fixed then): a label added
        // after the merge, or a debt presumed because the history is unclear, lifts no window.
        if let Some(debt) = snap
            .debt
            .fixed
            .as_ref()
            .filter(|d| d.owes() && !d.presumed())
        {
            out.emergency_owes = Some(match decision.owed.as_ref().filter(|o| o.merged) {
                Some(owed) => owed.missing().map(|i| i.name.clone()).collect(),
                None => debt.require.clone(),
            });
        }
        // The periods that covered it at merge, and those whose `when` holds for it now: a
        // freeze applies to deployments of changes merged before it began.
        out.periods = decision.blocked.iter().map(|b| b.period.clone()).collect();
        for p in policy::periods_covering(rules, &snap, &decision) {
            if !out.periods.contains(&p) {
                out.periods.push(p);
            }
        }
        let mut label_events = snap.label_events.clone();
        out.issue = match &snap.linked_issue {
            None => None,
            Some(LinkedIssue::Read { reference, issue }) => {
                label_events.extend(issue.label_events.iter().cloned());
                Some(IssueTasks {
                    reference: reference.clone(),
                    tasks: deploy::tasks(&issue.change.description),
                    readable: true,
                })
            }
            Some(LinkedIssue::Unreadable { reference, .. })
            | Some(LinkedIssue::Refused { reference, .. }) => Some(IssueTasks {
                reference: reference.clone(),
                tasks: vec![],
                readable: false,
            }),
        };
        // Exception labels' history: the forge's record of who applied them and when, kept
        // as seen so that a later removal does not take a request back.
        let wanted = [
            crate::model::Label::new(EXCEPTION_REQUESTED),
            crate::model::Label::new(EXCEPTION_CONFIRMED),
        ];
        match forge.label_events(&r, &wanted).await {
            Ok(h) => label_events.extend(h.labels),
            Err(e) => f.incomplete.push(unreadable(
                &format!("the exception labels of #{}", change.number),
                &e,
            )),
        }
        for e in label_events.iter().filter(|e| e.added) {
            let kind = if e.label.as_str() == EXCEPTION_REQUESTED {
                ExceptionEventKind::Requested
            } else if e.label.as_str() == EXCEPTION_CONFIRMED {
                ExceptionEventKind::Confirmed
            } else {
                continue;
            };
            let event = ExceptionEvent {
                kind,
                by: e.actor.clone(),
                at: e.at,
                source: ExceptionSource::Label,
            };
            self.store
                .add_exception_event(req.forge, repo, change.number, &event)
                .await?;
        }
        // Exception requests and confirmations by comment command (`/changegate request
        // exception`, `/changegate confirm`), on the change or its change issue, as recorded
        // when the command was taken.
        let mut keys = vec![crate::store::key_of(&snap.change)];
        if let Some(LinkedIssue::Read { issue, .. }) = &snap.linked_issue {
            keys.push(crate::store::key_of(&issue.change));
        }
        for key in keys {
            for c in self.store.exception_commands(&key).await? {
                let kind = match c.kind.as_str() {
                    "request_exception" => ExceptionEventKind::Requested,
                    "confirm" => ExceptionEventKind::Confirmed,
                    _ => continue,
                };
                let event = ExceptionEvent {
                    kind,
                    by: c.person,
                    at: Some(c.at),
                    source: ExceptionSource::Comment { id: c.comment_id },
                };
                self.store
                    .add_exception_event(req.forge, repo, change.number, &event)
                    .await?;
            }
        }
        out.exception_events = self
            .store
            .exception_events(req.forge, repo, change.number)
            .await?;
        Ok(out)
    }
}

/// A merged change changegate has no record of, evaluated as of its merge: only what
/// happened before `merged_at` counts; an event that cannot be placed fails it.
fn as_of_merge(rules: &Rules, snap: &policy::Snapshot) -> MergeVerdict {
    let Some(merged_at) = snap.change.merged_at else {
        return MergeVerdict::Unknown {
            why: "it has no record at merge and the forge does not say when it merged".into(),
        };
    };
    let Some(labels) = policy::labels_at_merge(snap, &snap.change.labels) else {
        return MergeVerdict::Unknown {
            why: "it has no record at merge and its labels at merge cannot be told".into(),
        };
    };
    let mut s = snap.clone();
    if s.label_events.iter().any(|e| e.at.is_none()) {
        return MergeVerdict::Unknown {
            why: "it has no record at merge and part of its label history cannot be placed in time"
                .into(),
        };
    }
    s.label_events
        .retain(|e| e.at.is_some_and(|t| t <= merged_at));
    s.reviews
        .retain(|r| r.submitted_at.is_some_and(|t| t <= merged_at));
    s.comment_approvals.retain(|c| c.at <= merged_at);
    s.change.labels = labels;
    s.change.state = ChangeState::Open;
    s.now = merged_at;
    if let Some(LinkedIssue::Read { issue, .. }) = &mut s.linked_issue {
        issue
            .label_events
            .retain(|e| e.at.is_some_and(|t| t <= merged_at));
        issue
            .reviews
            .retain(|r| r.submitted_at.is_some_and(|t| t <= merged_at));
        issue.comment_approvals.retain(|c| c.at <= merged_at);
    }
    let d = policy::evaluate(rules, &s);
    match d.verdict {
        Verdict::Pass => MergeVerdict::Passed {
            how: "no record at merge: evaluated as of its merge, with nothing given after it"
                .into(),
        },
        Verdict::Fail => MergeVerdict::Failed {
            why: format!("evaluated as of its merge (no record): {}", d.summary),
        },
        Verdict::NotEnforced => MergeVerdict::Failed {
            why: "changegate did not enforce it when it merged".into(),
        },
    }
}

/// The deployed branch's name, from the deployment's `ref`.
pub(super) fn deployed_branch(req: &DeployRequest) -> Option<String> {
    req.git_ref
        .as_deref()
        .map(|r| r.trim_start_matches("refs/heads/").to_string())
        .filter(|b| !b.is_empty())
}

pub(super) fn unreadable(what: &str, e: &ForgeError) -> String {
    format!("{what} cannot be read ({e})")
}
