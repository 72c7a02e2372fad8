//! Label history over REST: the issue events, which name each label as it was when applied,
//! and the repository labels' node ids, by which GraphQL's history is matched to names.

use super::GithubClient;
use super::wire::{WireIssueEvent, WireUser, time};
use crate::forge::{ChangeRef, ForgeError};
use crate::model::{History, Label, LabelEvent};
use serde::Deserialize;

impl GithubClient {
    /// [`crate::forge::Forge::project_label_nodes`]: (name, node id) of each repository label.
    pub(super) async fn repo_label_nodes(
        &self,
        r: &ChangeRef,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        if let Some(labels) = self.snapshot_part(r, |s| s.repo_labels.clone()) {
            return Ok(labels);
        }
        #[derive(Deserialize)]
        struct WireRepoLabel {
            name: String,
            node_id: Option<String>,
        }
        let url = format!("{}/repos/{}/labels", self.api, r.repo.path);
        let labels: Vec<WireRepoLabel> = self
            .list_conditional(&url, "list the repository's labels")
            .await?;
        Ok(labels
            .into_iter()
            .filter_map(|l| Some((l.name, l.node_id?)))
            .collect())
    }

    /// [`crate::forge::Forge::label_events_as_applied`]: the issue events, read far enough
    /// back to hold the latest application of each of `current`.
    pub(super) async fn issue_label_events(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> Result<History, ForgeError> {
        let url = self.repo_url(r, &format!("/issues/{}/events", r.number));
        let read = crate::forge::read_history(
            "label history",
            |n| self.page::<WireIssueEvent>(&url, n, "read label history"),
            |events| {
                crate::model::holds_latest(
                    current,
                    events.iter().filter_map(|e| {
                        let name = e.label.as_ref()?.name.as_str();
                        Some((name, e.event == "labeled"))
                    }),
                )
            },
        )
        .await;
        let (events, cut) = match read {
            Err(ForgeError::NotFound(_)) => (vec![], false),
            other => other?,
        };
        let gaps = crate::forge::cut_gap(cut, events.first().and_then(|e| time(&e.created_at)));
        let retargeted_at = events
            .iter()
            .filter(|e| e.event == "base_ref_changed")
            .filter_map(|e| time(&e.created_at))
            .max();
        let labels = events
            .into_iter()
            .filter(|e| e.event == "labeled" || e.event == "unlabeled")
            .filter_map(|e| {
                Some(LabelEvent {
                    label: Label::new(&e.label?.name),
                    added: e.event == "labeled",
                    actor: e.actor.as_ref().map(WireUser::user).unwrap_or_default(),
                    at: time(&e.created_at),
                })
            })
            .collect();
        Ok(History {
            // GitHub's events keep the label's name as it was when applied.
            label_ids: vec![],
            label_node_ids: vec![],
            label_node_edited_at: vec![],
            labels,
            retargeted_at,
            gaps,
        })
    }
}
