//! Deployment gate commands: `gate` (decide and record, like `GET /gate`), `deployments
//! baseline` and `deployments accept` (audited operator records), `explain --deploy` (decide
//! without recording) and `simulate --deploy` (evaluate a facts file offline).

use super::serve::build_worker;
use anyhow::{Context, Result};
use changegate::model::{Forge, Repo, RepoPath};
use changegate::policy::deploy::{self, DeployFacts};
use changegate::rules;
use changegate::settings::Settings;
use changegate::store::{AuditRecord, Store};
use changegate::worker::deploy::DeployRequest;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

/// What a deployment is asked about.
pub(super) struct Target<'a> {
    pub forge: Forge,
    pub repo: &'a str,
    pub environment: &'a str,
    pub sha: &'a str,
    pub git_ref: Option<&'a str>,
}

fn request(t: &Target<'_>, source: &'static str) -> DeployRequest {
    DeployRequest {
        forge: t.forge,
        repo: Repo {
            path: RepoPath::new(t.repo),
            id: None,
        },
        environment: t.environment.to_string(),
        sha: t.sha.to_string(),
        git_ref: t.git_ref.map(str::to_string),
        default_branch: None,
        deployment_id: None,
        source,
        delivery_id: None,
    }
}

/// `changegate gate`: decides and records, prints the answer; exit 0 only for allow.
pub(super) async fn gate(settings: Settings, t: Target<'_>) -> Result<ExitCode> {
    let rules = Arc::new(rules::load(&settings.rules.path).map_err(|e| anyhow::anyhow!("{e}"))?);
    let store = Store::open(&settings.database.url).await?;
    let worker = build_worker(&settings, store, Arc::new(RwLock::new(rules)), false)?;
    let connected = worker.forges.get(t.forge).with_context(|| {
        format!(
            "no {} token is configured: the gate reads the forge's API",
            t.forge.display_name()
        )
    })?;
    let decided = worker
        .decide_deployment(&connected.client, &connected.bot, &request(&t, "cli"))
        .await?;
    let d = &decided.decision;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "decision": d.decision,
            "reasons": d.reasons,
            "until": d.until,
            "expires": d.expires,
            "id": decided.id,
        }))?
    );
    Ok(if d.decision == deploy::Outcome::Allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `changegate explain --deploy`: the decision as it would be now, and deployments seen
/// running without a valid allow; nothing is recorded.
pub(super) async fn explain(settings: Settings, t: Target<'_>) -> Result<ExitCode> {
    let rules = Arc::new(rules::load(&settings.rules.path).map_err(|e| anyhow::anyhow!("{e}"))?);
    let store = Store::open(&settings.database.url).await?;
    let worker = build_worker(
        &settings,
        store.clone(),
        Arc::new(RwLock::new(rules.clone())),
        true,
    )?;
    let connected = worker.forges.get(t.forge).with_context(|| {
        format!(
            "no {} token is configured: explain reads the forge's API",
            t.forge.display_name()
        )
    })?;
    let req = request(&t, "explain");
    let Some(entry) = rules.deployment_for(t.forge, t.environment) else {
        println!(
            "environment `{}`: no `deployments` entry governs it; it deploys freely",
            t.environment
        );
        return Ok(ExitCode::SUCCESS);
    };
    let facts = worker
        .deploy_facts(&connected.client, &connected.bot, &rules, entry, &req)
        .await?;
    let d = deploy::evaluate(&rules, &facts);
    print_decision(&d);
    for (id, why) in store
        .unapproved(t.forge, t.repo, t.environment, &facts.sha)
        .await?
    {
        println!("- deployment {id} of this SHA was {why} (counted as unapproved)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `changegate simulate --deploy FACTS`: evaluates a facts file (JSON) with the rules.
pub(super) fn simulate(rules_path: &Path, facts: &Path) -> Result<ExitCode> {
    let rules = match rules::load(rules_path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let text = std::fs::read_to_string(facts)
        .with_context(|| format!("cannot read {}", facts.display()))?;
    let facts: DeployFacts = serde_json::from_str(&text)
        .with_context(|| format!("{} is not deployment facts (JSON)", facts.display()))?;
    let d = deploy::evaluate(&rules, &facts);
    print_decision(&d);
    println!("{}", serde_json::to_string_pretty(&d)?);
    Ok(ExitCode::SUCCESS)
}

fn print_decision(d: &deploy::DeployDecision) {
    let until = d
        .until
        .map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    println!(
        "decision: {}{until} (entry {})",
        d.decision.as_str(),
        d.entry.as_deref().unwrap_or("none")
    );
    for r in &d.reasons {
        println!("- {r}");
    }
}

/// An operator's `--sha`: the full commit id only. The gate compares full SHAs, and a short
/// one could name another commit once more exist.
fn full_sha(sha: &str) -> Result<String> {
    let sha = sha.trim();
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(sha.to_ascii_lowercase());
    }
    anyhow::bail!(
        "--sha `{sha}` is not a full commit SHA: give all 40 hex digits (`git rev-parse {sha}`)"
    )
}

/// `changegate deployments baseline`: an operator records the environment's baseline.
pub(super) async fn baseline(settings: Settings, t: Target<'_>, by: &str) -> Result<ExitCode> {
    let sha = full_sha(t.sha)?;
    let t = Target { sha: &sha, ..t };
    let store = Store::open(&settings.database.url).await?;
    let now = store.clock().now();
    let how = format!(
        "recorded by `{by}` with `changegate deployments baseline` at {}",
        now.format("%Y-%m-%d %H:%M UTC")
    );
    // Each record its own row: a later baseline of the same SHA moves the baseline too.
    store
        .record_success(
            t.forge,
            t.repo,
            t.environment,
            t.sha,
            -now.timestamp_millis(),
            "operator",
            Some(by),
            now,
            &how,
        )
        .await?;
    store
        .audit(&AuditRecord {
            forge: t.forge.as_str(),
            repo: t.repo,
            number: 0,
            delivery_id: None,
            kind: "deployment_baseline",
            rules_hash: None,
            detail: serde_json::json!({
                "environment": t.environment,
                "sha": t.sha,
                "by": by,
            }),
        })
        .await?;
    println!(
        "baseline of `{}` recorded: {} ({how})",
        t.environment, t.sha
    );
    Ok(ExitCode::SUCCESS)
}

/// `changegate deployments accept`: an operator accepts a commit that reached a branch
/// without a change.
pub(super) async fn accept(
    settings: Settings,
    forge: Forge,
    repo: &str,
    sha: &str,
    by: &str,
    reason: &str,
) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        anyhow::bail!("--reason cannot be empty: say why the commit is accepted");
    }
    let sha = full_sha(sha)?;
    let sha = sha.as_str();
    let store = Store::open(&settings.database.url).await?;
    store.accept_commit(forge, repo, sha, by, reason).await?;
    store
        .audit(&AuditRecord {
            forge: forge.as_str(),
            repo,
            number: 0,
            delivery_id: None,
            kind: "deployment_accepted_commit",
            rules_hash: None,
            detail: serde_json::json!({ "sha": sha, "by": by, "reason": reason }),
        })
        .await?;
    println!("commit {sha} accepted by `{by}`: {reason}");
    Ok(ExitCode::SUCCESS)
}

/// `changegate audit --deployments`: the deployment decisions, JSON or CSV.
pub(super) async fn export(
    settings: Settings,
    forge: Forge,
    repo: &str,
    since_ms: i64,
    csv: bool,
) -> Result<ExitCode> {
    let store = Store::open(&settings.database.url).await?;
    let rows = store
        .deploy_decisions(forge.as_str(), repo, since_ms)
        .await?;
    if !csv {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", changegate::report::deployments_csv(&rows));
    Ok(ExitCode::SUCCESS)
}
