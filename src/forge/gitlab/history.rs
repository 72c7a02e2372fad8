//! Label history: a change's resource label events, which name labels by id, and the
//! project's labels (with its groups') as named now, by which those ids are told.

use super::GitlabClient;
use super::wire::{WireLabelEvent, WireUser};
use crate::forge::{ChangeRef, ForgeError};
use crate::model::{ChangeKind, History, Label, LabelEvent, Repo};
use serde::Deserialize;

impl GitlabClient {
    /// [`crate::forge::Forge::project_labels`]: (name, id) of each label the project sees.
    pub(super) async fn project_label_ids(
        &self,
        repo: &Repo,
    ) -> Result<Vec<(String, u64)>, ForgeError> {
        #[derive(Deserialize)]
        struct WireProjectLabel {
            id: u64,
            name: String,
        }
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        // Group labels too: a project's merge requests may carry them.
        let url = format!("{}/labels?include_ancestor_groups=true", self.project(&r));
        let labels: Vec<WireProjectLabel> = self.list(&url, "list the project's labels").await?;
        Ok(labels.into_iter().map(|l| (l.name, l.id)).collect())
    }

    /// [`crate::forge::Forge::label_events`]: read far enough back to hold the latest
    /// application of each of `current`.
    pub(super) async fn read_label_events(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> Result<History, ForgeError> {
        let url = format!("{}/resource_label_events", self.change_url(r));
        let read = crate::forge::read_history(
            "label history",
            |n| self.page::<WireLabelEvent>(&url, n, "read label history"),
            |events| {
                crate::model::holds_latest(
                    current,
                    events
                        .iter()
                        .filter_map(|e| Some((e.label.as_ref()?.name.as_str(), e.action == "add"))),
                )
            },
        )
        .await;
        let (events, cut) = match read {
            Err(ForgeError::NotFound(_)) => (vec![], false),
            other => other?,
        };
        let mut gaps = crate::forge::cut_gap(cut, events.first().and_then(|e| e.created_at));
        // A deleted label's events name no label: what they applied or removed, and so the
        // labels at any time before them, cannot be told.
        let blank = events.iter().filter(|e| e.label.is_none()).count();
        if blank > 0 {
            gaps.push(crate::model::Gap {
                what: format!("{blank} label events of a deleted label"),
                before: None,
            });
        }
        let (labels, label_ids) = events
            .into_iter()
            .filter_map(|e| {
                // A deleted label's events have no label: nothing to attribute.
                let label = e.label?;
                let event = LabelEvent {
                    label: Label::new(&label.name),
                    added: e.action == "add",
                    actor: e.user.as_ref().map(WireUser::user).unwrap_or_default(),
                    at: e.created_at,
                };
                Some((event, label.id))
            })
            .unzip();
        // GitLab keeps no event for a retarget; the webhook and the bot's memory tell it.
        Ok(History {
            labels,
            retargeted_at: None,
            gaps,
            label_ids,
            label_node_ids: vec![],
            label_node_edited_at: vec![],
        })
    }
}
