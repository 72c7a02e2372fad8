//! GitLab's blocks, kept true at every evaluation of an open merge request. Free tier: the
//! project's merge settings are checked (a verdict GitLab would not enforce fails, saying
//! which setting to turn on), the head's statuses under changegate's name are read back in
//! every pipeline and ref (one written by anyone else is overwritten, and the comment and the
//! audit log say who wrote it), and the verdict goes into the merge request's newest pipeline
//! (`pipeline_id`), which is what "Pipelines must succeed" reads. `pending` is written the
//! moment a head arrives. Ultimate: `status_checks.rs`.

use super::Worker;
use super::execute::Target;
use crate::actions::{PlannedAction, StatusState};
use crate::forge::gitlab::{ExternalCheck, GitlabClient, MergeSettings, MrPipeline, NamedStatus};
use crate::forge::{Forge, ForgeError};
use crate::model::{Action, ChangeKind, ChangeState};
use crate::policy::{self, BlockFacts, CheckFacts, Decision, Snapshot, Verdict};
use crate::store::key_of;
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the worker keeps GitLab's blocks (settings `gitlab.*`).
#[derive(Clone)]
pub struct GitlabBlocks {
    /// Ultimate: answer changegate's external status check (`gitlab.status_checks`).
    pub status_checks: bool,
    /// The URL GitLab's check calls: `server.public_url` + the route.
    pub check_url: Option<String>,
    /// How long an evaluation that fails anyway reuses a project's merge settings.
    pub settings_ttl: Duration,
    /// Merge settings per project: (read at, ms; what GitLab said).
    settings: Arc<Mutex<HashMap<String, (i64, MergeSettings)>>>,
}

impl Default for GitlabBlocks {
    fn default() -> Self {
        GitlabBlocks {
            status_checks: false,
            check_url: None,
            settings_ttl: Duration::from_secs(300),
            settings: Arc::default(),
        }
    }
}

impl GitlabBlocks {
    pub fn new(status_checks: bool, public_url: Option<&str>, settings_ttl: Duration) -> Self {
        GitlabBlocks {
            status_checks,
            check_url: public_url.map(|u| {
                format!(
                    "{}{}",
                    u.trim_end_matches('/'),
                    crate::forge::gitlab::STATUS_CHECK_ROUTE
                )
            }),
            settings_ttl,
            settings: Arc::default(),
        }
    }
}

/// What the GitLab pass read before the writes, for the writes.
pub(super) struct GitlabHead {
    /// The merge request's newest pipeline: the one "Pipelines must succeed" reads.
    pub newest: Option<MrPipeline>,
    /// Those written by someone else.
    pub forged: Vec<NamedStatus>,
    /// Those written by the bot's own account (none when the bot does not know its account:
    /// then nothing counts as standing and the status is written at each evaluation).
    pub mine: Vec<NamedStatus>,
    /// changegate's own external status check (Ultimate), when registered.
    pub check: Option<ExternalCheck>,
}

/// An audit record of something written under changegate's name by someone else.
#[derive(Serialize)]
struct Overwritten<'a> {
    what: &'a str,
    /// The account GitLab names as its writer, when it does.
    written_by: Option<String>,
    state: &'a str,
    head: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    git_ref: Option<&'a str>,
}

/// The merge request's head on GitLab, when its blocks apply: an open merge request with a
/// head, through the GitLab client.
pub(super) fn gitlab_mr<'a, F: Forge>(
    t: &'a Target<'_, F>,
    snap: &'a Snapshot,
) -> Option<(&'a GitlabClient, &'a str)> {
    let c = &snap.change;
    let gl = t.forge.gitlab()?;
    (c.kind == ChangeKind::MergeRequest && c.state == ChangeState::Open)
        .then_some(())
        .and(c.head_sha.as_deref())
        .map(|sha| (gl, sha))
}

