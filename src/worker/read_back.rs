//! Before a passing verdict, the comments behind the approvals by comment it counts are read
//! back from the forge: one gone, hidden, no longer its giver's, ignored (a bot's or service
//! account's, as the API tells where a webhook did not), or whose text differs from the
//! text last known from its author is withdrawn (GitLab sends no webhook for a deleted note;
//! an edit's webhook may be lost).

use super::Worker;
use super::execute::Target;
use crate::commands::{self, CommentApproval};
use crate::forge::Forge;
use crate::model::CommentSource;
use crate::policy::{self, ApprovalState, Decision, Snapshot};
use anyhow::Result;

impl Worker {
    /// Reads back the comments behind the approvals by comment the decision counts; withdraws
    /// those gone, changed, or no longer their giver's. True when any was withdrawn.
    pub(super) async fn read_back<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        decision: &Decision,
    ) -> Result<bool> {
        let mut withdrew = self.read_back_of(t, t.r, snap, decision).await?;
        // Approvals given by comment on the linked change issue, which this change counts.
        if let Some(policy::LinkedIssue::Read { issue, .. }) = &mut snap.linked_issue {
            let r = crate::forge::ChangeRef {
                repo: issue.change.repo.clone(),
                kind: issue.change.kind,
                number: issue.change.number,
            };
            withdrew |= self.read_back_of(t, &r, issue, decision).await?;
        }
        Ok(withdrew)
    }

    async fn read_back_of<F: Forge>(
        &self,
        t: &Target<'_, F>,
        r: &crate::forge::ChangeRef,
        snap: &mut Snapshot,
        decision: &Decision,
    ) -> Result<bool> {
        let counted: Vec<CommentApproval> = snap
            .comment_approvals
            .iter()
            .filter(|g| {
                decision.approvals.iter().any(|o| {
                    o.name == g.role
                        && matches!(o.state, ApprovalState::Met { .. })
                        && o.comments.iter().any(|c| c.by.same_as(&g.by) == Some(true))
                })
            })
            .cloned()
            .collect();
        let mut withdrew = false;
        let mut read: Vec<(CommentSource, u64)> = vec![];
        for g in counted {
            if read.contains(&(g.source, g.comment_id)) {
                continue;
            }
            read.push((g.source, g.comment_id));
            let now = t.forge.comment(r, g.source, g.comment_id).await?;
            let why = match now {
                None => Some("its comment is gone (deleted, or its review dismissed)".to_string()),
                Some(c) if c.author.same_as(&g.by) != Some(true) => {
                    Some("its comment is no longer shown as its giver's".to_string())
                }
                Some(c) if c.ignored.is_some() => Some(format!(
                    "the forge no longer lets its comment give anything ({})",
                    c.ignored.as_deref().unwrap_or_default()
                )),
                Some(c) if commands::body_sha(&c.body) != g.body_sha => Some(
                    "its comment changed, and nothing shows that its author changed it".to_string(),
                ),
                Some(_) if g.node_id.is_some() => {
                    match t.forge.comment_origin(g.node_id.as_deref()).await? {
                        Some(o) if o.minimized => Some("its comment was hidden".to_string()),
                        Some(o) if o.gone => Some("its comment is gone".to_string()),
                        _ => None,
                    }
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                self.withdraw_comment(t, snap, g.source, g.comment_id, &why)
                    .await?;
                withdrew = true;
            }
        }
        Ok(withdrew)
    }
}
