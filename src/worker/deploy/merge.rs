//! A merged change's verdict at merge, recorded at its first evaluation after the merge from
//! changegate's own memory: its last verdict while open, on the head that merged. Nothing
//! is recorded when that memory is missing or was on another head: a deployment then
//! evaluates the change as of its merge.

use crate::model::{Change, ChangeKind, ChangeState};
use crate::store::{MergeRecord, key_of};
use anyhow::Result;

impl super::super::Worker {
    pub(in crate::worker) async fn note_merge_verdict(&self, change: &Change) -> Result<()> {
        if change.state != ChangeState::Merged || change.kind != ChangeKind::MergeRequest {
            return Ok(());
        }
        let repo = change.repo.path.as_str();
        if self
            .store
            .merge_verdict(change.forge, repo, change.number)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let Some(v) = self.store.remembered_verdict(&key_of(change)).await? else {
            return Ok(());
        };
        if !v.open || change.head_sha.as_deref() != Some(v.sha.as_str()) {
            return Ok(());
        }
        let short = v.sha.get(..12).unwrap_or(&v.sha);
        let how = if v.pass {
            format!("its status passed on {short} when it merged")
        } else {
            format!("it merged while its status failed on {short}")
        };
        let record = MergeRecord {
            target_branch: change.target_branch.clone(),
            head_sha: Some(v.sha.clone()),
            pass: v.pass,
            how,
        };
        self.store
            .record_merge_verdict(change.forge, repo, change.number, &record)
            .await
    }
}
