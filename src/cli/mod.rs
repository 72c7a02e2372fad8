//! Subcommands. Each loads only what it needs: `check`, `simulate` and `schema` touch no
//! network and no database.

use anyhow::Result;
use changegate::model::Forge;
use changegate::rules;
use changegate::settings::{SETTINGS_HELP, Settings};
use changegate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod credentials;
mod deploy;
mod inspect;
mod labels;
mod link;
mod offline;
mod serve;

use inspect::{audit, audit_verify, explain, overdue};
use offline::{check, simulate};
use serve::{reconcile_now, serve};

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
    Serve {
        /// Do not create or migrate the database: refuse to start unless it exists and is
        /// migrated (run `changegate migrate` first, e.g. once per upgrade, before the replicas).
        #[arg(long)]
        no_migrate: bool,
        /// With --no-migrate: start even though a newer changegate migrated the database
        /// (rolling back a release; see docs/upgrades.md). Without it such a database is refused.
        #[arg(long, requires = "no_migrate")]
        allow_newer_database: bool,
    },
    /// Create the database if needed and apply the migrations it lacks; print what was applied.
    Migrate,
    /// Validate a rules file; print `file:line:column: problem` for each mistake, or a
    /// summary and each blocked period's next occurrence.
    Check {
        /// The rules file.
        #[arg(default_value = "rules.yaml")]
        rules: PathBuf,
        /// List the blocked periods in force at, or next after, this time (RFC 3339 or a
        /// date) instead of now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Evaluate a webhook payload offline and print the change, the decision and the actions.
    Simulate {
        /// The forge that sent the payload: github or gitlab.
        #[arg(long, required_unless_present = "deploy")]
        forge: Option<Forge>,
        /// The event: GitHub's X-GitHub-Event (`pull_request`, `issues`, …), GitLab's
        /// X-Gitlab-Event (`Merge Request Hook`) or its payload's object_kind (`merge_request`).
        #[arg(long, required_unless_present = "deploy")]
        event: Option<String>,
        /// Instead: evaluate a deployment's facts (JSON, as `explain --deploy` gathers them).
        #[arg(long, value_name = "FACTS", conflicts_with_all = ["payload", "compare"])]
        deploy: Option<PathBuf>,
        /// A file the change touches (repeatable). Without any, the changed files are unknown
        /// offline and `changed_paths` conditions count as met (fail closed), as the output says.
        #[arg(long = "changed-file", value_name = "PATH")]
        changed_files: Vec<String>,
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
        /// Evaluate as at this time (RFC 3339 or a date) instead of now: blocked periods and
        /// deadlines depend on it.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The payload file.
        #[arg(required_unless_present = "deploy")]
        payload: Option<PathBuf>,
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
    /// List jobs that are not done (queued, running, failed; timers with the time they are due).
    Jobs {
        /// Instead: per forge, the events of the last hour and the quota units they spent.
        #[arg(long)]
        stats: bool,
    },
    /// Queue a failed job again.
    Retry { id: i64 },
    /// Evaluate every open change of a repository now (catches missed webhooks); waits for
    /// the evaluations and prints how many changes were checked and changed.
    Reconcile {
        /// github or gitlab.
        #[arg(long)]
        forge: Forge,
        /// OWNER/NAME on GitHub, the project's full path on GitLab.
        #[arg(long)]
        repo: String,
    },
    /// Read a live change and print each rule's verdict and why (nothing is written).
    Explain {
        /// github or gitlab.
        #[arg(long)]
        forge: Forge,
        #[arg(long)]
        repo: String,
        /// The change; without it (GitLab), only the project's blocks are shown.
        #[arg(long)]
        number: Option<u64>,
        /// The number is an issue's, not a merge/pull request's.
        #[arg(long)]
        issue: bool,
        /// Instead: how a deployment of --sha to --environment would be decided now, and
        /// deployments of it seen running without a valid allow (nothing is recorded).
        #[arg(long, requires_all = ["environment", "sha"])]
        deploy: bool,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        sha: Option<String>,
        /// The deployed branch, when known.
        #[arg(long = "ref")]
        git_ref: Option<String>,
    },
    /// Decide a deployment now, as `GET /gate` does (recorded and audited); prints the
    /// answer as JSON and exits 0 only when it is allowed.
    Gate {
        #[arg(long)]
        forge: Forge,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        sha: String,
        #[arg(long)]
        environment: String,
        /// The deployed branch, when known: the changes must have merged into it.
        #[arg(long = "ref")]
        git_ref: Option<String>,
    },
    /// Operator records for deployment gates (audited).
    Deployments {
        #[command(subcommand)]
        command: DeploymentsCommand,
    },
    /// List every label the rules use (colour per scope, description from the rules) and how
    /// the repository's labels differ; with --apply, create or update them.
    Labels {
        /// github or gitlab.
        #[arg(long)]
        forge: Forge,
        /// OWNER/NAME on GitHub, the project's full path on GitLab.
        #[arg(long)]
        repo: String,
        /// Create and update the labels (without it nothing is changed).
        #[arg(long)]
        apply: bool,
    },
    /// Print a fresh signed link to a change's details page (needs server.public_url).
    Link {
        /// github or gitlab.
        #[arg(long)]
        forge: Forge,
        /// OWNER/NAME on GitHub, the project's full path on GitLab.
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
    #[command(subcommand_negates_reqs = true)]
    Audit {
        #[command(subcommand)]
        verify: Option<AuditCommand>,
        #[arg(long, required = true)]
        forge: Option<Forge>,
        #[arg(long, required = true)]
        repo: Option<String>,
        /// Only records from this date (2026-01-31) or time (RFC 3339) on.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: AuditFormat,
        /// Export the deployment decisions instead of the changes.
        #[arg(long)]
        deployments: bool,
    },
    /// List merged emergency changes that still owe approvals, soonest deadline first.
    Overdue {
        #[arg(long)]
        forge: Option<Forge>,
        /// OWNER/NAME on GitHub, the project's full path on GitLab.
        #[arg(long)]
        repo: Option<String>,
        /// json: one object per change.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DeploymentsCommand {
    /// Record an environment's baseline (its first deployment has none): the SHA deployed
    /// there now, as checked by NAME.
    Baseline {
        #[arg(long)]
        forge: Forge,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        environment: String,
        #[arg(long)]
        sha: String,
        #[arg(long)]
        by: String,
    },
    /// Accept, after review, a commit that reached a branch without a change (a direct push).
    Accept {
        #[arg(long)]
        forge: Forge,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        sha: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the audit chains (every one, or a forge's, or a repository's) and exit non-zero
    /// naming the first broken record: edited, deleted or reordered.
    Verify {
        #[arg(long)]
        forge: Option<Forge>,
        #[arg(long)]
        repo: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AuditFormat {
    Json,
    Csv,
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = || Settings::load(cli.config.as_deref());
    match cli.command {
        Command::Check { rules, at } => check(&rules, at.as_deref()),
        Command::Simulate {
            deploy: Some(facts),
            rules,
            ..
        } => deploy::simulate(&rules, &facts),
        Command::Simulate {
            forge: Some(forge),
            event: Some(event),
            deploy: None,
            rules,
            members,
            context,
            compare,
            at,
            payload: Some(payload),
            changed_files,
        } => simulate(
            forge,
            &event,
            &rules,
            &offline::Options {
                members: &members,
                context: &context,
                compare: compare.as_deref(),
                at: at.as_deref(),
                changed_files: &changed_files,
            },
            &payload,
        ),
        Command::Simulate { .. } => {
            anyhow::bail!("simulate needs --forge, --event and a payload, or --deploy FACTS")
        }
        Command::Probe { url } => probe(&url).await,
        Command::Schema { repository } => schema(repository),
        Command::Serve {
            no_migrate,
            allow_newer_database,
        } => serve(settings()?, no_migrate, allow_newer_database).await,
        Command::Migrate => migrate(settings()?).await,
        Command::Jobs { stats: false } => jobs(settings()?).await,
        Command::Jobs { stats: true } => job_stats(settings()?).await,
        Command::Retry { id } => retry(settings()?, id).await,
        Command::Reconcile { forge, repo } => reconcile_now(settings()?, forge, &repo).await,
        Command::Explain {
            forge,
            repo,
            deploy: true,
            environment: Some(environment),
            sha: Some(sha),
            git_ref,
            ..
        } => {
            let t = deploy::Target {
                forge,
                repo: &repo,
                environment: &environment,
                sha: &sha,
                git_ref: git_ref.as_deref(),
            };
            deploy::explain(settings()?, t).await
        }
        Command::Explain { deploy: true, .. } => {
            anyhow::bail!("explain --deploy needs --environment and --sha")
        }
        Command::Explain {
            forge,
            repo,
            number,
            issue,
            ..
        } => explain(settings()?, forge, &repo, number, issue).await,
        Command::Gate {
            forge,
            repo,
            sha,
            environment,
            git_ref,
        } => {
            let t = deploy::Target {
                forge,
                repo: &repo,
                environment: &environment,
                sha: &sha,
                git_ref: git_ref.as_deref(),
            };
            deploy::gate(settings()?, t).await
        }
        Command::Deployments {
            command:
                DeploymentsCommand::Baseline {
                    forge,
                    repo,
                    environment,
                    sha,
                    by,
                },
        } => {
            let t = deploy::Target {
                forge,
                repo: &repo,
                environment: &environment,
                sha: &sha,
                git_ref: None,
            };
            deploy::baseline(settings()?, t, &by).await
        }
        Command::Deployments {
            command:
                DeploymentsCommand::Accept {
                    forge,
                    repo,
                    sha,
                    by,
                    reason,
                },
        } => deploy::accept(settings()?, forge, &repo, &sha, &by, &reason).await,
        Command::Labels { forge, repo, apply } => {
            labels::labels(settings()?, forge, &repo, apply).await
        }
        Command::Link {
            forge,
            repo,
            number,
            issue,
        } => link::link(settings()?, forge, &repo, number, issue).await,
        Command::Audit {
            verify: Some(AuditCommand::Verify { forge, repo }),
            ..
        } => audit_verify(settings()?, forge, repo.as_deref()).await,
        Command::Audit {
            verify: None,
            forge,
            repo,
            since,
            format,
            deployments,
        } => {
            let (Some(forge), Some(repo)) = (forge, repo) else {
                anyhow::bail!("audit needs --forge and --repo");
            };
            if deployments {
                let since_ms = match since.as_deref() {
                    Some(s) => changegate::report::parse_since(s).map_err(anyhow::Error::msg)?,
                    None => 0,
                };
                let csv = matches!(format, AuditFormat::Csv);
                return deploy::export(settings()?, forge, &repo, since_ms, csv).await;
            }
            audit(settings()?, forge, &repo, since.as_deref(), format).await
        }
        Command::Overdue { forge, repo, json } => {
            overdue(settings()?, forge, repo.as_deref(), json).await
        }
    }
}

/// Exit 0 when `url` answers 2xx (the container's health check).
async fn probe(url: &str) -> Result<ExitCode> {
    let ok = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn schema(repository: bool) -> Result<ExitCode> {
    let schema = if repository {
        rules::repository_json_schema()
    } else {
        rules::json_schema()
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}

/// Opens the database for a command that only reads. One a newer changegate migrated is still
/// read (its older part is what this version knows), with a warning naming what it does not know.
pub(super) async fn open_read_only(url: &str) -> Result<Store> {
    let store = Store::open_existing(url).await?;
    let newer = store.newer_migrations().await?;
    if !newer.is_empty() {
        eprintln!(
            "changegate: warning: a newer changegate migrated this database ({} unknown to this version: {}); reading it anyway, what the newer version added is not shown",
            if newer.len() == 1 {
                "a migration"
            } else {
                "migrations"
            },
            newer.join(", ")
        );
    }
    Ok(store)
}

/// `changegate migrate`: the database created if needed, its missing migrations applied.
async fn migrate(settings: Settings) -> Result<ExitCode> {
    let (_, applied) = Store::migrate(&settings.database.url).await?;
    if applied.is_empty() {
        println!("the database is up to date");
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Jobs queued, running or failed, one per line under a header.
async fn jobs(settings: Settings) -> Result<ExitCode> {
    let store = open_read_only(&settings.database.url).await?;
    let jobs = store.unfinished_jobs().await?;
    println!("id\tstate\tchange\tattempts\twrites\tdelivery\tlast error");
    if jobs.is_empty() {
        println!("no jobs: nothing is queued, running or failed");
    }
    for j in jobs {
        let state = match j.due.and_then(chrono::DateTime::from_timestamp_millis) {
            Some(due) if j.state == "queued" => format!("due {}", due.format("%Y-%m-%d %H:%M UTC")),
            _ => j.state.clone(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            j.id,
            state,
            j.change_key,
            j.attempts,
            j.writes,
            j.delivery_id.unwrap_or_default(),
            j.last_error.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Quota units (REST) and points (GraphQL) per event over the last hour, per forge.
async fn job_stats(settings: Settings) -> Result<ExitCode> {
    let store = open_read_only(&settings.database.url).await?;
    let rows = store.quota_stats(3_600_000).await?;
    if rows.is_empty() {
        println!("no event handled in the last hour");
    }
    for (forge, events, units, points) in rows {
        let per = |n: i64| {
            if events > 0 {
                n as f64 / events as f64
            } else {
                0.0
            }
        };
        println!(
            "{forge}: {events} events in the last hour, {units} quota units, {:.2} per event; {points} GraphQL points, {:.2} per event",
            per(units),
            per(points)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn retry(settings: Settings, id: i64) -> Result<ExitCode> {
    let store = open_read_only(&settings.database.url).await?;
    if store.retry(id).await? {
        println!("job {id} queued again; a running `changegate serve` will process it");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("changegate: job {id} is not a failed job (see `changegate jobs`)");
        Ok(ExitCode::FAILURE)
    }
}
