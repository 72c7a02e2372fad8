//! Deployment gates in the worker: a deployment event (GitHub protection rule, GitLab blocked
//! deployment, a status) or a timer is decided from gathered facts, recorded (decision,
//! audit, metric) and answered; a wait is remembered and decided again by a durable timer or
//! when an approval arrives on the repository's changes.

mod blocked;
mod facts;
mod merge;
mod range;
mod status;

use crate::forge::{DeploymentAnswer, DeploymentTarget, Forge};
use crate::model::{
    DeploymentEvent, DeploymentEventKind, DeploymentState, Event, EventPayload, Repo, User,
};
use crate::policy::deploy::{self, DeployDecision, Outcome};
use crate::store::{DecisionRecord, Recorded, env_key};
use anyhow::Result;
use tokio::sync::OnceCell;

/// The most reasons an answer's comment carries (GitHub shows a short text).
const MAX_COMMENT_CHARS: usize = 60_000;

/// A question about one deployment.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub forge: crate::model::Forge,
    pub repo: Repo,
    pub environment: String,
    pub sha: String,
    pub git_ref: Option<String>,
    /// The repository's default branch, when the webhook said it.
    pub default_branch: Option<String>,
    pub deployment_id: Option<u64>,
    /// `protection_rule`, `gitlab_blocked`, `gate`.
    pub source: &'static str,
    pub delivery_id: Option<String>,
}

/// A decision as recorded.
#[derive(Debug, Clone)]
pub struct Decided {
    pub id: String,
    pub decision: DeployDecision,
}

impl super::Worker {
    /// Decides a deployment and records the decision (audit, metric, used exceptions).
    pub async fn decide_deployment<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        req: &DeployRequest,
    ) -> Result<Decided> {
        let rules = super::current(&self.rules);
        let (facts, decision) = match rules.deployment_for(req.forge, &req.environment) {
            Some(entry) => {
                let facts = self.deploy_facts(forge, bot, &rules, entry, req).await?;
                let d = deploy::evaluate(&rules, &facts);
                (Some(facts), d)
            }
            None => {
                let facts = bare_facts(req, self.store.clock().now());
                let d = deploy::evaluate(&rules, &facts);
                (None, d)
            }
        };
        let mut decision = decision;
        let sha = facts.as_ref().map_or(req.sha.clone(), |f| f.sha.clone());
        // An exception is used once: when another decision used it first (two decided at
        // once), this one is recorded as a denial instead.
        let id = loop {
            let id = crate::pages::links::random_key()?;
            let evidence = crate::evidence::DeploymentEvidence {
                id: id.clone(),
                environment: req.environment.clone(),
                sha: sha.clone(),
                git_ref: req.git_ref.clone(),
                deployment_id: req.deployment_id,
                source: req.source.to_string(),
                decision: decision.clone(),
                facts: facts.clone(),
            };
            let detail = serde_json::to_value(&evidence)?;
            let recorded = self
                .store
                .record_deploy_decision(&DecisionRecord {
                    id: &id,
                    forge: req.forge,
                    repo: req.repo.path.as_str(),
                    environment: &req.environment,
                    sha: &sha,
                    deployment_id: req.deployment_id,
                    source: req.source,
                    decision: &decision,
                    detail,
                    delivery_id: req.delivery_id.as_deref(),
                    rules_hash: &rules.hash,
                })
                .await?;
            match recorded {
                Recorded::Done => break id,
                Recorded::ExceptionTaken { change } => taken(&mut decision, change),
            }
        };
        let sha = sha.as_str();
        let environment = match &decision.entry {
            Some(_) => req.environment.clone(),
            None => "ungoverned".to_string(),
        };
        metrics::counter!(crate::telemetry::DEPLOY_DECISIONS, "environment" => environment, "outcome" => decision.decision.as_str())
            .increment(1);
        tracing::info!(
            forge = %req.forge,
            repo = %req.repo.path,
            environment = %req.environment,
            sha,
            outcome = decision.decision.as_str(),
            "deployment decided"
        );
        Ok(Decided { id, decision })
    }

    /// Handles a deployment event job.
    pub(super) async fn deployment_event(&self, event: &Event, d: &DeploymentEvent) -> Result<i64> {
        let Some(connected) = self.forges.get(event.forge) else {
            tracing::warn!(forge = %event.forge, "no token for the forge: deployment not decided");
            return Ok(0);
        };
        let (forge, bot) = (&connected.client, &connected.bot);
        match &d.kind {
            DeploymentEventKind::ProtectionRequested { run_id } => {
                let target = DeploymentTarget::GithubRun {
                    run_id: *run_id,
                    environment: d.environment.clone(),
                };
                self.question(forge, bot, event, d, target, "protection_rule")
                    .await
            }
            DeploymentEventKind::Status {
                state: DeploymentState::Blocked,
                ..
            } => {
                let Some(id) = d.deployment_id else {
                    anyhow::bail!("a blocked deployment without an id");
                };
                let target = DeploymentTarget::GitlabDeployment { deployment_id: id };
                self.question(forge, bot, event, d, target, "gitlab_blocked")
                    .await
            }
            DeploymentEventKind::Status {
                state,
                deployable_id,
            } => {
                self.deployment_status(event, d, state, *deployable_id)
                    .await?;
                Ok(0)
            }
            DeploymentEventKind::Created => {
                self.deployment_status(event, d, &DeploymentState::Pending, Some(0))
                    .await?;
                Ok(0)
            }
        }
    }

    /// A forge asks: decide, answer, and wait (durably) when not decidable yet.
    async fn question<F: Forge>(
        &self,
        forge: &F,
        bot: &OnceCell<Option<User>>,
        event: &Event,
        d: &DeploymentEvent,
        target: DeploymentTarget,
        source: &'static str,
    ) -> Result<i64> {
        let wait_key = format!(
            "{}:{}",
            env_key(event.forge, &d.environment),
            target_key(&target)
        );
        let repo = d.repo.path.as_str();
        let decided = match &d.sha {
            Some(sha) => {
                let req = DeployRequest {
                    forge: event.forge,
                    repo: d.repo.clone(),
                    environment: d.environment.clone(),
                    sha: sha.clone(),
                    git_ref: d.git_ref.clone(),
                    default_branch: d.default_branch.clone(),
                    deployment_id: d.deployment_id,
                    source,
                    delivery_id: event.delivery_id.clone(),
                };
                self.decide_deployment(forge, bot, &req).await?
            }
            None => Decided {
                id: String::new(),
                decision: unknown_sha(),
            },
        };
        let answer = match decided.decision.decision {
            Outcome::Allow => DeploymentAnswer::Approve,
            Outcome::Deny => DeploymentAnswer::Reject,
            Outcome::Wait => DeploymentAnswer::Report,
        };
        let comment = comment(
            &decided.decision,
            self.decision_link(&decided.id).as_deref(),
        );
        if self.dry_run {
            tracing::info!(?answer, "dry run: would answer the deployment");
        } else {
            forge
                .answer_deployment(&d.repo, &target, answer, &comment)
                .await?;
        }
        if decided.decision.decision == Outcome::Wait {
            let mut again = event.clone();
            let until = decided.decision.until;
            let json = serde_json::to_string(&again)?;
            self.store
                .set_deploy_wait(
                    event.forge,
                    repo,
                    &wait_key,
                    Some(&json),
                    until.map(|t| t.timestamp_millis()),
                )
                .await?;
            if let Some(due) = until {
                again.delivery_id = Some(format!("deploy:{wait_key}:{}", due.timestamp_millis()));
                self.store.enqueue_deployment(&again, d, Some(due)).await?;
            }
        } else {
            self.store
                .set_deploy_wait(event.forge, repo, &wait_key, None, None)
                .await?;
        }
        Ok(i64::from(!self.dry_run))
    }

    /// Decides again every deployment of the repository still waiting (an approval arrived).
    pub(super) async fn wake_deploy_waits(
        &self,
        forge: crate::model::Forge,
        repo: &str,
    ) -> Result<()> {
        for json in self.store.open_deploy_waits(forge, repo).await? {
            let Ok(mut event) = serde_json::from_str::<Event>(&json) else {
                tracing::error!("a waiting deployment's event is unreadable");
                continue;
            };
            let EventPayload::Deployment(d) = &event.payload else {
                continue;
            };
            let d = (**d).clone();
            let now = self.store.clock().now();
            event.delivery_id = Some(format!(
                "deploy:wake:{}:{}:{}",
                env_key(forge, &d.environment),
                d.deployment_id.unwrap_or_default(),
                now.timestamp_millis()
            ));
            self.store.enqueue_deployment(&event, &d, None).await?;
        }
        Ok(())
    }

    /// The signed link to a decision's page, when pages are served.
    fn decision_link(&self, id: &str) -> Option<String> {
        if id.is_empty() {
            return None;
        }
        self.links
            .as_ref()
            .map(|l| l.deployment_url(id, self.store.clock().now()))
    }
}

