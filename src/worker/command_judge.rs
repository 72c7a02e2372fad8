//! One comment command, judged on the change as read and recorded with what it does: an
//! approval (the same checks as a label), a withdrawal, a recheck, an exception request or
//! confirmation, or the help. Comments written by e-mail, hidden or gone give nothing.

use super::Worker;
use super::execute::Target;
use crate::commands::{self, Command, CommentApproval};
use crate::forge::Forge;
use crate::model::{CommentFact, User};
use crate::policy::{self, Snapshot};
use crate::store::CommandEffect;
use anyhow::Result;

/// Rechecks per change and person: one a minute.
const RECHECK_EVERY_SECS: i64 = 60;

impl Worker {
    /// One command, judged on the change as read.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn take_command<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        fact: &CommentFact,
        n: u32,
        text: &str,
        command: &Command,
        key: &str,
    ) -> Result<()> {
        let person = fact.author.clone();
        let kind = command.kind();
        // What an approval or an exception request is placed by: the comment's own time.
        // Unknown, it is refused (never taken as now: the push-time rules need the real one).
        let needs_time = matches!(
            command,
            Command::Approve { .. } | Command::RequestException | Command::Confirm
        );
        let at = match fact.at {
            Some(at) => at,
            None if needs_time => {
                let why = format!(
                    "{} did not say when the comment was written, so changegate cannot place it after the head's push; write a new comment",
                    snap.change.forge.display_name()
                );
                let record = self.record_of(fact, &person, n, kind, text, Err(why));
                self.keep_command(t, key, &record, CommandEffect::None)
                    .await?;
                return Ok(());
            }
            None => self.store.clock().now(),
        };
        match command {
            Command::Approve { roles, sha } => {
                let questions = policy::commands::approve_questions(t.rules, snap, &person, roles);
                self.answer(t.forge, t.rules, snap, questions).await?;
                let now = policy::evaluate(t.rules, snap);
                let judged = policy::commands::judge_approve(
                    t.rules,
                    snap,
                    &now.approvals,
                    &person,
                    roles,
                    sha.as_deref(),
                    at,
                );
                let judged = match judged {
                    Ok(grants) => match self.odd_origin(t, snap.change.forge, fact).await? {
                        Some(why) => Err(why),
                        None => Ok(grants),
                    },
                    Err(why) => Err(why),
                };
                match judged {
                    Ok(grants) => {
                        let given: Vec<CommentApproval> = grants
                            .into_iter()
                            .map(|g| CommentApproval {
                                role: g.role,
                                by: person.clone(),
                                at,
                                source: fact.source,
                                comment_id: fact.id,
                                url: fact.url.clone(),
                                head: g.head,
                                body_sha: commands::body_sha(&fact.body),
                                node_id: fact.node_id.clone(),
                            })
                            .collect();
                        let record = self.record_of(fact, &person, n, kind, text, Ok(()));
                        if self
                            .keep_command(t, key, &record, CommandEffect::Grant(&given))
                            .await?
                        {
                            snap.comment_approvals.extend(given);
                        }
                    }
                    Err(why) => {
                        let record = self.record_of(fact, &person, n, kind, text, Err(why));
                        self.keep_command(t, key, &record, CommandEffect::None)
                            .await?;
                    }
                }
            }
            Command::Withdraw { roles } => {
                let mine = |g: &&CommentApproval| {
                    g.by.same_as(&person) == Some(true)
                        && (roles.is_empty() || roles.contains(&g.role))
                };
                let unknown = roles.iter().find(|r| t.rules.approval(r).is_none());
                let outcome = match unknown {
                    Some(r) => Err(format!(
                        "{} is not an approval role",
                        crate::markdown::code(r)
                    )),
                    None if !snap.comment_approvals.iter().any(|g| mine(&g)) => Err(format!(
                        "{} gave no approval by comment to withdraw",
                        person.mention()
                    )),
                    None => Ok(()),
                };
                let accepted = outcome.is_ok();
                let record = self.record_of(fact, &person, n, kind, text, outcome);
                let effect = if accepted {
                    CommandEffect::Withdraw {
                        person: &person,
                        roles,
                    }
                } else {
                    CommandEffect::None
                };
                if self.keep_command(t, key, &record, effect).await? && accepted {
                    snap.comment_approvals.retain(|g| !mine(&g));
                }
            }
            Command::Recheck => {
                let last = self.store.last_recheck(key, &person).await?;
                let now = self.store.clock().now_ms();
                let recent = last.is_some_and(|t| {
                    now.saturating_sub(t) < RECHECK_EVERY_SECS.saturating_mul(1000)
                });
                let outcome = if recent {
                    Err(format!(
                        "{} asked for a recheck less than a minute ago; at most one a minute",
                        person.mention()
                    ))
                } else {
                    Ok(())
                };
                if outcome.is_ok() {
                    // Evaluate on the forge's answers of now, not remembered ones.
                    self.memberships.forget(&person);
                }
                let record = self.record_of(fact, &person, n, kind, text, outcome);
                self.keep_command(t, key, &record, CommandEffect::None)
                    .await?;
            }
            Command::RequestException | Command::Confirm => {
                let questions: Vec<(String, User)> = t
                    .rules
                    .groups
                    .iter()
                    .map(|g| (g.name.clone(), person.clone()))
                    .collect();
                self.answer(t.forge, t.rules, snap, questions).await?;
                let outcome = match self.odd_origin(t, snap.change.forge, fact).await? {
                    Some(why) => Err(why),
                    None => policy::commands::may_ask_exception(t.rules, snap, &person),
                };
                let record = self.record_of(fact, &person, n, kind, text, outcome);
                self.keep_command(t, key, &record, CommandEffect::None)
                    .await?;
            }
            Command::Help => {
                let record = self.record_of(fact, &person, n, kind, text, Ok(()));
                self.keep_command(t, key, &record, CommandEffect::None)
                    .await?;
            }
        }
        Ok(())
    }

    /// Why a comment cannot give approvals for how it was written (an e-mail reply, hidden,
    /// gone, or the forge will not say).
    async fn odd_origin<F: Forge>(
        &self,
        t: &Target<'_, F>,
        kind: crate::model::Forge,
        fact: &CommentFact,
    ) -> Result<Option<String>> {
        if kind == crate::model::Forge::Gitlab
            && let Some(why) = self.gitlab_note_refused(t, fact).await?
        {
            return Ok(Some(why));
        }
        let why = match t.forge.comment_origin(fact.node_id.as_deref()).await {
            Ok(Some(o)) if o.gone => Some("the comment is gone".to_string()),
            Ok(Some(o)) if o.via_email => Some(
                "sent as an e-mail reply: a reply from a shared mailbox or a quoted notification gives nothing"
                    .to_string(),
            ),
            Ok(Some(o)) if o.minimized => Some("the comment is hidden".to_string()),
            Ok(Some(_)) => None,
            Ok(None) => Some(
                "changegate cannot tell whether the comment was sent by e-mail (the forge gave no node id)"
                    .to_string(),
            ),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => Some(format!(
                "changegate cannot tell whether the comment was sent by e-mail ({e})"
            )),
        };
        Ok(why)
    }

    /// GitLab's Note Hook does not say whether its author is a bot or service account (its
    /// `user` has no `bot` or `user_type`): the note is read through the API, whose `author`
    /// does, before it gives anything. Unreadable, gone, another's, or ignored: refused.
    async fn gitlab_note_refused<F: Forge>(
        &self,
        t: &Target<'_, F>,
        fact: &CommentFact,
    ) -> Result<Option<String>> {
        let why = match t.forge.comment(t.r, fact.source, fact.id).await {
            Ok(None) => Some("the comment is gone".to_string()),
            Ok(Some(c)) if c.author.same_as(&fact.author) != Some(true) => {
                Some("GitLab's API does not show the note as its author's".to_string())
            }
            Ok(Some(c)) => c.ignored.map(|why| format!("GitLab's API says: {why}")),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => Some(format!(
                "changegate could not read the note through GitLab's API to tell whether its author is a bot or service account ({e})"
            )),
        };
        Ok(why)
    }
}
