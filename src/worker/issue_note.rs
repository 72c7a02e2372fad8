//! A change issue's approvers see what their approvals gate: the bot keeps one comment of its
//! own on the issue listing the merge requests that link it, edited in place.

use super::Worker;
use super::execute::Target;
use crate::actions::PlannedAction;
use crate::comment;
use crate::forge::{ChangeRef, Forge};
use crate::model::{Change, ChangeKind, Forge as ForgeKind};
use crate::policy::{LinkedIssue, Snapshot};
use crate::store::key_of;
use anyhow::Result;

/// The hidden marker of the bot's listing on a change issue.
const GATED_MARKER: &str = "<!-- changegate:gated-changes -->";

impl Worker {
    /// Lists, on the issue the merge request links, every merge request linking it; a write
    /// only when the listing changed.
    pub(super) async fn list_on_issue<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
    ) -> Result<()> {
        let Some(LinkedIssue::Read { issue, .. }) = &snap.linked_issue else {
            return Ok(());
        };
        let issue = &issue.change;
        let issue_key = key_of(issue);
        let mut listed: Vec<String> = self
            .store
            .changes_linking(&issue_key)
            .await?
            .iter()
            .map(|c| reference(&c.change))
            .collect();
        listed.push(reference(&snap.change));
        listed.sort();
        listed.dedup();
        let body = listing(&listed);
        // Remembered apart from the issue's own sticky comment (an enforced issue has one).
        let cache = format!("{issue_key}#gated");
        let hash = comment::hash(&body);
        // Trusted from memory unless the listing may have been edited: a comment event or a
        // reconcile pass on the merge request, or any change of the issue (an edit there is
        // one), reads it back so that someone else's edit is undone.
        let unverified = super::execute::comment_unverified(t.job) || from_issue(t.job);
        if !unverified
            && let Some((_, known)) = self.store.cached_comment(&cache).await?
            && known == hash
        {
            return Ok(());
        }
        let r = ChangeRef {
            repo: issue.repo.clone(),
            kind: ChangeKind::Issue,
            number: issue.number,
        };
        let bot = snap.bot.as_ref();
        let comments = t.forge.comments(&r).await?;
        let mine = comments.iter().find(|c| {
            c.body.trim_start().starts_with(GATED_MARKER)
                && bot.is_none_or(|b| b.same_as(&c.author) != Some(false))
        });
        let action = PlannedAction::UpsertComment { body: body.clone() };
        let id = match mine {
            Some(c) if c.body.trim_end() == body.trim_end() => Some(c.id),
            Some(c) => self
                .write(
                    t.job,
                    t.rules,
                    &action,
                    t.forge.update_comment(&r, c.id, &body),
                )
                .await?
                .map(|()| c.id),
            None => {
                self.write(t.job, t.rules, &action, t.forge.create_comment(&r, &body))
                    .await?
            }
        };
        match id {
            Some(id) if !self.dry_run => {
                self.store.remember_comment(&cache, Some((id, &hash))).await
            }
            _ => Ok(()),
        }
    }
}

/// Whether the run was queued because the linked issue changed.
fn from_issue(job: &super::enforce::JobContext<'_>) -> bool {
    std::iter::once(job.change)
        .chain(job.covered.iter().filter_map(crate::model::Event::change))
        .any(|e| e.forge_action == super::linked::ISSUE_CHANGED)
}

fn reference(c: &Change) -> String {
    let sep = match c.forge {
        ForgeKind::Gitlab => '!',
        ForgeKind::Github => '#',
    };
    format!("{}{sep}{}", c.repo.path, c.number)
}

fn listing(listed: &[String]) -> String {
    let lines: Vec<String> = listed.iter().map(|l| format!("- {l}")).collect();
    format!(
        "{GATED_MARKER}\n**changegate**: the approvals on this issue count for the merge requests that link it as their change issue:\n\n{}\n\n<sub>Kept up to date by changegate; an approval here approves each of them.</sub>\n",
        lines.join("\n")
    )
}
