//! `reset_on_push: changed_diff` at the edges: the diff each approval was given on is recorded
//! (store and audit) when changegate first sees the approval, and the diff now is read when an
//! approval given on another head must be judged. One compare per head and target commit (by
//! SHAs, never by branch names), plus, on GitLab, one straight compare of two heads whose
//! diffs are identical (GitLab's diffs carry no blob ids).

use super::Worker;
use super::enforce::JobContext;
use crate::diff::{self, ApprovedDiff, ChangeDiff, DiffFacts, DiffNow, HeadsCompared};
use crate::forge::{ChangeRef, Forge, ForgeError};
use crate::model::{ChangeKind, User};
use crate::policy::Snapshot;
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;
use chrono::{DateTime, Utc};

/// An approval as given: what every way of approving (label, native review, comment command)
/// hands to [`Worker::record_approved_diff`] when changegate first sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GivenApproval {
    /// The approval role's name (`approvals[].name`).
    pub role: String,
    /// `label`, `review` or `comment`.
    pub via: String,
    pub by: User,
    /// When the forge says it was given.
    pub at: Option<DateTime<Utc>>,
    /// The commit the forge says it was given on (GitHub reviews), when it says.
    pub commit: Option<String>,
}

impl Worker {
    /// What `changed_diff` approvals are judged on. With a job (not `explain`), the diffs of
    /// approvals seen for the first time are recorded first.
    pub(super) async fn diff_facts<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
        rules: &Rules,
        job: Option<&JobContext<'_>>,
    ) -> Result<DiffFacts> {
        let change = &snap.change;
        let (ChangeKind::MergeRequest, Some(head)) = (change.kind, change.head_sha.as_deref())
        else {
            return Ok(DiffFacts::default());
        };
        if !rules
            .approvals
            .iter()
            .any(|a| a.reset_on_push.keeps_same_diff())
        {
            return Ok(DiffFacts::default());
        }
        let given = given_approvals(rules, snap);
        if given.is_empty() {
            return Ok(DiffFacts::default());
        }
        let mut approved = self.store.approved_diffs(&key_of(change)).await?;
        if let Some(job) = job {
            for g in &given {
                let known = approved
                    .iter()
                    .any(|d| d.is_of(&g.role, &g.via, &g.by, g.at));
                if !known && let Some(d) = self.record_approved_diff(forge, r, snap, g, job).await?
                {
                    approved.push(d);
                }
            }
        }
        // Only approvals still on the change and given on another head need the diff now.
        let moved: Vec<&ApprovedDiff> = approved
            .iter()
            .filter(|d| d.head_sha != head)
            .filter(|d| given.iter().any(|g| d.is_of(&g.role, &g.via, &g.by, g.at)))
            .collect();
        if moved.is_empty() {
            return Ok(DiffFacts {
                approved,
                ..DiffFacts::default()
            });
        }
        let now = self.diff_now(forge, r, snap).await?;
        let mut heads = vec![];
        if let (false, Some(print)) = (now.blobs_given, &now.fingerprint) {
            for d in moved {
                let same = d
                    .fingerprint
                    .as_ref()
                    .is_some_and(|f| f.first_difference(print).is_none());
                if same && !heads.iter().any(|h: &HeadsCompared| h.from == d.head_sha) {
                    heads.push(self.heads_compared(forge, r, &d.head_sha, head).await?);
                }
            }
        }
        Ok(DiffFacts {
            approved,
            now: Some(now),
            heads,
        })
    }

    /// Records the diff `given` was given on, when it is known to be the change's current
    /// head (and target), in the store and the audit log; `None` when it cannot be placed on
    /// the current head (it then has no record, and resets at the next push).
    pub async fn record_approved_diff<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
        given: &GivenApproval,
        job: &JobContext<'_>,
    ) -> Result<Option<ApprovedDiff>> {
        let change = &snap.change;
        let (Some(head), Some(at)) = (change.head_sha.as_deref(), given.at) else {
            return Ok(None);
        };
        if !on_current_head(snap, given, head, at) {
            tracing::info!(role = %given.role, "an approval not known to be on the current head: no diff recorded");
            return Ok(None);
        }
        let now = self.diff_now(forge, r, snap).await?;
        if now.unread {
            // Asked again at the next evaluation, while the approval is still on this head.
            tracing::warn!(
                problem = now.problem.as_deref().unwrap_or(""),
                "the diff of a new approval could not be read"
            );
            return Ok(None);
        }
        let record = ApprovedDiff {
            role: given.role.clone(),
            via: given.via.clone(),
            by: given.by.clone(),
            given_at: at,
            head_sha: head.to_string(),
            target_branch: change.target_branch.clone(),
            base_sha: change.target_sha.clone(),
            merge_base: now.merge_base,
            fingerprint: now.fingerprint,
            problem: now.problem,
        };
        if self
            .store
            .record_approved_diff(&key_of(change), &record)
            .await?
        {
            self.record(job, "approved_diff", None, &record).await?;
        }
        Ok(Some(record))
    }

    /// The change's diff at its head, fingerprinted, or why it has none. Only a rate limit is
    /// an error (the job waits); any other failure, after the retries, is a reason to reset.
    async fn diff_now<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        snap: &Snapshot,
    ) -> Result<DiffNow> {
        let change = &snap.change;
        let head = change.head_sha.clone().unwrap_or_default();
        let mut now = DiffNow {
            head_sha: head.clone(),
            target_branch: change.target_branch.clone(),
            merge_base: None,
            commits: vec![],
            blobs_given: false,
            fingerprint: None,
            problem: None,
            unread: false,
        };
        let Some(base) = change.target_sha.as_deref() else {
            now.problem = Some(format!(
                "{} did not say which commit of the target the diff is taken from",
                change.forge.display_name()
            ));
            return Ok(now);
        };
        match self.read_diff(forge, r, base, &head).await {
            Ok(d) => {
                now.merge_base = d.merge_base.clone();
                now.blobs_given = d.blobs_given;
                match diff::fingerprint(&d) {
                    Ok(f) => now.fingerprint = Some(f),
                    Err(why) => now.problem = Some(why),
                }
                now.commits = d.commits;
            }
            Err(e @ ForgeError::RateLimited { .. }) => return Err(e.into()),
            Err(e) => {
                now.problem = Some(format!("the forge's diff could not be read ({e})"));
                now.unread = true;
            }
        }
        Ok(now)
    }

    /// The forge's diff for a target commit and a head, read once per pair of SHAs.
    async fn read_diff<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<ChangeDiff, ForgeError> {
        let repo = r.repo.path.as_str().to_lowercase();
        if let Some(d) = self.heads.diffs.get(&repo, head, base) {
            return Ok(d);
        }
        let d = forge.change_diff(r, base, head).await?;
        self.heads.diffs.put(&repo, head, base, &d);
        Ok(d)
    }

    /// What differs between an approved head and the current one (GitLab), read once per pair.
    async fn heads_compared<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        from: &str,
        to: &str,
    ) -> Result<HeadsCompared> {
        let repo = r.repo.path.as_str().to_lowercase();
        let mut out = HeadsCompared {
            from: from.to_string(),
            to: to.to_string(),
            paths: None,
            problem: None,
        };
        if let Some(paths) = self.heads.paths_between.get(&repo, to, from) {
            out.paths = Some(paths);
            return Ok(out);
        }
        match forge.paths_between(r, from, to).await {
            Ok(paths) => {
                self.heads.paths_between.put(&repo, to, from, &paths);
                out.paths = Some(paths);
            }
            Err(e @ ForgeError::RateLimited { .. }) => return Err(e.into()),
            Err(e) => out.problem = Some(format!("the forge's comparison could not be read ({e})")),
        }
        Ok(out)
    }
}

