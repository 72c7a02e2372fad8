//! Change issues: reading the issue a merge request links (for the policy to judge), and
//! evaluating the merge requests that link an issue again when the issue changes.

use super::Worker;
use super::enforce::{JobContext, complete_or};
use crate::forge::{ChangeRef, Forge, ForgeError};
use crate::markdown::code;
use crate::model::{Action, Change, ChangeEvent, ChangeKind, Event, EventPayload, Repo};
use crate::policy::{self, LinkedIssue, Snapshot, change_issue};
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;

/// The forge action of a merge request's run queued because its linked issue changed.
pub(super) const ISSUE_CHANGED: &str = "change issue changed";

impl Worker {
    /// The change issue the merge request's description links, read with its label history
    /// and its approvers' memberships; `None` when it links none.
    pub(super) async fn linked_issue<F: Forge>(
        &self,
        forge: &F,
        mr: &Snapshot,
        rules: &Rules,
        notes: &mut Vec<String>,
    ) -> Result<Option<LinkedIssue>> {
        let Some(text) = change_issue::find_reference(rules, &mr.change) else {
            return Ok(None);
        };
        let unreadable = |reason: String| {
            Ok(Some(LinkedIssue::Unreadable {
                reference: text.clone(),
                reason,
            }))
        };
        let target = match change_issue::parse_reference(&text, &mr.change) {
            Ok(t) => t,
            Err(reason) => return unreadable(reason),
        };
        // Approver groups resolve within the issue's owner (`{owner}`, `{top_level_group}`): an
        // issue in a namespace the author controls would bring groups the author controls.
        let owner = mr.change.repo.path.top_level();
        if !target.repo.top_level().eq_ignore_ascii_case(owner) {
            return unreadable(format!(
                "{} is outside {}; a change issue must belong to the same organization",
                code(&target),
                code(owner)
            ));
        }
        let r = ChangeRef {
            repo: Repo {
                path: target.repo.clone(),
                id: None,
            },
            kind: ChangeKind::Issue,
            number: target.number,
        };
        let issue = match forge.change(&r).await {
            Ok(Some(issue)) => issue,
            Ok(None) | Err(ForgeError::NotFound(_)) => {
                return unreadable(format!(
                    "{} does not exist or is not visible to changegate",
                    code(&target)
                ));
            }
            Err(ForgeError::Refused { status, .. }) => {
                return unreadable(format!(
                    "changegate may not read {} (HTTP {status})",
                    code(&target)
                ));
            }
            Err(e) => return Err(e.into()),
        };
        // Remembered even when refused: a change to the issue (reopened, assigned) evaluates
        // the merge request again.
        self.store
            .link_issue(&key_of(&issue), &key_of(&mr.change))
            .await?;
        if let Some(reason) = self.refusal(forge, &r, &issue, &mr.change, rules).await? {
            return Ok(Some(LinkedIssue::Refused {
                reference: target.to_string(),
                reason,
            }));
        }
        let mut incomplete = vec![];
        let deciding = policy::deciding_labels(rules, &issue.labels);
        let mut history = complete_or(forge.label_events(&r, &deciding).await, &mut incomplete)?
            .unwrap_or_default();
        notes.extend(
            self.vet_label_ids(forge, &issue, rules, &mut history)
                .await?,
        );
        let mut snap = Snapshot {
            change: issue,
            label_events: history.labels,
            reviews: vec![],
            last_push: None,
            retarget: None,
            memberships: Default::default(),
            bot: mr.bot.clone(),
            commit_authors: vec![],
            incomplete,
            now: mr.now,
            changed_files: None,
            linked_issue: None,
            gated_authors: vec![],
            comment_approvals: vec![],
            debt: Default::default(),
            diffs: Default::default(),
        };
        // Approvals given by comment on the issue count for the merge request as its labels do.
        if rules.commands.is_some() {
            snap.comment_approvals = self.store.comment_approvals(&key_of(&snap.change)).await?;
        }
        self.fill_memberships(forge, rules, &mut snap).await?;
        Ok(Some(LinkedIssue::Read {
            reference: target.to_string(),
            issue: Box::new(snap),
        }))
    }

    /// Why `issue` cannot be the change issue of `mr`: only an open issue (not a pull request,
    /// which GitHub's `/issues/{n}` also answers for, nor the merge request itself) whose
    /// author or assignee (`change_issue.linked_by`) is the merge request's author gates it.
    /// Anyone could otherwise link a closed or someone else's long-approved issue.
    async fn refusal<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        issue: &Change,
        mr: &Change,
        rules: &Rules,
    ) -> Result<Option<String>> {
        use crate::rules::IssueLinker;
        if issue.kind != ChangeKind::Issue {
            return Ok(Some(
                "it is a pull request, not an issue; link the change issue".into(),
            ));
        }
        if issue.state != crate::model::ChangeState::Open {
            return Ok(Some(
                "the issue is closed; only an open issue gates a change".into(),
            ));
        }
        let linked_by = rules
            .change_issue
            .as_ref()
            .map(|ci| ci.linked_by.clone())
            .unwrap_or_default();
        let who = &mr.author;
        if linked_by.contains(&IssueLinker::Author) && issue.author.same_as(who) == Some(true) {
            return Ok(None);
        }
        if linked_by.contains(&IssueLinker::Assignees)
            && forge
                .issue_assignees(r)
                .await?
                .iter()
                .any(|a| a.same_as(who) == Some(true))
        {
            return Ok(None);
        }
        let roles: Vec<&str> = linked_by
            .iter()
            .map(|l| match l {
                IssueLinker::Author => "its author",
                IssueLinker::Assignees => "one of its assignees",
            })
            .collect();
        Ok(Some(format!(
            "{} is not {} (`change_issue.linked_by`); link an issue of your own, or have it assigned to you",
            who.mention(),
            roles.join(" or ")
        )))
    }

    /// An issue changed: the merge requests linking it are evaluated again, so that an
    /// approval withdrawn on the issue turns them red with no event of their own.
    pub(super) async fn evaluate_linking(
        &self,
        job: &JobContext<'_>,
        issue: &Change,
    ) -> Result<()> {
        let issue_key = key_of(issue);
        // What names this event of the issue: its delivery id, or (reconcile, timers) when it
        // was stored.
        let cause = match job.event.delivery_id.as_deref() {
            Some(id) => id.to_string(),
            None => format!("at-{}", job.received_at),
        };
        for c in self.store.changes_linking(&issue_key).await? {
            let key = key_of(&c.change);
            let event = Event {
                forge: c.change.forge,
                delivery_id: Some(format!("linked:{issue_key}:{cause}:{key}")),
                event_name: "change issue changed".into(),
                payload: EventPayload::Change(Box::new(ChangeEvent {
                    pipeline: None,
                    action: Action::Other,
                    forge_action: ISSUE_CHANGED.into(),
                    labels_added: vec![],
                    labels_removed: vec![],
                    review: None,
                    previous_head_sha: None,
                    previous_target_branch: None,
                    comment: None,
                    ..c
                })),
            };
            self.store.enqueue(&event).await?;
        }
        Ok(())
    }
}
