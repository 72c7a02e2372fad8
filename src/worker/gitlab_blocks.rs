//! GitLab's blocks, kept true at every evaluation of an open merge request. Free tier: the
//! project's merge settings are checked (a verdict GitLab would not enforce fails, saying
//! which setting to turn on), the head's statuses under changegate's name are read back in
//! every pipeline and ref (one written by anyone else is overwritten, and the comment and the
//! audit log say who wrote it), and the verdict goes into the merge request's newest pipeline
//! (`pipeline_id`), which is what "Pipelines must succeed" reads. `pending` is written the
//! moment a head arrives, and into a Pipeline Hook's own pipeline before anything else. Ultimate: `status_checks.rs`.

use super::Worker;
use super::execute::Target;
use super::gitlab_gate::Gate;
use super::gitlab_settings::count_off;
use crate::actions::{PlannedAction, StatusState};
use crate::forge::Forge;
use crate::forge::gitlab::{ExternalCheck, GitlabClient, MergeSettings, NamedStatus};
use crate::model::{Action, ChangeKind, ChangeState};
use crate::policy::{self, Decision, Snapshot, Verdict};
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
    pub(super) settings: Arc<Mutex<HashMap<String, (i64, MergeSettings)>>>,
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
    /// Where the status goes: the pipeline "Pipelines must succeed" reads.
    pub gate: Gate,
    /// Those written by someone else.
    pub forged: Vec<Seen>,
    /// Those written by the bot's own account (none when the bot does not know its account:
    /// then nothing counts as standing and the status is written at each evaluation).
    pub mine: Vec<Seen>,
    /// changegate's own external status check (Ultimate), when registered.
    pub check: Option<ExternalCheck>,
    /// The hook's own pipeline, when it is not the gate and holds the bot's `pending`: it
    /// gets the verdict too, so no pipeline is left pending.
    pub hooked: Option<u64>,
}