/// Whether an approval given at `at` is known to be on the change's current head and target:
/// a review naming the head, or anything given after the head arrived (the push-time rules;
/// for a comment, also when it names the head), with no retarget since.
fn on_current_head(snap: &Snapshot, given: &GivenApproval, head: &str, at: DateTime<Utc>) -> bool {
    let retargeted = snap
        .retarget
        .as_ref()
        .is_some_and(|t| t.at.is_none_or(|t| t > at));
    if retargeted {
        return false;
    }
    let after_push = || {
        snap.last_push
            .as_ref()
            .and_then(|p| p.at)
            .is_some_and(|arrived| at >= arrived)
    };
    match &given.commit {
        // A comment's head is the head at its time; only a comment written after that head's
        // push is known to approve it.
        Some(c) if given.via == "comment" => c == head && after_push(),
        Some(c) => c == head,
        None => after_push(),
    }
}

/// The approvals under `changed_diff` on the change now: each such role's label as last
/// applied, the native approvals that stand, and the approvals by comment recorded (the
/// snapshot's, loaded before the diff facts).
fn given_approvals(rules: &Rules, snap: &Snapshot) -> Vec<GivenApproval> {
    let mut out = vec![];
    for a in rules
        .approvals
        .iter()
        .filter(|a| a.reset_on_push.keeps_same_diff())
    {
        let by_bot = |u: &User| {
            snap.bot
                .as_ref()
                .is_some_and(|b| b.same_as(u) == Some(true))
        };
        if snap.change.has_label(&a.label)
            && let Some(ev) = crate::policy::last_applied(snap, &a.label)
            && !by_bot(&ev.actor)
        {
            out.push(GivenApproval {
                role: a.name.clone(),
                via: "label".into(),
                by: ev.actor.clone(),
                at: ev.at,
                commit: None,
            });
        }
        if a.native_approvals {
            out.extend(
                snap.reviews
                    .iter()
                    .filter(|r| r.approved)
                    .map(|r| GivenApproval {
                        role: a.name.clone(),
                        via: "review".into(),
                        by: r.reviewer.clone(),
                        at: r.submitted_at,
                        commit: r.commit_sha.clone(),
                    }),
            );
        }
        if a.by_comment && rules.commands.is_some() {
            // The head a comment approval is of was checked to be the head at the comment's
            // time, after its push (the push-time rules): it is the commit it was given on.
            out.extend(
                snap.comment_approvals
                    .iter()
                    .filter(|c| c.role == a.name)
                    .map(|c| GivenApproval {
                        role: a.name.clone(),
                        via: "comment".into(),
                        by: c.by.clone(),
                        at: Some(c.at),
                        commit: c.head.clone(),
                    }),
            );
        }
    }
    out
}
