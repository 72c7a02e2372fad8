//! Comment commands in a run: read the comments the job's events are about (and, on reconcile,
//! every comment of the change), record each command before anything it causes, withdraw what
//! edited, deleted or dismissed comments gave, and before a passing verdict read back the
//! comments behind the approvals it counts. Then the decision, with the latest refusals.

use super::Worker;
use super::execute::Target;
use crate::commands::{self, Command, CommandRecord, CommentApproval};
use crate::evidence::CommentWithdrawal;
use crate::forge::Forge;
use crate::model::{CommentChange, CommentFact, CommentSource, Event, User};
use crate::policy::{self, Decision, Snapshot};
use crate::store::{CommandEffect, key_of};
use anyhow::Result;

impl Worker {
    /// The decision, after the job's comment commands are taken (when the rules turn commands
    /// on), with notes on refused commands and the help asked for.
    pub(super) async fn decide_with_commands<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
    ) -> Result<Decision> {
        let Some(cfg) = t.rules.commands.clone() else {
            return Ok(policy::evaluate(t.rules, snap));
        };
        let key = key_of(&snap.change);
        snap.comment_approvals = self.store.comment_approvals(&key).await?;
        let before = snap.comment_approvals.clone();
        self.fill_memberships(t.forge, t.rules, snap).await?;
        let facts = self.comment_facts(t, snap).await?;
        for fact in &facts {
            self.take_comment(t, snap, fact, &cfg.prefix).await?;
        }
        // Approvals the comments just gave are first seen now, on the current head: their
        // diffs are recorded (under `changed_diff`) before the decision judges them.
        if snap.comment_approvals != before {
            snap.diffs = self
                .diff_facts(t.forge, t.r, snap, t.rules, Some(t.job))
                .await?;
        }
        let mut decision = policy::evaluate(t.rules, snap);
        // Approvals by comment count only while their comments stand as they were given.
        if decision.verdict == policy::Verdict::Pass && self.read_back(t, snap, &decision).await? {
            self.fill_memberships(t.forge, t.rules, snap).await?;
            decision = policy::evaluate(t.rules, snap);
        }
        self.command_notes(&key, t.rules, &mut decision).await?;
        Ok(decision)
    }

    /// The comments the run's events are about, oldest first; on reconcile also every comment
    /// of the change with a command line not recorded yet (a lost webhook's command).
    async fn comment_facts<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
    ) -> Result<Vec<CommentFact>> {
        let events = t.job.covered.iter().chain(std::iter::once(t.job.event));
        let mut facts: Vec<CommentFact> = events
            .clone()
            .filter_map(Event::change)
            .filter_map(|e| e.comment.clone())
            .collect();
        if !events.clone().any(|e| e.event_name == "reconcile") {
            return Ok(facts);
        }
        let Some(prefix) = t.rules.commands.as_ref().map(|c| c.prefix.as_str()) else {
            return Ok(facts);
        };
        let source = match snap.change.forge {
            crate::model::Forge::Github => CommentSource::IssueComment,
            crate::model::Forge::Gitlab => CommentSource::Note,
        };
        for c in t.forge.comments(t.r).await? {
            if commands::commands(&c.body, prefix).is_empty()
                || facts.iter().any(|f| f.source == source && f.id == c.id)
            {
                continue;
            }
            facts.push(CommentFact {
                id: c.id,
                source,
                change: CommentChange::Created,
                body: c.body,
                author: c.author.clone(),
                at: c.at,
                url: c.url,
                by: Some(c.author),
                // Edited before changegate read it: what it said when written is unknown.
                ignored: c.ignored.or_else(|| {
                    c.edited.then(|| {
                        "edited before changegate read it: commands added by an edit grant nothing; write a new comment".to_string()
                    })
                }),
                node_id: c.node_id,
            });
        }
        Ok(facts)
    }

    /// One comment event: its new commands, or what its edit, deletion or dismissal takes back.
    async fn take_comment<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        fact: &CommentFact,
        prefix: &str,
    ) -> Result<()> {
        if snap
            .bot
            .as_ref()
            .is_some_and(|b| b.same_as(&fact.author) == Some(true))
        {
            return Ok(());
        }
        let key = key_of(&snap.change);
        match fact.change {
            CommentChange::Deleted => {
                let by = fact.by.as_ref().map(User::mention).unwrap_or_default();
                let why = format!("its comment was deleted {by}")
                    .trim_end()
                    .to_string();
                self.withdraw_comment(t, snap, fact.source, fact.id, &why)
                    .await
            }
            CommentChange::Dismissed => {
                self.withdraw_comment(t, snap, fact.source, fact.id, "its review was dismissed")
                    .await
            }
            CommentChange::Edited => self.take_edit(t, snap, fact, prefix, &key).await,
            CommentChange::Created => self.take_commands(t, snap, fact, prefix, &key).await,
        }
    }

    /// An edit keeps what the comment gave only when its author made it and every command
    /// line that gave an approval is still there, unchanged; commands it adds grant nothing.
    async fn take_edit<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        fact: &CommentFact,
        prefix: &str,
        key: &str,
    ) -> Result<()> {
        let given = snap
            .comment_approvals
            .iter()
            .any(|g| g.source == fact.source && g.id_is(fact.id));
        let by_author = fact
            .by
            .as_ref()
            .is_some_and(|b| b.same_as(&fact.author) == Some(true));
        let lines = commands::commands(&fact.body, prefix);
        let recorded = self.store.comment_lines(key, fact.source, fact.id).await?;
        if given {
            // The exact lines that gave approvals, as recorded; a line recorded cut short
            // (longer than a record keeps) is never found again: the approval goes.
            let still = recorded
                .iter()
                .filter(|r| r.accepted && r.kind == "approve")
                .all(|r| lines.iter().any(|l| l.text == r.text));
            if by_author && still {
                let sha = commands::body_sha(&fact.body);
                self.store
                    .remember_comment_body(key, fact.source, fact.id, &sha)
                    .await?;
                for g in snap
                    .comment_approvals
                    .iter_mut()
                    .filter(|g| g.source == fact.source && g.id_is(fact.id))
                {
                    g.body_sha = sha.clone();
                }
            } else {
                let who = fact
                    .by
                    .as_ref()
                    .map(User::mention)
                    .unwrap_or_else(|| "someone".into());
                let why = if by_author {
                    "its comment was edited and no longer holds the command as written".to_string()
                } else {
                    format!("its comment was edited by {who}, who is not its author")
                };
                self.withdraw_comment(t, snap, fact.source, fact.id, &why)
                    .await?;
            }
        }
        // Lines the comment did not hold when it was read are refused: an edit grants nothing.
        if fact.ignored.is_some() {
            return Ok(());
        }
        let added: Vec<(u32, &commands::CommandLine)> = lines
            .iter()
            .enumerate()
            .take(commands::MAX_COMMANDS)
            .filter_map(|(n, l)| Some((u32::try_from(n).ok()?, l)))
            .filter(|(n, _)| {
                recorded.len() <= *n as usize && !recorded.iter().any(|r| r.line == *n)
            })
            .collect();
        if added.is_empty() || !self.may_show(t, snap, &fact.author, added.len()).await? {
            return Ok(());
        }
        for (n, line) in added {
            let kind = line
                .command
                .as_ref()
                .map(Command::kind)
                .unwrap_or("invalid");
            let record = self.record_of(fact, &fact.author, n, kind, &line.text, Err(
                "added by an edit: commands added by editing a comment grant nothing; write a new comment".into(),
            ));
            self.keep_command(t, key, &record, CommandEffect::None)
                .await?;
        }
        Ok(())
    }

    /// Whether commands by `person` are recorded and their refusals shown: the change's
    /// author's and approver-group members'. Anyone else's are only counted, so that a
    /// stranger's comments never make the bot write (`lines`: how many were read).
    async fn may_show<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        person: &User,
        lines: usize,
    ) -> Result<bool> {
        if snap.change.author.same_as(person) == Some(true) {
            return Ok(true);
        }
        let questions: Vec<(String, User)> = t
            .rules
            .groups
            .iter()
            .map(|g| (g.name.clone(), person.clone()))
            .collect();
        self.answer(t.forge, t.rules, snap, questions).await?;
        if policy::commands::in_some_group(t.rules, snap, person) {
            return Ok(true);
        }
        metrics::counter!(crate::telemetry::COMMANDS_IGNORED, "why" => "not_an_approver")
            .increment(u64::try_from(lines).unwrap_or(u64::MAX));
        tracing::info!(
            lines,
            "commands from someone neither the author nor in an approver group: counted, not recorded"
        );
        Ok(false)
    }

    /// The command lines of a new comment (at most [`commands::MAX_COMMANDS`]; one more is
    /// recorded as refused and the rest are not read), each judged and recorded (lines
    /// recorded before are done), then the reaction for a member of some approver group.
    async fn take_commands<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        fact: &CommentFact,
        prefix: &str,
        key: &str,
    ) -> Result<()> {
        let lines = commands::commands(&fact.body, prefix);
        let recorded: Vec<u32> = self
            .store
            .comment_lines(key, fact.source, fact.id)
            .await?
            .into_iter()
            .map(|r| r.line)
            .collect();
        let new: Vec<(u32, &commands::CommandLine)> = lines
            .iter()
            .enumerate()
            .take(commands::MAX_COMMANDS + 1)
            .filter_map(|(n, l)| Some((u32::try_from(n).ok()?, l)))
            .filter(|(n, _)| !recorded.contains(n))
            .collect();
        let person = fact.author.clone();
        if new.is_empty() || !self.may_show(t, snap, &person, new.len()).await? {
            return Ok(());
        }
        for (n, line) in new {
            let kind = line
                .command
                .as_ref()
                .map(Command::kind)
                .unwrap_or("invalid");
            let refused = if let Some(why) = &fact.ignored {
                Some(why.clone())
            } else if n as usize >= commands::MAX_COMMANDS {
                Some(format!(
                    "at most {} commands per comment are read; this one and any after it were not",
                    commands::MAX_COMMANDS
                ))
            } else {
                line.command.as_ref().err().cloned()
            };
            match (refused, &line.command) {
                (Some(why), _) => {
                    let record = self.record_of(fact, &person, n, kind, &line.text, Err(why));
                    self.keep_command(t, key, &record, CommandEffect::None)
                        .await?;
                }
                (None, Ok(command)) => {
                    self.take_command(t, snap, fact, n, &line.text, command, key)
                        .await?;
                }
                (None, Err(_)) => {}
            }
        }
        if fact.ignored.is_none() {
            self.acknowledge(t, snap, fact).await?;
        }
        Ok(())
    }

    pub(super) fn record_of(
        &self,
        fact: &CommentFact,
        person: &User,
        line: u32,
        kind: &str,
        text: &str,
        outcome: Result<(), String>,
    ) -> CommandRecord {
        CommandRecord {
            kind: kind.to_string(),
            text: text.chars().take(300).collect(),
            person: person.clone(),
            at: fact.at.unwrap_or_else(|| self.store.clock().now()),
            source: fact.source,
            comment_id: fact.id,
            line,
            url: fact.url.clone(),
            accepted: outcome.is_ok(),
            reason: outcome.err(),
        }
    }

    /// Records the command (and what it does) durably, then its audit record. False when the
    /// line was recorded before.
    pub(super) async fn keep_command<F: Forge>(
        &self,
        t: &Target<'_, F>,
        key: &str,
        record: &CommandRecord,
        effect: CommandEffect<'_>,
    ) -> Result<bool> {
        let new = self.store.record_command(key, record, effect).await?;
        if new {
            tracing::info!(
                kind = record.kind,
                accepted = record.accepted,
                comment = record.comment_id,
                "comment command"
            );
            self.record(t.job, "comment_command", Some(&t.rules.hash), record)
                .await?;
        }
        Ok(new)
    }

    /// Withdraws what a comment gave, with an audit record for each approval.
    pub(super) async fn withdraw_comment<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        source: CommentSource,
        id: u64,
        why: &str,
    ) -> Result<()> {
        let key = key_of(&snap.change);
        let gone = self.store.withdraw_comment(&key, source, id, why).await?;
        for approval in gone {
            tracing::info!(role = approval.role, why, "approval by comment withdrawn");
            let detail = CommentWithdrawal {
                approval,
                why: why.to_string(),
            };
            self.record(
                t.job,
                "comment_approval_withdrawn",
                Some(&t.rules.hash),
                &detail,
            )
            .await?;
        }
        snap.comment_approvals
            .retain(|g| !(g.source == source && g.id_is(id)));
        Ok(())
    }

    /// A reaction on the command's comment, for members of some approver group only:
    /// strangers cannot make the bot write.
    async fn acknowledge<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &mut Snapshot,
        fact: &CommentFact,
    ) -> Result<()> {
        let questions: Vec<(String, User)> = t
            .rules
            .groups
            .iter()
            .map(|g| (g.name.clone(), fact.author.clone()))
            .collect();
        self.answer(t.forge, t.rules, snap, questions).await?;
        if !policy::commands::in_some_group(t.rules, snap, &fact.author) || self.dry_run {
            return Ok(());
        }
        if let Err(e) = t.forge.react(t.r, fact.source, fact.id).await {
            if e.is_retryable() {
                return Err(e.into());
            }
            tracing::warn!(error = %e, "cannot react to the command's comment");
        }
        Ok(())
    }
}

impl CommentApproval {
    fn id_is(&self, id: u64) -> bool {
        self.comment_id == id
    }
}
