//! Reconcile: GitLab does not retry a failed webhook and GitHub redelivers only by hand, so a
//! missed webhook must not leave a change unenforced. List a repository's open changes,
//! and queue an evaluation (behind webhook work) for each enforced one that changed since it
//! was last evaluated.

use crate::forge::Forge;
use crate::model::{
    Action, ChangeEvent, Event, EventPayload, Forge as ForgeKind, Repo, RepoPath, User,
};
use crate::policy;
use crate::rules::Rules;
use crate::store::{Enqueued, JobRow, Priority, Store, change_key};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// What one reconcile pass found.
#[derive(Debug, Default, Clone)]
pub struct Pass {
    /// Open changes listed.
    pub listed: usize,
    /// Of those, subject to the rules.
    pub checked: usize,
    /// Jobs queued for the ones that changed since their last evaluation.
    pub queued: Vec<i64>,
}

/// A configured repository: `github:owner/name` or `gitlab:group/project`.
pub fn parse_target(s: &str) -> Result<(ForgeKind, RepoPath)> {
    let (forge, path) = s.split_once(':').with_context(|| {
        format!("reconcile target `{s}` must be forge:path, like github:acme/platypus")
    })?;
    let forge: ForgeKind = forge.parse().map_err(anyhow::Error::msg)?;
    Ok((forge, RepoPath::new(path)))
}

/// Lists the repository's open changes and queues those that need an evaluation.
pub async fn pass<F: Forge>(
    store: &Store,
    forge: &F,
    rules: &Rules,
    kind: ForgeKind,
    path: &RepoPath,
) -> Result<Pass> {
    let (listed, enforced) = open_enforced(forge, rules, path).await?;
    let mut out = Pass {
        listed,
        checked: enforced.len(),
        ..Pass::default()
    };
    for event in enforced {
        let key = change_key(&event);
        let seen = store.seen_updated_at(&key).await?;
        let unchanged = seen.is_some() && seen == event.change.updated_at;
        if unchanged || store.has_pending(&key).await? {
            continue;
        }
        let wrapped = Event {
            forge: kind,
            delivery_id: None,
            event_name: "reconcile".into(),
            payload: EventPayload::Change(Box::new(event.clone())),
        };
        if let Enqueued::New { job_id } = store.enqueue_with(&wrapped, Priority::Reconcile).await? {
            out.queued.push(job_id);
        }
    }
    Ok(out)
}

/// The repository's open changes as the forge lists them (every page): how many, and an
/// event for each one subject to the rules.
pub async fn open_enforced<F: Forge>(
    forge: &F,
    rules: &Rules,
    path: &RepoPath,
) -> Result<(usize, Vec<ChangeEvent>)> {
    let repo = Repo {
        path: path.clone(),
        id: None,
    };
    let changes = forge.open_changes(&repo).await?;
    let listed = changes.len();
    let enforced = changes
        .into_iter()
        .filter(|change| policy::is_enforced(rules, change))
        .map(|change| ChangeEvent {
            pipeline: None,
            action: Action::Other,
            forge_action: "reconcile".into(),
            change,
            actor: User::default(),
            labels_added: vec![],
            labels_removed: vec![],
            review: None,
            previous_head_sha: None,
            previous_target_branch: None,
            comment: None,
        })
        .collect();
    Ok((listed, enforced))
}

/// Waits until the jobs are done or failed; their rows.
pub async fn wait(store: &Store, ids: &[i64], timeout: Duration) -> Result<Vec<JobRow>> {
    let start = Instant::now();
    loop {
        let jobs = store.jobs_by_id(ids).await?;
        if jobs
            .iter()
            .all(|j| j.state == "done" || j.state == "failed")
        {
            return Ok(jobs);
        }
        if start.elapsed() > timeout {
            anyhow::bail!(
                "reconcile: {} jobs still unfinished after {}s",
                jobs.iter().filter(|j| j.state != "done").count(),
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
