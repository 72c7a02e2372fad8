//! serve and reconcile: the long-running process and its building blocks.

use anyhow::{Context, Result};
use changegate::forge::{RetryPolicy, github::GithubClient, gitlab::GitlabClient};
use changegate::model::Forge;
use changegate::reconcile;
use changegate::rules::{self, SharedRules};
use changegate::server::{self, AppState, gitlab::GitlabVerifier};
use changegate::settings::Settings;
use changegate::store::Store;
use changegate::worker::{ForgeClients, MembershipCache, Worker};
use secrecy::ExposeSecret;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

pub(super) async fn serve(
    settings: Settings,
    no_migrate: bool,
    allow_newer_database: bool,
) -> Result<ExitCode> {
    init_tracing(settings.log.json);
    // Job timings as a histogram (buckets add up across replicas; a summary's quantiles do not).
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                changegate::telemetry::JOB_SECONDS.to_string(),
            ),
            changegate::telemetry::JOB_SECONDS_BUCKETS,
        )
        .context("cannot set the job duration buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    // Invalid rules at start refuse the start, as `changegate check` would: a receiver with no
    // rules in force would acknowledge deliveries and judge them against nothing.
    let initial = match rules::load(&settings.rules.path) {
        Ok(r) => {
            rules::watch::log_warnings(&settings.rules.path, &r);
            r
        }
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!(
                "changegate: not started: {} does not validate ({} problem(s) above; `changegate check {}` lists them too)",
                settings.rules.path.display(),
                problems.problems.len(),
                settings.rules.path.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(refusal) = settings.placeholder_refusal() {
        eprintln!("changegate: not started: {refusal}");
        return Ok(ExitCode::FAILURE);
    }
    if let Some(refusal) = changegate::server::gate::tokens_refusal(&settings.server.gate_tokens) {
        eprintln!("changegate: not started: {refusal}");
        return Ok(ExitCode::FAILURE);
    }
    tracing::info!(path = %settings.rules.path.display(), summary = initial.summary(), hash = %initial.hash, "rules loaded");
    let shared: SharedRules = Arc::new(RwLock::new(Arc::new(initial)));
    let watch = rules::watch::RulesWatch {
        path: settings.rules.path.clone(),
        shared: shared.clone(),
        ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
    };
    let rules_ready = watch.ready.clone();
    tokio::spawn(watch.run());
    let store = if no_migrate {
        let store = Store::open_existing(&settings.database.url).await?;
        // A newer version's tables may hold facts this one cannot read or keep up to date:
        // running on it is a rollback decision the operator makes, never a silent default.
        let newer = store.newer_migrations().await?;
        if !newer.is_empty() {
            if !allow_newer_database {
                anyhow::bail!(
                    "a newer changegate migrated this database ({}); this version does not know them. Run the newer version, or, when rolling back on purpose, start with `--no-migrate --allow-newer-database` (see docs/upgrades.md)",
                    newer.join(", ")
                );
            }
            tracing::warn!(
                unknown = newer.join(", "),
                "serving a database a newer changegate migrated (--allow-newer-database): what the newer version added is left alone"
            );
        }
        store
    } else {
        Store::open(&settings.database.url).await?
    };
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
    let wake = Arc::new(changegate::store::Wake::new());
    let state = AppState {
        store: store.clone(),
        writer: changegate::store::DeliveryWriter::spawn(store.clone(), wake.clone())?,
        github_secrets: Arc::new(secret_bytes(&settings.github.webhook_secret)),
        gitlab: Arc::new(gitlab_verifier(&settings)?),
        status_check_secrets: Arc::new(secret_bytes(&settings.gitlab.status_check_secret)),
        allow_unsigned: settings.allow_unsigned,
        max_body_bytes: settings.server.max_body_bytes,
        intake: Arc::new(
            changegate::server::intake::BodyBudget::new(
                settings.server.max_buffered_bytes,
                std::time::Duration::from_secs(settings.server.read_timeout_secs),
            )
            .with_min_rate(settings.server.min_body_rate_bytes),
        ),
        metrics: Some(metrics),
        rules_ready: rules_ready.clone(),
        forge_problems: Arc::default(),
    };
    warn_unsigned(&state);
    let (stop_tx, stop_rx) = watch::channel(false);
    let links = Arc::new(link_signer(&settings, &store).await?);
    let mut worker = build_worker(&settings, store.clone(), shared.clone(), dry_run)?;
    tokio::spawn(super::credentials::check(
        worker.forges.clone(),
        state.forge_problems.clone(),
    ));
    if settings.server.public_url.is_some() {
        worker.links = Some(links.clone());
    }
    let gate_worker = worker.clone();
    let pages = changegate::pages::PagesState {
        store: store.clone(),
        links,
        audit_token: settings.server.audit_token.clone().map(Arc::new),
        classification: rules::load(&settings.rules.path)
            .ok()
            .and_then(|r| r.classification().map(str::to_string))
            .unwrap_or_else(|| "CMT".into()),
    };
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
        // Rules that differ from the last run's, or a reload: open changes evaluated again.
        tokio::spawn(worker.clone().follow_rules());
        tokio::spawn(worker.clone().bind_rules_logins(Duration::from_secs(30)));
        worker.run(concurrency, wake, stop_rx).await;
    });
    let listener = tokio::net::TcpListener::bind(&settings.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    tracing::info!(listen = %settings.server.listen, "changegate is listening");
    let gate = changegate::server::gate::GateState {
        worker: gate_worker,
        token: settings.server.gate_token.clone().map(Arc::new),
        tokens: Arc::new(settings.server.gate_tokens.clone()),
    };
    let app = server::app(state)
        .merge(changegate::pages::router(pages))
        .merge(changegate::server::gate::router(gate));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    let _ = stop_tx.send(true);
    workers.abort();
    let _ = workers.await;
    Ok(ExitCode::SUCCESS)
}

/// The details pages' link key: configured, or generated once and shared through the database.
async fn link_signer(
    settings: &Settings,
    store: &Store,
) -> Result<changegate::pages::links::Links> {
    use secrecy::ExposeSecret;
    let key = match &settings.server.link_key {
        Some(k) => k.expose_secret().to_string(),
        None => {
            let fresh = changegate::pages::links::random_key()?;
            store.shared_key("link_key", &fresh).await?
        }
    };
    Ok(changegate::pages::links::Links::new(
        key.into_bytes(),
        settings.server.link_ttl_days,
        settings.server.public_url.as_deref().unwrap_or(""),
    ))
}

pub(super) fn build_worker(
    settings: &Settings,
    store: Store,
    rules: SharedRules,
    dry_run: bool,
) -> Result<Worker> {
    Ok(Worker {
        forges: Arc::new(forge_clients(settings, &store)?),
        store,
        rules,
        dry_run,
        status_context: settings.status.context.clone(),
        max_attempts: settings.worker.max_attempts,
        memberships: MembershipCache::new(Duration::from_secs(settings.worker.membership_ttl_secs)),
        lease: Duration::from_secs(settings.worker.lease_secs),
        approval_projects: settings.gitlab.approval_projects.clone(),
        gitlab_blocks: changegate::worker::GitlabBlocks::new(
            settings.gitlab.status_checks,
            settings.server.public_url.as_deref(),
            std::time::Duration::from_secs(settings.gitlab.merge_settings_ttl_secs),
        ),
        repo_rules: Default::default(),
        heads: Default::default(),
        received: Default::default(),
        links: None,
        quota_reserve_percent: settings.worker.quota_reserve_percent,
        repositories: settings.reconcile.repositories.clone(),
        max_units_per_change_hour: settings.worker.max_units_per_change_hour,
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
    let target = changegate::model::Repo {
        path: repo.clone(),
        id: None,
    };
    // Enforced changes are chosen with the repository's own rules, when it has some.
    let client = &worker.forges.get(forge).ok_or_else(missing)?.client;
    let effective = worker.rules_for(client, forge, &target, rules).await?;
    let pass = reconcile::pass(&worker.store, client, &effective.rules, forge, repo).await?;
    // GitLab deployments waiting for approval that no hook announced.
    if let Err(e) = worker
        .queue_blocked_deployments(client, forge, &target)
        .await
    {
        tracing::warn!(error = format!("{e:#}"), "cannot list blocked deployments");
    }
    Ok(pass)
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
            let paused = changegate::forge::quota::paused(worker.quota_reserve_percent);
            for target in &targets {
                let outcome = match reconcile::parse_target(target) {
                    Ok((forge, _)) if paused.contains(&forge) => {
                        tracing::info!(
                            target,
                            "reconcile paused: the forge's rate limit is under the reserve"
                        );
                        continue;
                    }
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

pub(super) async fn reconcile_now(
    settings: Settings,
    forge: Forge,
    repo: &str,
) -> Result<ExitCode> {
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
        Arc::new(changegate::store::Wake::new()),
        stop_rx,
    ));
    let jobs = reconcile::wait(&store, &pass.queued, Duration::from_secs(600)).await;
    let _ = stop_tx.send(true);
    let _ = running.await;
    let jobs = jobs?;
    let changed = jobs.iter().filter(|j| j.writes > 0).count();
    let failed = jobs.iter().filter(|j| j.state == "failed").count();
    // Stdout stays empty (cron mails whatever a job prints there); the summary goes with
    // the logs.
    eprintln!(
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

/// The GitHub client of the settings (App or token), if any.
pub(super) fn github_client(settings: &Settings) -> Result<Option<GithubClient>> {
    let client = match (
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
    Ok(match client {
        Some(c) if !settings.github.graphql => Some(c.without_graphql()),
        other => other,
    })
}

/// The GitLab client of the settings, if a token is set.
pub(super) fn gitlab_client(settings: &Settings) -> Result<Option<GitlabClient>> {
    Ok(match &settings.gitlab.token {
        Some(t) => Some(
            GitlabClient::new(
                &settings.gitlab.url,
                t.expose_secret(),
                RetryPolicy::default(),
            )?
            .with_min_access_level(settings.gitlab.min_access_level),
        ),
        None => None,
    })
}

/// A client per forge that has a token; the others run offline (payload only, logged).
fn forge_clients(settings: &Settings, store: &Store) -> Result<ForgeClients> {
    let github = github_client(settings)?;
    // The answers to conditional reads are shared through the database.
    let replies = Arc::new(store.replies(settings.github.reply_cache_mb.saturating_mul(1 << 20)));
    let github = github.map(|c| c.with_reply_store(replies));
    let gitlab = gitlab_client(settings)?;
    let used = [
        !settings.github.webhook_secret.is_empty() || github.is_some(),
        !settings.gitlab.webhook_secret.is_empty()
            || !settings.gitlab.signing_token.is_empty()
            || gitlab.is_some(),
    ];
    // A forge that is not used at all (no secret, no token) is not talked about twice.
    let all_unused = used.iter().all(|u| !u);
    for ((name, client), used) in [("GitHub", github.is_some()), ("GitLab", gitlab.is_some())]
        .into_iter()
        .zip(used)
    {
        if !client && (used || all_unused) {
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

/// Warns of a forge whose deliveries will all be refused, unless the other forge is set up:
/// then that one is simply not used, which is said once at info level, not as a warning.
fn warn_unsigned(state: &AppState) {
    let forges = [
        ("GitHub", !state.github_secrets.is_empty()),
        ("GitLab", state.gitlab.is_configured()),
    ];
    let any = forges.iter().any(|(_, configured)| *configured);
    for (forge, configured) in forges {
        if !configured && any && !state.allow_unsigned {
            tracing::info!(
                "{forge} is not configured (no webhook secret): its deliveries are refused with 401"
            );
        } else if !configured {
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
