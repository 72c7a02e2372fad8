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
        Forge::Gitlab => server::gitlab::parse(event_name, None, &body)?,
    };
    let EventPayload::Change(c) = &event.payload else {
        let output = serde_json::json!({ "event": event, "decision": null, "actions": [] });
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(ExitCode::SUCCESS);
    };
    let mut snap = Snapshot::from_event(c, now).offline_link(&rules);
    for m in members {
        let (group, user) = m
            .split_once('=')
            .with_context(|| format!("--member `{m}` must be GROUP=USER"))?;
        snap.memberships
            .set(group, &changegate::model::User::named(user), true);
    }
    let decision = policy::evaluate(&rules, &snap);
    let planned = actions::plan(&snap, &decision, &actions::Known::default(), context);
    let mut output =
        serde_json::json!({ "event": event, "decision": decision, "actions": planned });
    if let Some(other) = other {
        let theirs = policy::evaluate(&other, &snap);
        let their_actions = actions::plan(&snap, &theirs, &actions::Known::default(), context);
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
