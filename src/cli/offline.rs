//! Commands that need no network and no database: check, simulate.

use anyhow::{Context, Result};
use changegate::actions;
use changegate::model::{EventPayload, Forge};
use changegate::policy::{self, Snapshot};
use changegate::rules;
use changegate::server;
use std::process::ExitCode;

/// Validates the rules; when they are valid, names each blocked period's occurrence in force
/// at `now` or next to start, so that a freeze is never a surprise.
pub(super) fn check(path: &std::path::Path, at: Option<&str>) -> Result<ExitCode> {
    let now = match at {
        Some(text) => rules::parse_time(text).map_err(|e| anyhow::anyhow!("--at {e}"))?,
        None => chrono::Utc::now(),
    };
    match rules::load(path) {
        Ok(r) => {
            // Valid, but leaving a way around: said on stderr, the exit code unchanged.
            for w in &r.warnings {
                eprintln!(
                    "{}:{}:{}: warning: {}",
                    path.display(),
                    w.pos.line,
                    w.pos.column,
                    w.message
                );
            }
            println!("{}: ok: {}", path.display(), r.summary());
            for line in blocked_periods(&r, now) {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `quarter-close: 2026-12-24 00:00 → 2027-01-07 00:00 UTC, every change`, one per period.
fn blocked_periods(r: &rules::Rules, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    r.blocked_periods
        .iter()
        .map(|p| {
            let when = match p.window.occurrence_for(now) {
                Some((start, end)) if start <= now => {
                    format!("in force now, until {} UTC", time(end))
                }
                Some((start, end)) => format!("{} → {} UTC", time(start), time(end)),
                None => "over: no occurrence from now on".into(),
            };
            format!("{}: {when}, {}", p.name, p.when.describe())
        })
        .collect()
}

/// How `simulate` evaluates: memberships to assume, the status context, rules to compare
/// with, and the time to evaluate at.
pub(super) struct Options<'a> {
    pub members: &'a [String],
    pub context: &'a str,
    pub compare: Option<&'a std::path::Path>,
    pub at: Option<&'a str>,
    /// The files the change touches (`--changed-file`); empty: unknown.
    pub changed_files: &'a [String],
}

pub(super) fn simulate(
    forge: Forge,
    event_name: &str,
    rules_path: &std::path::Path,
    opts: &Options,
    payload: &std::path::Path,
) -> Result<ExitCode> {
    let Options {
        members,
        context,
        compare,
        at,
        changed_files,
    } = *opts;
    let now = match at {
        Some(text) => rules::parse_time(text).map_err(|e| anyhow::anyhow!("--at {e}"))?,
        None => chrono::Utc::now(),
    };
    let load = |p: &std::path::Path| rules::load(p).map_err(|e| anyhow::anyhow!("{e}"));
    let rules = load(rules_path)?;
    let other = compare.map(load).transpose()?;
    let body =
        std::fs::read(payload).with_context(|| format!("cannot read {}", payload.display()))?;
    let event = match forge {
        Forge::Github => server::github::parse(event_name, None, &body)?,
        Forge::Gitlab => server::gitlab::parse(gitlab_header(event_name), None, &body)?,
    };
    let EventPayload::Change(c) = &event.payload else {
        let output = serde_json::json!({ "event": event, "decision": null, "actions": [] });
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(ExitCode::SUCCESS);
    };
    let mut snap = Snapshot::from_event(c, now).offline_link(&rules);
    // The labels this delivery added were added when the payload says it happened.
    if let Some(t) = payload_time(forge, &body) {
        for l in &mut snap.label_events {
            l.at = Some(t);
        }
    }
    let files = if changed_files.is_empty() {
        if rules.reads_files() {
            eprintln!(
                "changegate: the changed files are unknown offline: `changed_paths` conditions count as met (fail closed); give --changed-file PATH for each file"
            );
        }
        serde_json::json!("unknown")
    } else {
        snap.changed_files = Some(changegate::model::ChangedFiles {
            paths: changed_files.to_vec(),
            complete: true,
        });
        serde_json::json!(changed_files)
    };
    for m in members {
        let (group, user) = m
            .split_once('=')
            .with_context(|| format!("--member `{m}` must be GROUP=USER"))?;
        snap.memberships
            .set(group, &changegate::model::User::named(user), true);
    }
    let decision = policy::evaluate(&rules, &snap);
    let planned = actions::plan(&snap, &decision, &actions::Known::default(), context);
    let mut output = serde_json::json!({
        "event": event,
        "changed_files": files,
        "decision": needed_only(&rules, decision.clone()),
        "actions": planned,
    });
    if let Some(other) = other {
        let theirs = policy::evaluate(&other, &snap);
        let their_actions = actions::plan(&snap, &theirs, &actions::Known::default(), context);
        output["compare"] = serde_json::json!({
            "rules": compare.map(|p| p.display().to_string()),
            "decision": needed_only(&other, theirs.clone()),
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

/// GitLab's X-Gitlab-Event for a payload's `object_kind` (`merge_request`), so that either
/// can be given to `--event`.
fn gitlab_header(event: &str) -> &str {
    match event {
        "merge_request" => "Merge Request Hook",
        "issue" => "Issue Hook",
        "note" => "Note Hook",
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        "pipeline" => "Pipeline Hook",
        "build" => "Job Hook",
        other => other,
    }
}

/// When the payload says its event happened: the change's `updated_at` (GitHub RFC 3339,
/// GitLab `2026-12-05 21:30:00 UTC` or RFC 3339).
fn payload_time(forge: Forge, body: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = match forge {
        Forge::Github => v
            .get("pull_request")
            .or_else(|| v.get("issue"))?
            .get("updated_at")?
            .as_str()?,
        Forge::Gitlab => v.get("object_attributes")?.get("updated_at")?.as_str()?,
    };
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S UTC")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The decision with only the approvals the change needs: what its matched rules require,
/// what lifts a blocked period covering it, and what it owes after merge.
fn needed_only(rules: &rules::Rules, mut d: policy::Decision) -> policy::Decision {
    let mut needed: Vec<&str> = rules
        .rules
        .iter()
        .filter(|r| d.matched_rules.contains(&r.name))
        .flat_map(|r| r.require.iter().map(String::as_str))
        .collect();
    let exceptions: Vec<String> = d.blocked.iter().flat_map(|b| b.exception.clone()).collect();
    needed.extend(exceptions.iter().map(String::as_str));
    let owed: Vec<String> = d
        .owed
        .iter()
        .flat_map(|o| o.items.iter().map(|i| i.name.clone()))
        .collect();
    needed.extend(owed.iter().map(String::as_str));
    d.approvals.retain(|a| needed.contains(&a.name.as_str()));
    d
}
