//! A file on the default branch (`…/repository/files/:path?ref=HEAD`), as the repository
//! rules are read.

use super::GitlabClient;
use super::client::enc;
use crate::forge::{ChangeRef, ForgeError, RepoFile};
use crate::model::{ChangeKind, Repo};
use serde::Deserialize;

impl GitlabClient {
    /// [`crate::forge::Forge::repo_file`]: `None` when the file is not there.
    pub(super) async fn read_repo_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> Result<Option<RepoFile>, ForgeError> {
        #[derive(Deserialize)]
        struct File {
            content: String,
            blob_id: String,
        }
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        // `HEAD` is the default branch.
        let url = format!(
            "{}/repository/files/{}?ref=HEAD",
            self.project(&r),
            enc(path)
        );
        let Some(reply) = self.get_found(&url, "read the repository rules").await? else {
            return Ok(None);
        };
        let f: File = reply.json()?;
        crate::forge::decode_file(&f.content, f.blob_id).map(Some)
    }
}
