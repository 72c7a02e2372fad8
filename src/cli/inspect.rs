//! Commands that read what happened or what would happen: explain, audit, overdue.

use super::AuditFormat;
use super::serve::build_worker;
use anyhow::Result;
use changegate::model::Forge;
use changegate::policy::{self};
use changegate::rules;
use changegate::settings::Settings;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

pub(super) async fn explain(
    settings: Settings,
    forge: Forge,
    repo: &str,
    number: Option<u64>,
    issue: bool,
) -> Result<ExitCode> {
    let rules = Arc::new(rules::load(&settings.rules.path).map_err(|e| anyhow::anyhow!("{e}"))?);
    let store = super::open_read_only(&settings.database.url).await?;
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
        number: 0,
    };
    let missing = || {
        anyhow::anyhow!(
            "no {} token is configured: explain reads the forge's API",
            forge.display_name()
        )
    };
    let connected = worker.forges.get(forge).ok_or_else(missing)?;
    let Some(number) = number else {
        if forge != Forge::Gitlab {
            anyhow::bail!("--number is required on GitHub");
        }
        print_blocks(&worker, &connected.client, &r.repo, None, None).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let r = changegate::forge::ChangeRef { number, ..r };
    let found = worker
        .explain(&connected.client, &connected.bot, &r, &rules)
        .await?;
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
    if c.kind == changegate::model::ChangeKind::MergeRequest {
        let change = c.head_sha.as_deref().map(|head| (&r, head));
        print_blocks(
            &worker,
            &connected.client,
            &r.repo,
            c.target_branch.as_deref(),
            change,
        )
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Which of GitLab's blocks are in force on the project, and which are missing.
async fn print_blocks(
    worker: &changegate::worker::Worker,
    client: &changegate::forge::ForgeClient,
    repo: &changegate::model::Repo,
    target: Option<&str>,
    change: Option<(&changegate::forge::ChangeRef, &str)>,
) -> Result<()> {
    let Some(facts) = worker
        .gitlab_block_facts(client, repo, target, change)
        .await?
    else {
        return Ok(());
    };
    println!("GitLab blocks of {}:", repo.path.as_str());
    for (block, on) in policy::blocks_in_force(&facts) {
        println!("  [{}] {block}", if on { "x" } else { " " });
    }
    let approval = worker
        .approval_projects
        .iter()
        .any(|p| policy::glob(p, repo.path.as_str()));
    println!(
        "  [{}] approval mode (Premium): changegate approves as the verdict says (gitlab.approval_projects; the approval rule requiring its account is not read from GitLab)",
        if approval { "x" } else { " " }
    );
    if !worker.gitlab_blocks.status_checks {
        println!("  [ ] external status check (Ultimate): gitlab.status_checks is off");
    }
    for why in policy::missing_blocks(&facts) {
        println!("missing: {why}");
    }
    Ok(())
}

pub(super) async fn audit(
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
    let store = super::open_read_only(&settings.database.url).await?;
    let rows = store
        .audit_rows(forge.as_str(), repo, None, since_ms)
        .await?;
    if rows.is_empty() {
        eprintln!(
            "changegate: no audit records for {} {repo}{} in {}: check --forge and --repo (OWNER/NAME, or the project's full path on GitLab) and database.url",
            forge.display_name(),
            since.map(|s| format!(" since {s}")).unwrap_or_default(),
            changegate::store::redact(&settings.database.url)
        );
    }
    let mut records = changegate::report::build(&rows, &scope)?;
    let head = store.audit_head(forge.as_str(), repo).await?;
    for r in &mut records {
        r.chain_head = head.clone();
    }
    match format {
        AuditFormat::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        AuditFormat::Csv => print!("{}", changegate::report::to_csv(&records)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Walks the audit chains; non-zero naming the first broken record of each broken chain.
pub(super) async fn audit_verify(
    settings: Settings,
    forge: Option<Forge>,
    repo: Option<&str>,
) -> Result<ExitCode> {
    let store = super::open_read_only(&settings.database.url).await?;
    let reports = store.verify_audit(forge.map(|f| f.as_str()), repo).await?;
    if reports.is_empty() {
        println!("no audit chain to verify");
    }
    let mut broken = false;
    for r in &reports {
        match &r.broken {
            None => println!(
                "{} {}: ok, {} records, head {}",
                r.forge, r.repo, r.records, r.head
            ),
            Some(why) => {
                broken = true;
                println!(
                    "{} {}: BROKEN after {} good records: {why}",
                    r.forge, r.repo, r.records
                );
            }
        }
    }
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Merged emergencies still owing approvals, soonest deadline first; one line each (or JSON).
pub(super) async fn overdue(
    settings: Settings,
    forge: Option<Forge>,
    repo: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let store = super::open_read_only(&settings.database.url).await?;
    let rows = store.owed_emergencies(forge, repo).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("No merged emergency change owes approvals.");
    }
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    for r in rows {
        println!(
            "{} {}#{}\t{} {}\tmerged {}\towes: {}\t{}",
            r.forge,
            r.repo,
            r.number,
            if r.overdue { "OVERDUE since" } else { "due" },
            time(r.due_at),
            time(r.merged_at),
            r.missing.join(", "),
            r.web_url.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