impl Worker {
    /// Writes `pending` on a merge request's head as soon as the job about its opening or a
    /// push starts (before the long reads): a merge request with no pipeline, or one whose
    /// pipeline already succeeded, could otherwise merge before the verdict is written.
    pub(super) async fn pending_on_arrival<F: Forge>(
        &self,
        t: &Target<'_, F>,
        change: &crate::model::Change,
    ) -> Result<()> {
        let arrived = std::iter::once(t.job.change)
            .chain(t.job.covered.iter().filter_map(crate::model::Event::change))
            .any(|e| matches!(e.action, Action::Opened | Action::Reopened | Action::Pushed));
        let (Some(_), Some(sha)) = (t.forge.gitlab(), change.head_sha.as_deref()) else {
            return Ok(());
        };
        if !arrived
            || change.kind != ChangeKind::MergeRequest
            || change.state != ChangeState::Open
            || !policy::has_status(change)
        {
            return Ok(());
        }
        // The head the bot wrote last is left first: its success is taken back, as the
        // evaluation would (the pending written now becomes the change's last status).
        self.withdraw_left(t, change).await?;
        // Only a head the bot has written nothing on yet: a verdict already there stands.
        let key = key_of(change);
        if self
            .store
            .written_status_at(&key)
            .await?
            .is_some_and(|(written, _, _)| written == sha)
        {
            return Ok(());
        }
        let context = crate::actions::context_for(&self.status_context, change);
        let status = (
            sha,
            StatusState::Pending,
            "changegate is evaluating this head",
        );
        self.write_status(t, change, status, &context, None).await
    }

