//! GitLab deployments waiting for approval, found by listing (older GitLab sends no `blocked`
//! Deployment Hook): each is queued once as if its hook had come.

use crate::forge::Forge;
use crate::model::{
    DeploymentEvent, DeploymentEventKind, DeploymentState, Event, EventPayload, Forge as ForgeKind,
    Repo,
};
use anyhow::Result;

impl super::super::Worker {
    /// Queues the repository's blocked deployments (GitLab); how many were new.
    pub async fn queue_blocked_deployments<F: Forge>(
        &self,
        forge: &F,
        kind: ForgeKind,
        repo: &Repo,
    ) -> Result<usize> {
        let rules = super::super::current(&self.rules);
        if kind != ForgeKind::Gitlab || rules.deployments.is_empty() {
            return Ok(0);
        }
        let mut queued = 0;
        for d in forge.blocked_deployments(repo).await? {
            let event = DeploymentEvent {
                repo: repo.clone(),
                kind: DeploymentEventKind::Status {
                    state: DeploymentState::Blocked,
                    deployable_id: None,
                },
                environment: d.environment.clone(),
                sha: Some(d.sha.clone()),
                git_ref: d.git_ref.clone(),
                default_branch: None,
                deployment_id: Some(d.id),
                creator: d.creator.clone(),
                actor: d.creator.clone().unwrap_or_default(),
                at: d.created_at,
                pull_requests: vec![],
            };
            let wrapped = Event {
                forge: kind,
                delivery_id: Some(format!(
                    "deploy:blocked:{}:{}",
                    repo.path.as_str().to_lowercase(),
                    d.id
                )),
                event_name: "blocked deployment".into(),
                payload: EventPayload::Deployment(Box::new(event.clone())),
            };
            if self
                .store
                .enqueue_deployment(&wrapped, &event, None)
                .await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }
}