fn target_key(t: &DeploymentTarget) -> String {
    match t {
        DeploymentTarget::GithubRun { run_id, .. } => format!("run-{run_id}"),
        DeploymentTarget::GitlabDeployment { deployment_id } => {
            format!("deployment-{deployment_id}")
        }
    }
}

/// The allow used an exception another decision used first: it denies, saying so.
fn taken(d: &mut DeployDecision, change: u64) {
    d.decision = Outcome::Deny;
    d.reasons.insert(
        0,
        format!(
            "the exception on #{change} was used by another deployment decided at the same time: request a new one"
        ),
    );
    d.exceptions.clear();
    d.expires = None;
    d.until = None;
}

fn unknown_sha() -> DeployDecision {
    DeployDecision {
        decision: Outcome::Deny,
        reasons: vec!["the forge did not say which commit is deployed".into()],
        until: None,
        entry: None,
        expires: None,
        changes: vec![],
        timing: None,
        exceptions: vec![],
        owed: vec![],
    }
}

/// Facts of a deployment no entry governs (it deploys freely).
fn bare_facts(req: &DeployRequest, now: chrono::DateTime<chrono::Utc>) -> deploy::DeployFacts {
    deploy::DeployFacts {
        forge: req.forge,
        repo: req.repo.path.as_str().to_string(),
        environment: req.environment.clone(),
        sha: req.sha.clone(),
        git_ref: req.git_ref.clone(),
        default_branch: req.default_branch.clone(),
        now,
        on_branch: None,
        baseline: None,
        range: None,
        changes: vec![],
        allowed_before: false,
        successes: vec![],
        uncounted: vec![],
        spent: vec![],
        settings: None,
        incomplete: vec![],
    }
}

/// The answer's text: the outcome, until when, the reasons, and the details page.
pub fn comment(d: &DeployDecision, link: Option<&str>) -> String {
    let mut out = format!("changegate: {}", d.decision.as_str());
    if let Some(u) = d.until {
        out.push_str(&format!(
            " (decides again at {})",
            u.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    for r in &d.reasons {
        out.push_str(&format!("\n- {r}"));
    }
    if let Some(l) = link {
        out.push_str(&format!("\n\nDetails: {l}"));
    }
    if out.chars().count() > MAX_COMMENT_CHARS {
        out = out.chars().take(MAX_COMMENT_CHARS).collect();
        out.push('…');
    }
    out
}