    /// Before the writes: checks the project's merge settings (and, on Ultimate, changegate's
    /// status check), failing a verdict GitLab would not enforce, and reads the head's
    /// statuses back, noting those someone else wrote.
    pub(super) async fn gitlab_before<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        d: &mut Decision,
    ) -> Result<Option<GitlabHead>> {
        let Some((gl, sha)) = gitlab_mr(t, snap) else {
            return Ok(None);
        };
        if d.verdict == Verdict::NotEnforced || !policy::has_status(&snap.change) {
            return Ok(None);
        }
        let repo = &snap.change.repo;
        let target = snap.change.target_branch.as_deref();
        let (facts, check) = self
            .block_facts(gl, repo, target, d.verdict == Verdict::Pass)
            .await?;
        count_off(&facts);
        policy::forge_blocks(d, &policy::missing_blocks(&facts));
        // The newest pipeline on the head commit ("Pipelines must succeed" reads the merge
        // request's newest); one on another commit is never given this head's verdict.
        let newest = gl
            .mr_pipelines(t.r)
            .await?
            .into_iter()
            .find(|p| p.sha == sha);
        let context = crate::actions::context_for(&self.status_context, &snap.change);
        let statuses = gl.statuses_named(repo, sha, &context).await?;
        let forged: Vec<NamedStatus> = statuses
            .iter()
            // An author GitLab does not name is not the bot's either; without knowing its own
            // account the bot cannot tell, and rewrites its status each evaluation instead.
            .filter(|s| {
                snap.bot
                    .as_ref()
                    .is_some_and(|b| b.same_as(&s.author) != Some(true))
            })
            .cloned()
            .collect();
        let mine: Vec<NamedStatus> = statuses
            .iter()
            .filter(|s| {
                snap.bot
                    .as_ref()
                    .is_some_and(|b| b.same_as(&s.author) == Some(true))
            })
            .cloned()
            .collect();
        for f in &forged {
            let who = named(&f.author);
            d.notes.push(format!(
                "A `{context}` status on this head ({}) was written by {who}, not by changegate: changegate wrote its verdict over it.",
                f.status
            ));
            metrics::counter!(crate::telemetry::GITLAB_OVERWRITES, "what" => "status").increment(1);
            let record = Overwritten {
                what: "status",
                written_by: f.author.username.clone(),
                state: &f.status,
                head: sha,
                pipeline_id: f.pipeline_id,
                git_ref: f.git_ref.as_deref(),
            };
            self.record(t.job, "gitlab_overwrite", Some(&t.rules.hash), &record)
                .await?;
        }
        Ok(Some(GitlabHead {
            newest,
            forged,
            mine,
            check,
        }))
    }

    /// Whether the status `(state, description)` stands on GitLab as the bot wrote it: no
    /// one else's under its name, the bot's own there (by its author, never by its text,
    /// which anyone can copy), and the newest pipeline given it.
    pub(super) async fn gitlab_status_stands(
        &self,
        key: &str,
        head: &GitlabHead,
        (sha, state, description): (&str, StatusState, &str),
    ) -> Result<bool> {
        if !head.forged.is_empty() {
            return Ok(false);
        }
        let name = crate::forge::gitlab::state_name(state);
        let shown = head
            .mine
            .iter()
            .any(|s| s.status == name && s.description == description);
        let pipeline = head.newest.as_ref().map(|p| p.id);
        // GitLab 17 names each status's pipeline; older ones do not, and the bot's record of
        // what it wrote into which pipeline says it.
        let listed = pipeline.is_some()
            && head.mine.iter().any(|s| {
                s.pipeline_id == pipeline && s.status == name && s.description == description
            });
        let given = listed
            || self
                .store
                .pipeline_status(key, pipeline.unwrap_or(0))
                .await?
                == Some((sha.to_string(), name.to_string(), description.to_string()));
        Ok(shown && given)
    }

    /// Writes a status into the newest pipeline, and over each status someone else wrote
    /// under changegate's name (into its own pipeline, or its ref when GitLab does not say
    /// which pipeline holds it); each pipeline given the verdict is remembered.
    pub(super) async fn gitlab_set_status<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        head: &GitlabHead,
        action: &PlannedAction,
        target_url: Option<&str>,
    ) -> Result<()> {
        let (
            Some(gl),
            PlannedAction::SetStatus {
                sha,
                state,
                context,
                description,
            },
        ) = (t.forge.gitlab(), action)
        else {
            return Ok(());
        };
        let key = key_of(&snap.change);
        let repo = &snap.change.repo;
        let status = (sha.as_str(), *state, context.as_str(), description.as_str());
        let pipeline = head.newest.as_ref().map(|p| p.id);
        let call = gl.set_status_in(repo, status, target_url, pipeline, None);
        if self.write(t.job, t.rules, action, call).await?.is_none() {
            return Ok(());
        }
        let name = crate::forge::gitlab::state_name(*state);
        self.store
            .remember_status(&key, (sha, *state, description), context)
            .await?;
        self.store
            .remember_pipeline_status(&key, pipeline.unwrap_or(0), (sha, name, description))
            .await?;
        for f in &head.forged {
            if f.pipeline_id.is_some() && f.pipeline_id == pipeline {
                continue;
            }
            let git_ref = f
                .pipeline_id
                .is_none()
                .then_some(f.git_ref.as_deref())
                .flatten();
            let call = gl.set_status_in(repo, status, target_url, f.pipeline_id, git_ref);
            self.write(t.job, t.rules, action, call).await?;
        }
        Ok(())
    }

    /// The project's merge settings: reused for up to `gitlab.merge_settings_ttl_secs` while the
    /// verdict fails anyway; read afresh for a verdict that would pass, since a pass GitLab
    /// would not enforce must not be written on a stale answer.
    async fn merge_settings(
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

/// An account as the comment names it.
pub(super) fn named(u: &crate::model::User) -> String {
    match (&u.username, u.id) {
        (Some(name), _) => format!("@{name}"),
        (None, Some(id)) => format!("the account with id {id}"),
        (None, None) => "an account GitLab does not name".into(),
    }
}

/// Counts each block found off, by a closed set of names.
fn count_off(f: &BlockFacts) {
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
    /// on another forge.
    pub async fn gitlab_block_facts<F: Forge>(
        &self,
        forge: &F,
        repo: &crate::model::Repo,
        target: Option<&str>,
    ) -> Result<Option<BlockFacts>> {
        let Some(gl) = forge.gitlab() else {
            return Ok(None);
        };
        Ok(Some(self.block_facts(gl, repo, target, true).await?.0))
    }

    /// The project's blocks (settings read afresh when `fresh`, else perhaps cached) and
    /// changegate's own status check when `gitlab.status_checks` is on.
    async fn block_facts(
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
                covers_target: check.as_ref().is_some_and(|c| {
                    c.branches.is_empty()
                        || target.is_some_and(|t| c.branches.iter().any(|b| b == t))
                }),
                must_pass: settings.only_allow_merge_if_all_status_checks_passed,
            }),
        };
        Ok((facts, check))
    }
}
