//! A dry run without the forge (no token): each payload is judged with the history the bot
//! received for its change (every labeled/unlabeled delivery's sender, and when it arrived),
//! so that replaying a real sequence of webhooks shows the change as the forge would. What
//! was never received is unknown, as the forge's own history would be to a bot that missed it.

use super::{Worker, describe};
use crate::actions::{self, PlannedAction};
use crate::policy::{self, Snapshot};
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;

/// Opens the sticky comment a dry run would write, so that nobody reads it as written.
pub const DRY_RUN_NOTE: &str =
    "> **Dry run**: changegate wrote nothing to the forge; this is what it would write.";

impl Worker {
    /// Without a client for the forge: evaluate the payload with the received history and
    /// log (and record) what would be done.
    pub(super) async fn offline(
        &self,
        job: &super::enforce::JobContext<'_>,
        rules: &Rules,
    ) -> Result<()> {
        let mut snapshot =
            Snapshot::from_event(job.change, self.store.clock().now()).offline_link(rules);
        let lent = self
            .received
            .apply(
                &self.store,
                &key_of(&job.change.change),
                job.received_at,
                &mut snapshot,
            )
            .await?;
        let decision = policy::evaluate(rules, &snapshot);
        self.record_decision(job, rules, &snapshot, &decision, "payload")
            .await?;
        let known = actions::Known::default();
        let forge = job.change.change.forge.display_name();
        for action in actions::plan(&snapshot, &decision, &known, &self.status_context) {
            let action = marked_dry_run(action);
            let target_url = match &action {
                PlannedAction::SetStatus { .. } => self.details_url(&snapshot.change),
                _ => None,
            };
            match &target_url {
                Some(url) => {
                    tracing::info!(action = %describe(&action), target_url = %url, "dry run (no {forge} token): would call the forge")
                }
                None => {
                    tracing::info!(action = %describe(&action), "dry run (no {forge} token): would call the forge")
                }
            }
            let detail = crate::evidence::ActionEvidence {
                planned: action,
                dry_run: true,
                result: None,
                error: None,
                target_url,
            };
            self.record(job, "action", Some(&rules.hash), &detail)
                .await?;
        }
        self.received.keep(lent, &mut snapshot);
        Ok(())
    }
}

/// A comment as a dry run records it: opened by [`DRY_RUN_NOTE`].
pub fn marked_dry_run(action: PlannedAction) -> PlannedAction {
    match action {
        PlannedAction::UpsertComment { body } if !body.contains(DRY_RUN_NOTE) => {
            PlannedAction::UpsertComment {
                body: format!("{DRY_RUN_NOTE}\n\n{body}"),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, ChangeEvent, Event, EventPayload, Forge, Label, User};
    use chrono::Utc;

    /// The snapshot's history from the deliveries received about its change (`received`, oldest
    /// first, with when each arrived): labels added and removed by each delivery's sender, the
    /// latest review of each reviewer, and the latest push.
    fn with_received_history(snap: &mut Snapshot, received: &[(i64, Event)]) {
        let mut history = crate::worker::received::ReceivedHistory::default();
        for (at, event) in received {
            history.add(snap.change.kind, snap.change.number, *at, event);
        }
        history.apply(snap);
    }

    fn event(action: Action, added: &[&str], removed: &[&str], by: &str) -> Event {
        let change = crate::model::Change {
            forge: Forge::Github,
            repo: crate::model::Repo {
                path: crate::model::RepoPath::new("a/b"),
                id: None,
            },
            kind: crate::model::ChangeKind::MergeRequest,
            number: 1,
            title: String::new(),
            description: String::new(),
            author: User::named("author"),
            labels: vec![],
            head_sha: None,
            source_branch: None,
            target_branch: None,
            target_sha: None,
            draft: false,
            state: crate::model::ChangeState::Open,
            merged_at: None,
            web_url: None,
            updated_at: None,
            comments: None,
        };
        Event {
            forge: Forge::Github,
            delivery_id: None,
            event_name: "pull_request".into(),
            payload: EventPayload::Change(Box::new(ChangeEvent {
                pipeline: None,
                action,
                forge_action: "labeled".into(),
                change,
                actor: User::named(by),
                labels_added: added.iter().map(|l| Label::new(l)).collect(),
                labels_removed: removed.iter().map(|l| Label::new(l)).collect(),
                review: None,
                previous_head_sha: None,
                previous_target_branch: None,
                comment: None,
            })),
        }
    }

    #[test]
    fn each_delivery_gives_its_labels_with_its_sender_and_arrival() {
        let e1 = event(Action::Labeled, &["CMT::Minor"], &[], "author");
        let e2 = event(Action::Labeled, &["Peer Approval::Approved"], &[], "peer");
        let e3 = event(Action::Labeled, &[], &["CMT::Minor"], "author");
        let EventPayload::Change(c) = &e3.payload else {
            unreachable!()
        };
        let mut snap = Snapshot::from_event(c, Utc::now());
        with_received_history(&mut snap, &[(1_000, e1), (2_000, e2.clone()), (3_000, e3)]);
        let seen: Vec<(String, bool, String, i64)> = snap
            .label_events
            .iter()
            .map(|l| {
                (
                    l.label.to_string(),
                    l.added,
                    l.actor.username.clone().unwrap(),
                    l.at.unwrap().timestamp_millis(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("CMT::Minor".into(), true, "author".into(), 1_000),
                ("Peer Approval::Approved".into(), true, "peer".into(), 2_000),
                ("CMT::Minor".into(), false, "author".into(), 3_000),
            ]
        );
    }

    #[test]
    fn another_changes_deliveries_give_nothing() {
        let mut other = event(Action::Labeled, &["Peer Approval::Approved"], &[], "peer");
        if let EventPayload::Change(c) = &mut other.payload {
            c.change.number += 1;
        }
        let mine = event(Action::Labeled, &["CMT::Minor"], &[], "author");
        let EventPayload::Change(c) = &mine.payload else {
            unreachable!()
        };
        let mut snap = Snapshot::from_event(c, Utc::now());
        with_received_history(&mut snap, &[(1, other), (2, mine.clone())]);
        assert_eq!(snap.label_events.len(), 1);
        assert_eq!(snap.label_events[0].label.to_string(), "CMT::Minor");
    }

    #[test]
    fn a_dry_run_comment_says_so_once() {
        let a = marked_dry_run(PlannedAction::UpsertComment {
            body: "hello".into(),
        });
        let PlannedAction::UpsertComment { body } = marked_dry_run(a) else {
            unreachable!()
        };
        assert!(body.starts_with(DRY_RUN_NOTE));
        assert_eq!(body.matches("Dry run").count(), 1);
    }
}
