//! GitLab's blocks, kept true at every evaluation of an open merge request. Free tier: the
//! project's merge settings are checked (a verdict GitLab would not enforce fails, saying
//! which setting to turn on), the head's statuses under changegate's name are read back in
//! every pipeline and ref (one written by anyone else is overwritten, and the comment and the
//! audit log say who wrote it), and the verdict goes into the merge request's newest pipeline
//! (`pipeline_id`), which is what "Pipelines must succeed" reads. `pending` is written the
//! moment a head arrives, and into a Pipeline Hook's own pipeline before anything else
//! (`arrival.rs`); the read-back is `before.rs`, the writes `write.rs`. Ultimate:
//! `status_checks.rs`.

mod arrival;
mod before;
mod write;

pub(super) use write::StatusAt;

use super::execute::Target;
use super::gitlab_gate::Gate;
use crate::forge::Forge;
use crate::forge::gitlab::{ExternalCheck, GitlabClient, MergeSettings, NamedStatus};
use crate::model::{ChangeKind, ChangeState};
use crate::policy::Snapshot;
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

/// The bot's account on a GitLab connection, for the status writes outside an evaluation (a
/// job that failed for good, a change waiting for quota): read once (`GET /user`) unless
/// configured; `None` on GitHub, or when GitLab will not say now (a status GitLab will not
/// move is then never taken for the bot's: the wanted state is written through another).
pub(super) async fn status_writer(c: &super::Connected) -> Option<crate::model::User> {
    c.client.gitlab()?;
    match super::enforce::identity(&c.client, &c.bot).await {
        Ok(bot) => bot,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot read the bot's own account now"
            );
            None
        }
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
