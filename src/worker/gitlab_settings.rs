//! A project's blocks as GitLab reports them: its merge settings (cached for an evaluation
//! that fails anyway, read afresh for one that would pass), changegate's own external status
//! check, the metric of blocks found off, and the fan-out of a branch pipeline to the merge
//! requests whose head it runs on.

use super::Worker;
use crate::forge::gitlab::{ExternalCheck, GitlabClient, MergeSettings};
use crate::forge::{Forge, ForgeError};
use crate::policy::{BlockFacts, CheckFacts};
use anyhow::Result;

impl Worker {
    /// The project's merge settings: reused for up to `gitlab.merge_settings_ttl_secs` while the
    /// verdict fails anyway; read afresh for a verdict that would pass, since a pass GitLab
    /// would not enforce must not be written on a stale answer.
    pub(super) async fn merge_settings(
        &self,
        gl: &GitlabClient,
        repo: &crate::model::Repo,
        would_pass: bool,
    ) -> Result<MergeSettings> {
        let key = repo
            .id
            .map_or_else(|| repo.path.as_str().to_string(), |id| id.to_string());
        let now = self.store.clock().now_ms();
        let ttl = i64::try_from(self.gitlab_blocks.settings_ttl.as_millis()).unwrap_or(i64::MAX);
        if !would_pass
            && let Ok(cache) = self.gitlab_blocks.settings.lock()
            && let Some((at, s)) = cache.get(&key)
            && now
                .checked_sub(*at)
                .is_some_and(|age| (0..ttl).contains(&age))
        {
            return Ok(s.clone());
        }
        let read = match gl.merge_settings(repo).await {
            Ok(s) => s,
            // A token that may not read the project: nothing is known, so nothing is on.
            Err(ForgeError::NotFound(_) | ForgeError::Refused { .. }) => MergeSettings::default(),
            Err(e) => return Err(e.into()),
        };
        if let Ok(mut cache) = self.gitlab_blocks.settings.lock() {
            cache.insert(key, (now, read.clone()));
        }
        Ok(read)
    }

    /// changegate's own external status check on the project: the one GitLab calls at
    /// changegate's URL, never one named by a request.
    pub(super) async fn own_check(
        &self,
        gl: &GitlabClient,
        repo: &crate::model::Repo,
    ) -> Result<Option<ExternalCheck>> {
        let Some(url) = self.gitlab_blocks.check_url.as_deref() else {
            return Ok(None);
        };
        Ok(gl
            .external_checks(repo)
            .await?
            .into_iter()
            .find(|c| c.external_url.trim_end_matches('/') == url))
    }
}

/// Counts each block found off, by a closed set of names.
pub(super) fn count_off(f: &BlockFacts) {
    let mut off: Vec<&'static str> = vec![];
    if f.pipeline_must_succeed != Some(true) {
        off.push("pipeline_must_succeed");
    }
    if f.skipped_pipeline_allowed != Some(false) {
        off.push("skipped_pipeline");
    }
    if let Some(c) = &f.status_check {
        if !c.registered {
            off.push("status_check_registered");
        } else if !c.covers_target {
            off.push("status_check_branch");
        }
        if c.must_pass != Some(true) {
            off.push("status_checks_must_pass");
        }
    }
    for block in off {
        metrics::counter!(crate::telemetry::GITLAB_SETTINGS_OFF, "block" => block).increment(1);
    }
}

impl Worker {
    /// A branch pipeline names no merge request: each open merge request whose head is the
    /// pipeline's commit is evaluated, which puts changegate's status into the pipeline.
    pub(super) async fn pipeline_fan_out(&self, job: &crate::store::Job) -> Result<()> {
        let Some(connected) = self.forges.get(crate::model::Forge::Gitlab) else {
            return Ok(());
        };
        let events = std::iter::once(&job.event).chain(job.covered.iter());
        for c in events.filter_map(crate::model::Event::change) {
            let Some(sha) = c.change.head_sha.as_deref() else {
                continue;
            };
            let listed = connected
                .client
                .open_changes_with_head(&c.change.repo, sha)
                .await?;
            for (number, target) in listed {
                let mut event = c.clone();
                event.change.number = number;
                event.change.target_branch = target;
                let queued = crate::model::Event {
                    forge: crate::model::Forge::Gitlab,
                    delivery_id: Some(format!("pipeline:{}:{sha}:{number}", job.id)),
                    event_name: "Pipeline Hook".into(),
                    payload: crate::model::EventPayload::Change(Box::new(event)),
                };
                self.store.enqueue(&queued).await?;
            }
        }
        Ok(())
    }
}

impl Worker {
    /// What GitLab says of a project's blocks, read afresh (`changegate explain`); `None`
    /// on another forge. With a merge request and its head, also whether the pipeline GitLab
    /// gates it on can hold changegate's status.
    pub async fn gitlab_block_facts<F: Forge>(
        &self,
        forge: &F,
        repo: &crate::model::Repo,
        target: Option<&str>,
        change: Option<(&crate::forge::ChangeRef, &str)>,
    ) -> Result<Option<BlockFacts>> {
        let Some(gl) = forge.gitlab() else {
            return Ok(None);
        };
        let mut facts = self.block_facts(gl, repo, target, true).await?.0;
        if let Some((r, head)) = change {
            let found = self.gate_of(gl, r, repo, head).await?;
            facts.pipeline_gate = found.missing.map(|m| m.reason);
        }
        Ok(Some(facts))
    }

    /// The project's blocks (settings read afresh when `fresh`, else perhaps cached) and
    /// changegate's own status check when `gitlab.status_checks` is on.
    pub(super) async fn block_facts(
        &self,
        gl: &GitlabClient,
        repo: &crate::model::Repo,
        target: Option<&str>,
        fresh: bool,
    ) -> Result<(BlockFacts, Option<ExternalCheck>)> {
        let settings = self.merge_settings(gl, repo, fresh).await?;
        let check = match self.gitlab_blocks.status_checks {
            true => self.own_check(gl, repo).await?,
            false => None,
        };
        let facts = BlockFacts {
            pipeline_must_succeed: settings.only_allow_merge_if_pipeline_succeeds,
            skipped_pipeline_allowed: settings.allow_merge_on_skipped_pipeline,
            status_check: self.gitlab_blocks.status_checks.then(|| CheckFacts {
                registered: check.is_some(),
                covers_target: check
                    .as_ref()
                    .is_some_and(|c| crate::policy::check_covers(&c.branches, target)),
                must_pass: settings.only_allow_merge_if_all_status_checks_passed,
            }),
            pipeline_gate: None,
        };
        Ok((facts, check))
    }
}