/// A status under changegate's name, and the project and commit it is on.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub repo: crate::model::Repo,
    pub sha: String,
    pub status: NamedStatus,
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
    /// The project and commit it is on, when not the merge request's project and head.
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha: Option<&'a str>,
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
        bot: Option<&crate::model::User>,
    ) -> Result<()> {
        self.pending_in_hooked_pipeline(t, change, bot).await?;
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

    /// A `Pipeline Hook` job writes `pending` into the hook's own pipeline first (a pipeline of
    /// the merge request's project on its head), before the long reads: a new pipeline whose
    /// jobs pass could otherwise satisfy "Pipelines must succeed" before the verdict reaches
    /// it. Skipped when the bot's current verdict for the head is already in that pipeline.
    async fn pending_in_hooked_pipeline<F: Forge>(
        &self,
        t: &Target<'_, F>,
        change: &crate::model::Change,
        bot: Option<&crate::model::User>,
    ) -> Result<()> {
        let (Some(gl), Some(sha), Some(p)) = (
            t.forge.gitlab(),
            change.head_sha.as_deref(),
            t.job.change.pipeline.as_ref(),
        ) else {
            return Ok(());
        };
        if p.sha != sha
            || change.kind != ChangeKind::MergeRequest
            || change.state != ChangeState::Open
            || !policy::has_status(change)
        {
            return Ok(());
        }
        let key = key_of(change);
        let given = self.store.pipeline_status(&key, p.id).await?;
        let current = self.store.written_status_at(&key).await?;
        if let (Some((given_sha, given_state, _)), Some((written, _, state))) = (&given, &current)
            && given_sha == sha
            && written == sha
            && given_state == crate::forge::gitlab::state_name(*state)
        {
            return Ok(());
        }
        let context = crate::actions::context_for(&self.status_context, change);
        let description = "changegate is evaluating this head";
        let action = PlannedAction::SetStatus {
            sha: sha.to_string(),
            state: StatusState::Pending,
            context: context.clone(),
            description: description.to_string(),
        };
        let status = (sha, StatusState::Pending, context.as_str(), description);
        let call = gl.set_status_in(&change.repo, status, None, Some(p.id), None, bot);
        if self.write(t.job, t.rules, &action, call).await?.is_some() {
            self.store
                .remember_pipeline_status(&key, p.id, (sha, "pending", description))
                .await?;
        }
        Ok(())
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
        let found = self.gate_of(gl, t.r, repo, sha).await?;
        let (mut facts, check) = self
            .block_facts(gl, repo, target, d.verdict == Verdict::Pass)
            .await?;
        if let Some(m) = &found.missing {
            metrics::counter!(crate::telemetry::GITLAB_SETTINGS_OFF, "block" => m.block)
                .increment(1);
            facts.pipeline_gate = Some(m.reason.clone());
        }
        count_off(&facts);
        policy::forge_blocks(d, &policy::missing_blocks(&facts));
        d.notes.extend(found.note);
        let gate = found.gate;
        let context = crate::actions::context_for(&self.status_context, &snap.change);
        // The head's statuses in the merge request's project, and the gating pipeline's
        // commit's where that is another commit or project (a merge commit, a fork).
        let mut spots = vec![(repo.clone(), sha.to_string())];
        if gate.sha != sha || gate.repo.id != repo.id {
            spots.push((gate.repo.clone(), gate.sha.clone()));
        }
        let mut statuses: Vec<Seen> = vec![];
        for (at, commit) in spots {
            for status in gl.statuses_named(&at, &commit, &context).await? {
                statuses.push(Seen {
                    repo: at.clone(),
                    sha: commit.clone(),
                    status,
                });
            }
        }
        let by_bot = |s: &Seen| {
            snap.bot
                .as_ref()
                .map(|b| b.same_as(&s.status.author) == Some(true))
        };
        // An author GitLab does not name is not the bot's either; without knowing its own
        // account the bot cannot tell, and rewrites its status each evaluation instead.
        let (mine, forged): (Vec<Seen>, Vec<Seen>) = statuses
            .into_iter()
            .filter(|s| by_bot(s).is_some())
            .partition(|s| by_bot(s) == Some(true));
        for seen in &forged {
            let f = &seen.status;
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
                project_id: (seen.repo.id != repo.id).then_some(seen.repo.id).flatten(),
                sha: (seen.sha != sha).then_some(seen.sha.as_str()),
            };
            self.record(t.job, "gitlab_overwrite", Some(&t.rules.hash), &record)
                .await?;
        }
        let key = key_of(&snap.change);
        let mut hooked = None;
        if let Some(p) = t.job.change.pipeline.as_ref()
            && p.sha == sha
            && Some(p.id) != gate.pipeline
            && gate.repo.id == repo.id
            && self
                .store
                .pipeline_status(&key, p.id)
                .await?
                .is_some_and(|(at, state, _)| at == sha && state == "pending")
        {
            hooked = Some(p.id);
        }
        Ok(Some(GitlabHead {
            gate,
            forged,
            mine,
            check,
            hooked,
        }))
    }

    /// Whether the status `(state, description)` stands on GitLab as the bot wrote it: no
    /// one else's under its name, the bot's own there (by its author, never by its text,
    /// which anyone can copy), and the gating pipeline given it. With no pipeline known
    /// nothing stands: the status is written again, which gives the head a pipeline.
    pub(super) async fn gitlab_status_stands(
        &self,
        key: &str,
        head: &GitlabHead,
        (_, state, description): (&str, StatusState, &str),
    ) -> Result<bool> {
        let Some(pipeline) = head.gate.pipeline else {
            return Ok(false);
        };
        if !head.forged.is_empty() || head.hooked.is_some() {
            return Ok(false);
        }
        let name = crate::forge::gitlab::state_name(state);
        let at_gate = |s: &&Seen| {
            s.repo.id == head.gate.repo.id
                && s.sha == head.gate.sha
                && s.status.status == name
                && s.status.description == description
        };
        let shown = head.mine.iter().any(|s| at_gate(&s));
        // GitLab 17 names each status's pipeline; older ones do not, and the bot's record of
        // what it wrote into which pipeline says it.
        let listed = head
            .mine
            .iter()
            .filter(at_gate)
            .any(|s| s.status.pipeline_id == Some(pipeline));
        let given = listed
            || self.store.pipeline_status(key, pipeline).await?
                == Some((
                    head.gate.sha.clone(),
                    name.to_string(),
                    description.to_string(),
                ));
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
        let gate = &head.gate;
        let at_gate = (
            gate.sha.as_str(),
            *state,
            context.as_str(),
            description.as_str(),
        );
        let call = gl.set_status_in(
            &gate.repo,
            at_gate,
            target_url,
            gate.pipeline,
            None,
            snap.bot.as_ref(),
        );
        if self.write(t.job, t.rules, action, call).await?.is_none() {
            return Ok(());
        }
        let name = crate::forge::gitlab::state_name(*state);
        self.store
            .remember_status(&key, (sha, *state, description), context)
            .await?;
        // Only a pipeline GitLab named is remembered: a status written into none went into
        // whichever pipeline GitLab made or chose, which the next read names.
        if let Some(pipeline) = gate.pipeline {
            self.store
                .remember_pipeline_status(&key, pipeline, (&gate.sha, name, description))
                .await?;
        }
        if let Some(hooked) = head.hooked {
            let status = (sha.as_str(), *state, context.as_str(), description.as_str());
            let call = gl.set_status_in(
                &snap.change.repo,
                status,
                target_url,
                Some(hooked),
                None,
                snap.bot.as_ref(),
            );
            if self.write(t.job, t.rules, action, call).await?.is_some() {
                self.store
                    .remember_pipeline_status(&key, hooked, (sha, name, description))
                    .await?;
            }
        }
        for seen in &head.forged {
            let f = &seen.status;
            if f.pipeline_id.is_some() && f.pipeline_id == gate.pipeline {
                continue;
            }
            let git_ref = f
                .pipeline_id
                .is_none()
                .then_some(f.git_ref.as_deref())
                .flatten();
            let status = (
                seen.sha.as_str(),
                *state,
                context.as_str(),
                description.as_str(),
            );
            let call = gl.set_status_in(
                &seen.repo,
                status,
                target_url,
                f.pipeline_id,
                git_ref,
                snap.bot.as_ref(),
            );
            self.write(t.job, t.rules, action, call).await?;
        }
        Ok(())
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
