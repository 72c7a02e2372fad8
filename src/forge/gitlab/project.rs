//! The project itself: its default branch (`GET /projects/:id`), which a deployment entry
//! without `branches` deploys from when the question does not say it.

use super::GitlabClient;
use crate::forge::ForgeError;
use crate::model::Repo;
use reqwest::Method;
use serde::Deserialize;

impl GitlabClient {
    /// `GET /projects/:id`: `default_branch`; `None` when GitLab names none (an empty
    /// project). A project GitLab does not show is `NotFound`, never "no branch".
    pub(super) async fn project_default_branch(
        &self,
        repo: &Repo,
    ) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Project {
            default_branch: Option<String>,
        }
        let url = self.project_of(repo);
        let p: Project = self
            .call(true, Method::GET, &url, None, "read the project")
            .await?
            .json()?;
        Ok(p.default_branch.filter(|b| !b.trim().is_empty()))
    }
}
