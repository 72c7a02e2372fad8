//! The repository itself: its default branch (`GET /repos/{o}/{r}`), which a deployment
//! entry without `branches` deploys from when the question does not say it.

use super::GithubClient;
use crate::forge::ForgeError;
use crate::model::Repo;
use serde::Deserialize;

impl GithubClient {
    /// `GET /repos/{o}/{r}`: `default_branch`; `None` when GitHub names none (an empty
    /// repository). A repository GitHub does not show is `NotFound`, never "no branch".
    pub(super) async fn repository_default_branch(
        &self,
        repo: &Repo,
    ) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Repository {
            default_branch: Option<String>,
        }
        let url = format!("{}/repos/{}", self.api, repo.path);
        let r: Repository = self
            .get_conditional(&url, "read the repository")
            .await?
            .json()?;
        Ok(r.default_branch.filter(|b| !b.trim().is_empty()))
    }
}
