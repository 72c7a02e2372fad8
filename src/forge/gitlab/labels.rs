//! The project's labels, for `changegate labels`: list (with its groups' labels, which are
//! left alone), create, update (colour and description; GitLab REST `projects/:id/labels`).

use super::GitlabClient;
use crate::forge::{ChangeRef, ForgeError};
use crate::label_sync::{ExistingLabel, WantedLabel};
use crate::model::{ChangeKind, Repo};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct WireLabel {
    id: u64,
    name: String,
    color: String,
    description: Option<String>,
    /// False for a parent group's label.
    #[serde(default = "yes")]
    is_project_label: bool,
}

fn yes() -> bool {
    true
}

impl GitlabClient {
    fn labels_url(&self, repo: &Repo) -> String {
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        format!("{}/labels", self.project(&r))
    }

    pub async fn repo_labels(&self, repo: &Repo) -> Result<Vec<ExistingLabel>, ForgeError> {
        let url = format!("{}?include_ancestor_groups=true", self.labels_url(repo));
        let labels: Vec<WireLabel> = self.list(&url, "list the project's labels").await?;
        Ok(labels
            .into_iter()
            .map(|l| ExistingLabel {
                name: l.name,
                color: l.color,
                description: l.description,
                id: Some(l.id),
                inherited: !l.is_project_label,
            })
            .collect())
    }

    pub async fn create_label(&self, repo: &Repo, l: &WantedLabel) -> Result<(), ForgeError> {
        let body = json!({
            "name": l.name,
            "color": format!("#{}", l.color),
            "description": l.description,
        });
        self.call(
            false,
            reqwest::Method::POST,
            &self.labels_url(repo),
            Some(body),
            "create a label",
        )
        .await
        .map(drop)
    }

    /// Sets the colour and description of the label `existing` (by its id).
    pub async fn update_label(
        &self,
        repo: &Repo,
        existing: &ExistingLabel,
        l: &WantedLabel,
    ) -> Result<(), ForgeError> {
        let Some(id) = existing.id else {
            return Err(ForgeError::Decode(format!(
                "label `{}` was listed without an id",
                existing.name
            )));
        };
        let url = format!("{}/{id}", self.labels_url(repo));
        let body = json!({ "color": format!("#{}", l.color), "description": l.description });
        self.call(
            true,
            reqwest::Method::PUT,
            &url,
            Some(body),
            "update a label",
        )
        .await
        .map(drop)
    }
}
