//! What a deployment's statuses are evidence of: a success counts (as staging evidence; as a
//! baseline see [`crate::store::Store::baseline`]) only when changegate allowed that very deployment (the allow is bound to
//! the deployment id it answered; an ungoverned environment's allow never counts) and the
//! success was reported by the deployment's creator or a trusted deployer, or when a trusted
//! deployer both created and reported it. A deployment of a governed environment seen running
//! without a valid allow is recorded and counted as unapproved. GitLab deployments without a
//! pipeline job never count.

use crate::model::{DeploymentEvent, DeploymentState, Event, Forge};
use anyhow::Result;

impl super::super::Worker {
    pub(super) async fn deployment_status(
        &self,
        event: &Event,
        d: &DeploymentEvent,
        state: &DeploymentState,
        deployable_id: Option<u64>,
    ) -> Result<()> {
        let Some(sha) = &d.sha else {
            tracing::warn!(forge = %event.forge, repo = %d.repo.path, "a deployment status without a SHA: nothing recorded");
            return Ok(());
        };
        let forge = event.forge;
        let repo = d.repo.path.as_str();
        let rules = super::super::current(&self.rules);
        let at = d.at.unwrap_or_else(|| self.store.clock().now());
        let running = matches!(
            state,
            DeploymentState::InProgress | DeploymentState::Success | DeploymentState::Queued
        );
        // GitLab: a deployment created through the API has no job, and runs nothing of ours.
        let has_job = forge == Forge::Github || deployable_id.is_some();
        // The allow bound to this deployment; else any allow of the SHA there (a `/gate`
        // call names no deployment), which makes it approved but never evidence.
        let bound = match d.deployment_id {
            Some(id) => {
                self.store
                    .allow_of_deployment(forge, repo, &d.environment, sha, id, at)
                    .await?
            }
            None => None,
        };
        let any_allow = match bound {
            Some(e) => Some(e),
            None => {
                self.store
                    .valid_allow(forge, repo, &d.environment, sha, at)
                    .await?
            }
        };
        let governed = rules.deployment_for(forge, &d.environment).is_some();
        if governed && running && any_allow.is_none() {
            let why = if self
                .store
                .allowed_before(forge, repo, &d.environment, sha)
                .await?
            {
                "seen running after its allow expired"
            } else {
                "seen running without an allow"
            };
            let id = d.deployment_id.unwrap_or_default();
            if self
                .store
                .record_unapproved(forge, repo, &d.environment, sha, id, why)
                .await?
            {
                metrics::counter!(crate::telemetry::DEPLOYMENTS_UNAPPROVED, "environment" => d.environment.clone())
                    .increment(1);
                tracing::warn!(forge = %forge, repo, environment = %d.environment, sha, why, "unapproved deployment");
                self.store
                    .audit(&crate::store::AuditRecord {
                        forge: forge.as_str(),
                        repo,
                        number: 0,
                        delivery_id: event.delivery_id.as_deref(),
                        kind: "deployment_unapproved",
                        rules_hash: Some(&rules.hash),
                        detail: serde_json::json!({
                            "environment": d.environment,
                            "sha": sha,
                            "deployment_id": d.deployment_id,
                            "why": why,
                            "creator": d.creator,
                        }),
                    })
                    .await?;
            }
        }
        if *state != DeploymentState::Success || !has_job {
            return Ok(());
        }
        let id = d.deployment_id.map_or(-1, |i| i as i64);
        let creator = d.creator.as_ref().and_then(|c| c.username.clone());
        let reporter = d.actor.username.clone();
        let trusts = |login: &str| {
            rules
                .deployments
                .iter()
                .filter(|e| e.governs(forge, &d.environment) || e.is_after(forge, &d.environment))
                .any(|e| e.trusts(login))
        };
        // Anyone with push access can post a status on any deployment: the success of an
        // allowed deployment is believed from whoever created it, or a trusted deployer.
        let reported_by_creator = match (&creator, &reporter) {
            (Some(c), Some(r)) => c.eq_ignore_ascii_case(r),
            _ => false,
        };
        let reporter_trusted = reporter.as_deref().is_some_and(trusts);
        if bound.is_some() && (reported_by_creator || reporter_trusted) {
            let how = format!(
                "allowed by changegate and seen succeeding at {}",
                at.format("%Y-%m-%d %H:%M UTC")
            );
            self.store
                .record_success(
                    forge,
                    repo,
                    &d.environment,
                    sha,
                    id,
                    "allowed",
                    None,
                    at,
                    &how,
                )
                .await?;
            return Ok(());
        }
        // Both who created the deployment and who reported its success (the delivery's
        // sender: anyone with push access can post a status on a trusted deployer's
        // deployment) must be trusted deployers.
        let trusted = creator.as_deref().is_some_and(trusts) && reporter_trusted;
        if let (true, Some(c)) = (trusted, creator) {
            let how = format!("created by trusted deployer `{c}`, seen succeeding");
            self.store
                .record_success(
                    forge,
                    repo,
                    &d.environment,
                    sha,
                    id,
                    "trusted",
                    Some(&c),
                    at,
                    &how,
                )
                .await?;
        }
        Ok(())
    }
}
