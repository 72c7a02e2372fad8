//! Subcommands. Each loads only what it needs: `check`, `simulate` and `schema` touch no
//! network and no database.

use anyhow::{Context, Result};
use changegate::actions;
use changegate::forge::{RetryPolicy, github::GithubClient, gitlab::GitlabClient};
use changegate::model::{EventPayload, Forge};
use changegate::policy::{self, Snapshot};
use changegate::reconcile;
use changegate::rules::{self, SharedRules};
use changegate::server::{self, AppState, gitlab::GitlabVerifier};
use changegate::settings::{SETTINGS_HELP, Settings};
use changegate::store::Store;
use changegate::worker::{ForgeClients, MembershipCache, Worker};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Parser)]
#[command(
    name = "changegate",
    version,
    about = "Enforces change management on GitHub and GitLab"
)]
pub struct Cli {
    /// Settings file (default: ./changegate.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive webhooks and enforce the rules.
    #[command(after_help = SETTINGS_HELP)]
    Serve,
    /// Validate a rules file; print `file:line:column: problem` for each mistake.
    Check {
        /// The rules file.
        #[arg(default_value = "rules.yaml")]
        rules: PathBuf,
    },
    /// Evaluate a webhook payload offline and print the change, the decision and the actions.
    Simulate {
        #[arg(long)]
        forge: Forge,
        /// The event header value: `pull_request`, `Merge Request Hook`, …
        #[arg(long)]
        event: String,
        /// Rules file to evaluate with.
        #[arg(long, default_value = "rules.yaml")]
        rules: PathBuf,
        /// Treat USER as a member of GROUP (repeatable), as the forge would answer.
        #[arg(long = "member", value_name = "GROUP=USER")]
        members: Vec<String>,
        /// Commit status name used in the planned actions.
        #[arg(long, default_value = "changegate")]
        context: String,
        /// A second rules file: also evaluate with it and show what would change.
        #[arg(long, value_name = "RULES")]
        compare: Option<PathBuf>,
        /// The payload file.
        payload: PathBuf,
    },
    /// Print the JSON Schema of the rules file (or, with --repository, of a repository's own
    /// rules file).
    Schema {
        #[arg(long)]
        repository: bool,
    },
    /// Exit 0 when URL answers 2xx (a container health check without curl).
    Probe {
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// List jobs that are not done (queued, running, failed).
    Jobs,
    /// Queue a failed job again.
    Retry { id: i64 },
    /// Evaluate every open change of a repository now (catches missed webhooks); waits for
    /// the evaluations and prints how many changes were checked and changed.
    Reconcile {
        #[arg(long)]
        forge: Forge,
        /// OWNER/NAME on GitHub, the project's full path on GitLab.
        #[arg(long)]
        repo: String,
    },
    /// Read a live change and print each rule's verdict and why (nothing is written).
    Explain {
        #[arg(long)]
        forge: Forge,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        number: u64,
        /// The number is an issue's, not a merge/pull request's.
        #[arg(long)]
        issue: bool,
    },
    /// Export the audit evidence of a repository's changes: classification, approvals with
    /// approver and time, decisions and the final status.
    Audit {
        #[arg(long)]
        forge: Forge,
        #[arg(long)]
        repo: String,
        /// Only records from this date (2026-01-31) or time (RFC 3339) on.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: AuditFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AuditFormat {
    Json,
    Csv,
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Check { rules } => Ok(check(&rules)),
        Command::Simulate {
            forge,
            event,
            rules,
            members,
            context,
            compare,
            payload,
        } => simulate(
            forge,
            &event,
            &rules,
            &members,
            &context,
            compare.as_deref(),
            &payload,
        ),
        Command::Probe { url } => {
            let ok = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Schema { repository } => {
            let schema = if repository {
                rules::repository_json_schema()
            } else {
                rules::json_schema()
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => serve(Settings::load(cli.config.as_deref())?).await,
        Command::Jobs => {
            let settings = Settings::load(cli.config.as_deref())?;
            let store = Store::open(&settings.database.url).await?;
            for j in store.unfinished_jobs().await? {
                println!(
                    "{}\t{}\t{}\tattempts={}\twrites={}\tdelivery={}\t{}",
                    j.id,
                    j.state,
                    j.change_key,
                    j.attempts,
                    j.writes,
                    j.delivery_id.unwrap_or_default(),
                    j.last_error.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { forge, repo } => {
            reconcile_now(Settings::load(cli.config.as_deref())?, forge, &repo).await
        }
        Command::Explain {
            forge,
            repo,
            number,
            issue,
        } => {
            explain(
                Settings::load(cli.config.as_deref())?,
                forge,
                &repo,
                number,
                issue,
            )
            .await
        }
        Command::Audit {
            forge,
            repo,
            since,
            format,
        } => {
            audit(
                Settings::load(cli.config.as_deref())?,
                forge,
                &repo,
                since.as_deref(),
                format,
            )
            .await
        }
        Command::Retry { id } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let store = Store::open(&settings.database.url).await?;
            if store.retry(id).await? {
                println!("job {id} queued again; a running `changegate serve` will process it");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("changegate: job {id} is not a failed job (see `changegate jobs`)");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match rules::load(path) {
        Ok(r) => {
            println!("{}: ok: {}", path.display(), r.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn simulate(
    forge: Forge,
    event_name: &str,
    rules_path: &std::path::Path,
    members: &[String],
    context: &str,
    compare: Option<&std::path::Path>,
    payload: &std::path::Path,
) -> Result<ExitCode> {
    let load = |p: &std::path::Path| rules::load(p).map_err(|e| anyhow::anyhow!("{e}"));
    let rules = load(rules_path)?;
    let other = compare.map(load).transpose()?;
    let body =
        std::fs::read(payload).with_context(|| format!("cannot read {}", payload.display()))?;
    let event = match forge {
        Forge::Github => server::github::parse(event_name, None, &body)?,
        Forge::Gitlab => server::gitlab::parse(event_name, None, &body)?,
    };
    let EventPayload::Change(c) = &event.payload else {
        let output = serde_json::json!({ "event": event, "decision": null, "actions": [] });
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(ExitCode::SUCCESS);
    };
    let mut snap = Snapshot::from_event(c, chrono::Utc::now());
    for m in members {
        let (group, user) = m
            .split_once('=')
            .with_context(|| format!("--member `{m}` must be GROUP=USER"))?;
        snap.memberships
            .set(group, &changegate::model::User::named(user), true);
    }
    let decision = policy::evaluate(&rules, &snap);
    let planned = actions::plan(&snap.change, &decision, context);
    let mut output =
        serde_json::json!({ "event": event, "decision": decision, "actions": planned });
    if let Some(other) = other {
        let theirs = policy::evaluate(&other, &snap);
        let their_actions = actions::plan(&snap.change, &theirs, context);
        output["compare"] = serde_json::json!({
            "rules": compare.map(|p| p.display().to_string()),
            "decision": theirs,
            "actions": their_actions,
            "changes": differences(&decision, &theirs),
        });
    }
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

/// What a rules edit would change for one change, in words.
fn differences(before: &policy::Decision, after: &policy::Decision) -> Vec<String> {
    let mut out = vec![];
    if before.verdict != after.verdict {
        out.push(format!(
            "verdict: {:?} -> {:?}",
            before.verdict, after.verdict
        ));
    }
    if before.summary != after.summary {
        out.push(format!(
            "status: \"{}\" -> \"{}\"",
            before.summary, after.summary
        ));
    }
    let names = |d: &policy::Decision, add: bool| -> Vec<String> {
        let list = if add { &d.add_labels } else { &d.remove_labels };
        list.iter().map(|c| c.label.to_string()).collect()
    };
    for (what, add) in [("labels added", true), ("labels removed", false)] {
        let (b, a) = (names(before, add), names(after, add));
        if b != a {
            out.push(format!("{what}: {b:?} -> {a:?}"));
        }
    }
    if before.matched_rules != after.matched_rules {
        out.push(format!(
            "rules applied: {:?} -> {:?}",
            before.matched_rules, after.matched_rules
        ));
    }
    out
}

async fn serve(settings: Settings) -> Result<ExitCode> {
    init_tracing(settings.log.json);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    // Invalid rules at start do not stop the receiver: deliveries are stored, /readyz fails,
    // and work starts once a valid file is in place.
    let shared: SharedRules = Arc::new(RwLock::new(Arc::new(rules::watch::nothing())));
    let watch = rules::watch::RulesWatch {
        path: settings.rules.path.clone(),
        shared: shared.clone(),
        ready: Arc::default(),
    };
    let rules_ready = watch.ready.clone();
    watch.reload();
    tokio::spawn(watch.run());
    let store = Store::open(&settings.database.url).await?;
    let orphans = store.release_orphans().await?;
    if orphans > 0 {
        tracing::info!(
            jobs = orphans,
            "jobs interrupted by the last shutdown are queued again"
        );
    }
    let dry_run = settings.is_dry_run();
    if dry_run {
        tracing::info!("dry run: actions are logged, no forge is called");
    }
    let wake = Arc::new(Notify::new());
    let state = AppState {
        store: store.clone(),
        writer: changegate::store::DeliveryWriter::spawn(store.clone()),
        github_secrets: Arc::new(secret_bytes(&settings.github.webhook_secret)),
        gitlab: Arc::new(gitlab_verifier(&settings)?),
        allow_unsigned: settings.allow_unsigned,
        max_body_bytes: settings.server.max_body_bytes,
        wake: wake.clone(),
        metrics: Some(metrics),
        rules_ready: rules_ready.clone(),
    };
    warn_unsigned(&state);
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = build_worker(&settings, store.clone(), shared.clone(), dry_run)?;
    let (interval, targets, retention) = (
        settings.reconcile.interval_secs,
        settings.reconcile.repositories.clone(),
        settings.audit.retention_days,
    );
    let concurrency = settings.worker.concurrency;
    let workers = tokio::spawn(async move {
        while !rules_ready.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::spawn(periodic(interval, targets, retention, worker.clone()));
        worker.run(concurrency, wake, stop_rx).await;
    });
    let listener = tokio::net::TcpListener::bind(&settings.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    tracing::info!(listen = %settings.server.listen, "changegate is listening");
    axum::serve(listener, server::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    let _ = stop_tx.send(true);
    workers.abort();
    let _ = workers.await;
    Ok(ExitCode::SUCCESS)
}

fn build_worker(
    settings: &Settings,
    store: Store,
    rules: SharedRules,
    dry_run: bool,
) -> Result<Worker> {
    Ok(Worker {
        store,
        rules,
        forges: Arc::new(forge_clients(settings)?),
        dry_run,
        status_context: settings.status.context.clone(),
        max_attempts: settings.worker.max_attempts,
        memberships: MembershipCache::new(Duration::from_secs(settings.worker.membership_ttl_secs)),
        lease: Duration::from_secs(settings.worker.lease_secs),
        approval_projects: settings.gitlab.approval_projects.clone(),
        repo_rules: Default::default(),
    })
}

/// One reconcile pass over a repository through the worker's client for its forge.
async fn reconcile_pass(
    worker: &Worker,
    forge: Forge,
    repo: &changegate::model::RepoPath,
) -> Result<reconcile::Pass> {
    let rules = worker
        .rules
        .read()
        .map(|g| g.clone())
        .map_err(|_| anyhow::anyhow!("rules lock poisoned"))?;
    let missing = || {
        anyhow::anyhow!(
            "no {} token is configured: reconcile reads the forge's API",
            forge.display_name()
        )
    };
    match forge {
        Forge::Github => {
            reconcile::pass(
                &worker.store,
                worker.forges.github.as_ref().ok_or_else(missing)?,
                &rules,
                forge,
                repo,
            )
            .await
        }
        Forge::Gitlab => {
            reconcile::pass(
                &worker.store,
                worker.forges.gitlab.as_ref().ok_or_else(missing)?,
                &rules,
                forge,
                repo,
            )
            .await
        }
    }
}

/// The periodic reconcile of the configured repositories, and the audit retention purge.
async fn periodic(interval_secs: u64, targets: Vec<String>, retention_days: u64, worker: Worker) {
    const PURGE_EVERY: Duration = Duration::from_secs(3600);
    let interval = Duration::from_secs(interval_secs.max(1));
    let mut last_reconcile: Option<std::time::Instant> = None;
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        if interval_secs > 0 && last_reconcile.is_none_or(|t| t.elapsed() >= interval) {
            last_reconcile = Some(std::time::Instant::now());
            for target in &targets {
                let outcome = match reconcile::parse_target(target) {
                    Ok((forge, repo)) => reconcile_pass(&worker, forge, &repo).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(p) => tracing::info!(
                        target,
                        listed = p.listed,
                        checked = p.checked,
                        queued = p.queued.len(),
                        "reconcile pass"
                    ),
                    Err(e) => {
                        tracing::warn!(target, error = format!("{e:#}"), "reconcile pass failed")
                    }
                }
            }
        }
        if retention_days > 0 && last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            match worker
                .store
                .purge_older_than(retention_days as i64 * 86_400_000)
                .await
            {
                Ok(n) => tracing::info!(records = n, retention_days, "old audit records purged"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "audit purge failed"),
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn reconcile_now(settings: Settings, forge: Forge, repo: &str) -> Result<ExitCode> {
    init_tracing(settings.log.json);
    let rules = rules::load(&settings.rules.path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let shared: SharedRules = Arc::new(RwLock::new(Arc::new(rules)));
    let store = Store::open(&settings.database.url).await?;
    let worker = build_worker(&settings, store.clone(), shared, settings.is_dry_run())?;
    let path = changegate::model::RepoPath::new(repo);
    let pass = reconcile_pass(&worker, forge, &path).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(worker.clone().run(
        settings.worker.concurrency,
        Arc::new(Notify::new()),
        stop_rx,
    ));
    let jobs = reconcile::wait(&store, &pass.queued, Duration::from_secs(600)).await;
    let _ = stop_tx.send(true);
    let _ = running.await;
    let jobs = jobs?;
    let changed = jobs.iter().filter(|j| j.writes > 0).count();
    let failed = jobs.iter().filter(|j| j.state == "failed").count();
    println!(
        "{} {path}: {} open changes, {} checked, {} evaluated again, {} changed, {} failed",
        forge.display_name(),
        pass.listed,
        pass.checked,
        jobs.len(),
        changed,
        failed
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn explain(
    settings: Settings,
    forge: Forge,
    repo: &str,
    number: u64,
    issue: bool,
) -> Result<ExitCode> {
    let rules = Arc::new(rules::load(&settings.rules.path).map_err(|e| anyhow::anyhow!("{e}"))?);
    let store = Store::open(&settings.database.url).await?;
    let worker = build_worker(&settings, store, Arc::new(RwLock::new(rules.clone())), true)?;
    let r = changegate::forge::ChangeRef {
        repo: changegate::model::Repo {
            path: changegate::model::RepoPath::new(repo),
            id: None,
        },
        kind: if issue {
            changegate::model::ChangeKind::Issue
        } else {
            changegate::model::ChangeKind::MergeRequest
        },
        number,
    };
    let missing = || {
        anyhow::anyhow!(
            "no {} token is configured: explain reads the forge's API",
            forge.display_name()
        )
    };
    let bot = worker.forges.bot(forge);
    let found = match forge {
        Forge::Github => {
            worker
                .explain(
                    worker.forges.github.as_ref().ok_or_else(missing)?,
                    bot,
                    &r,
                    &rules,
                )
                .await?
        }
        Forge::Gitlab => {
            worker
                .explain(
                    worker.forges.gitlab.as_ref().ok_or_else(missing)?,
                    bot,
                    &r,
                    &rules,
                )
                .await?
        }
    };
    let Some((snap, d)) = found else {
        eprintln!(
            "changegate: {} {repo}#{number} does not exist",
            forge.display_name()
        );
        return Ok(ExitCode::FAILURE);
    };
    let c = &snap.change;
    let head = c
        .head_sha
        .as_deref()
        .map(|h| format!(", head {}", h.get(..7).unwrap_or(h)))
        .unwrap_or_default();
    println!(
        "{} {repo}#{number}: {} by {}, {:?}{head}",
        forge.display_name(),
        c.kind.as_str(),
        c.author.mention(),
        c.state
    );
    println!(
        "labels: {}",
        c.labels
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("verdict: {:?} — {}", d.verdict, d.summary);
    println!("rules:");
    for (name, why) in policy::explain_rules(&rules, &snap, &d) {
        if why.is_empty() {
            println!("  applies  {name}");
        } else {
            println!("  -        {name}: {}", why.join("; "));
        }
    }
    println!("checklist:");
    for item in &d.checklist {
        println!(
            "  [{}] {}: {}",
            if item.met { "x" } else { " " },
            item.title,
            item.detail
        );
    }
    for note in &d.notes {
        println!("note: {note}");
    }
    for l in &d.add_labels {
        println!("would add `{}`: {}", l.label, l.reason);
    }
    for l in &d.remove_labels {
        println!("would remove `{}`: {}", l.label, l.reason);
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(
    settings: Settings,
    forge: Forge,
    repo: &str,
    since: Option<&str>,
    format: AuditFormat,
) -> Result<ExitCode> {
    let since_ms = match since {
        Some(s) => changegate::report::parse_since(s).map_err(anyhow::Error::msg)?,
        None => 0,
    };
    // The classification is the first scope the rules declare (CMT in the shipped file).
    let scope = rules::load(&settings.rules.path)
        .ok()
        .and_then(|r| r.scopes.first().map(|s| s.name.clone()))
        .unwrap_or_else(|| "CMT".into());
    let store = Store::open(&settings.database.url).await?;
    let rows = store
        .audit_rows(forge.as_str(), repo, None, since_ms)
        .await?;
    let records = changegate::report::build(&rows, &scope);
    match format {
        AuditFormat::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        AuditFormat::Csv => print!("{}", changegate::report::to_csv(&records)),
    }
    Ok(ExitCode::SUCCESS)
}

/// A client per forge that has a token; the others run offline (payload only, logged).
fn forge_clients(settings: &Settings) -> Result<ForgeClients> {
    let github = match (
        &settings.github.app_id,
        &settings.github.private_key,
        &settings.github.token,
    ) {
        (Some(id), Some(key), _) => Some(GithubClient::app(
            &settings.github.api_url,
            *id,
            key.expose_secret(),
            RetryPolicy::default(),
        )?),
        (_, _, Some(t)) => Some(GithubClient::new(
            &settings.github.api_url,
            t.expose_secret(),
            RetryPolicy::default(),
        )?),
        _ => None,
    };
    let gitlab = match &settings.gitlab.token {
        Some(t) => Some(GitlabClient::new(
            &settings.gitlab.url,
            t.expose_secret(),
            RetryPolicy::default(),
        )?),
        None => None,
    };
    for (name, client) in [("GitHub", github.is_some()), ("GitLab", gitlab.is_some())] {
        if !client {
            tracing::info!(
                "no {name} token: {name} changes are evaluated from the payload and nothing is written"
            );
        }
    }
    Ok(ForgeClients::new(github, gitlab).with_bots(
        settings.github.bot_login.as_deref(),
        settings.gitlab.bot_username.as_deref(),
    ))
}

fn secret_bytes(list: &[secrecy::SecretString]) -> Vec<Vec<u8>> {
    list.iter()
        .map(|s| s.expose_secret().as_bytes().to_vec())
        .collect()
}

fn gitlab_verifier(settings: &Settings) -> Result<GitlabVerifier> {
    let signing_keys = settings
        .gitlab
        .signing_token
        .iter()
        .map(|t| server::gitlab::signing_key(t.expose_secret()).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    Ok(GitlabVerifier {
        tokens: secret_bytes(&settings.gitlab.webhook_secret),
        signing_keys,
        tolerance_secs: settings.gitlab.signature_tolerance_secs,
    })
}

fn warn_unsigned(state: &AppState) {
    for (forge, configured) in [
        ("GitHub", !state.github_secrets.is_empty()),
        ("GitLab", state.gitlab.is_configured()),
    ] {
        if !configured {
            if state.allow_unsigned {
                tracing::warn!("{forge} webhooks are accepted unsigned (allow_unsigned = true)");
            } else {
                tracing::warn!(
                    "no {forge} webhook secret is configured: every {forge} delivery will be refused with 401"
                );
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Logs to stderr, as text or (`log.json`) one JSON object per line; `CHANGEGATE_LOG` filters.
fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHANGEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}
