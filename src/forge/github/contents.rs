//! A file on the default branch (`GET …/contents/{path}`), as the repository rules are read.

use super::GithubClient;
use super::client::enc;
use crate::forge::{ForgeError, RepoFile};
use crate::model::Repo;
use ::http::Method;
use serde::Deserialize;

impl GithubClient {
    /// [`crate::forge::Forge::repo_file`]: `None` when the file is not there.
    pub(super) async fn read_repo_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> Result<Option<RepoFile>, ForgeError> {
        #[derive(Deserialize)]
        struct Contents {
            content: Option<String>,
            sha: String,
        }
        let encoded: Vec<String> = path.split('/').map(enc).collect();
        let url = format!(
            "{}/repos/{}/contents/{}",
            self.api,
            repo.path,
            encoded.join("/")
        );
        let reply = match self
            .call(true, Method::GET, &url, None, "read the repository rules")
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let c: Contents = reply.json()?;
        crate::forge::decode_file(c.content.as_deref().unwrap_or(""), c.sha).map(Some)
    }
}
