//! The repository's labels, for `changegate labels`: list, create, update (name, colour and
//! description; GitHub REST `…/labels`).

use super::GithubClient;
use super::client::enc;
use crate::forge::{ChangeRef, ForgeError};
use crate::label_sync::{ExistingLabel, WantedLabel};
use crate::model::{ChangeKind, Repo};
use ::http::Method;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct WireLabel {
    name: String,
    color: String,
    description: Option<String>,
}

fn repo_ref(repo: &Repo) -> ChangeRef {
    ChangeRef {
        repo: repo.clone(),
        kind: ChangeKind::MergeRequest,
        number: 0,
    }
}

impl GithubClient {
    pub async fn repo_labels(&self, repo: &Repo) -> Result<Vec<ExistingLabel>, ForgeError> {
        let url = self.repo_url(&repo_ref(repo), "/labels");
        let labels: Vec<WireLabel> = self
            .list_conditional(&url, "list the repository's labels")
            .await?;
        Ok(labels
            .into_iter()
            .map(|l| ExistingLabel {
                name: l.name,
                color: l.color,
                description: l.description,
                id: None,
                inherited: false,
            })
            .collect())
    }

    pub async fn create_label(&self, repo: &Repo, l: &WantedLabel) -> Result<(), ForgeError> {
        let url = self.repo_url(&repo_ref(repo), "/labels");
        let body = json!({ "name": l.name, "color": l.color, "description": l.description });
        self.call(false, Method::POST, &url, Some(body), "create a label")
            .await
            .map(drop)
    }

    /// Sets the colour and description of the label named `existing` (and its name's case).
    pub async fn update_label(
        &self,
        repo: &Repo,
        existing: &ExistingLabel,
        l: &WantedLabel,
    ) -> Result<(), ForgeError> {
        let url = self.repo_url(&repo_ref(repo), &format!("/labels/{}", enc(&existing.name)));
        let body = json!({ "new_name": l.name, "color": l.color, "description": l.description });
        self.call(true, Method::PATCH, &url, Some(body), "update a label")
            .await
            .map(drop)
    }
}
