//! The commits a deployment brings, from the forge: `baseline...sha` with each commit's
//! parents, the merged changes into the deployed branch that hold each commit, and what each
//! change landed on the branch as (its merge, squash or last rebased commit, its head). The
//! evaluator then requires every commit to come with a change whose merged result is on the
//! deployed first-parent line, or an operator's acceptance.

use super::DeployRequest;
use super::facts::{deployed_branch, unreadable};
use crate::forge::{CommitChange, Forge, RangeRelation};
use crate::model::{ChangeKind, ChangeState, User};
use crate::policy::deploy::{DeployFacts, Range, RangeCommit, Relation};
use crate::rules::Rules;
use anyhow::Result;
use tokio::sync::OnceCell;

/// The most changes one deployment may bring before it is refused as unverifiable.
const MAX_CHANGES: usize = 200;

impl super::super::Worker {
    pub(super) async fn range<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        rules: &Rules,
        req: &DeployRequest,
        base: &str,
        f: &mut DeployFacts,
    ) -> Result<()> {
        if base == f.sha {
            f.range = Some(Range {
                relation: Relation::Identical,
                commits: vec![],
                complete: true,
            });
            return Ok(());
        }
        let compared = match forge.compare(&req.repo, base, &f.sha).await {
            Ok(c) => c,
            Err(e) => {
                f.incomplete.push(unreadable("the range", &e));
                return Ok(());
            }
        };
        let relation = match compared.relation {
            RangeRelation::Ahead => Relation::Ahead,
            RangeRelation::Behind => Relation::Behind,
            RangeRelation::Identical => Relation::Identical,
            RangeRelation::Diverged => Relation::Diverged,
        };
        let mut range = Range {
            relation,
            commits: vec![],
            complete: compared.complete,
        };
        // Without the deployed branch, changes merged into any branch would count: the
        // evaluator denies (it says so); nothing more is read.
        let Some(branch) = deployed_branch(req) else {
            f.range = Some(range);
            return Ok(());
        };
        let mut merged: Vec<CommitChange> = vec![];
        if relation == Relation::Ahead {
            for c in &compared.commits {
                let changes = match forge.changes_with_commit(&req.repo, &c.sha).await {
                    Ok(list) => list,
                    Err(e) => {
                        f.incomplete.push(unreadable(
                            &format!("the changes of commit `{}`", c.sha),
                            &e,
                        ));
                        vec![]
                    }
                };
                let into_branch: Vec<CommitChange> = changes
                    .into_iter()
                    .filter(|ch| ch.change.state == ChangeState::Merged)
                    .filter(|ch| ch.change.kind == ChangeKind::MergeRequest)
                    .filter(|ch| {
                        ch.change
                            .target_branch
                            .as_deref()
                            .map(|t| t.trim_start_matches("refs/heads/"))
                            == Some(branch.as_str())
                    })
                    .collect();
                range.commits.push(RangeCommit {
                    sha: c.sha.clone(),
                    parents: c.parents.clone(),
                    changes: into_branch.iter().map(|ch| ch.change.number).collect(),
                    accepted: self
                        .store
                        .accepted_commit(req.forge, req.repo.path.as_str(), &c.sha)
                        .await?,
                });
                for ch in into_branch {
                    if !merged.iter().any(|m| m.change.number == ch.change.number) {
                        merged.push(ch);
                    }
                }
            }
        }
        if merged.len() > MAX_CHANGES {
            f.incomplete.push(format!(
                "it brings {} changes, more than the {MAX_CHANGES} changegate verifies in one deployment",
                merged.len()
            ));
            merged.truncate(MAX_CHANGES);
        }
        for ch in merged {
            let mut landed_as = ch.landed_as.clone();
            // Its approved head: on the line when it was merged by fast-forward.
            landed_as.extend(ch.change.head_sha.clone());
            let mut dc = self
                .deployed_change(forge, bot, rules, req, ch.change, f)
                .await?;
            dc.landed_as = landed_as;
            f.changes.push(dc);
        }
        f.range = Some(range);
        Ok(())
    }
}
