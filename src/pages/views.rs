//! What the pages show, from the typed audit records, rendered by askama (which escapes
//! every value).

use super::audit_view::{Piece, pieces};
use crate::evidence::DecisionEvidence;
use crate::model::Forge;
use crate::policy::{ApprovalState, Verdict, Via};
use anyhow::Result;
use askama::Template;
use chrono::{DateTime, Utc};

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub(super) fn verdict_words(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Pass => ("Ready to merge", "pass"),
        Verdict::Fail => ("Not ready to merge", "fail"),
        Verdict::NotEnforced => ("Not subject to change management", "muted"),
    }
}

pub struct Item {
    pub title: Vec<Piece>,
    pub met: bool,
    pub detail: Vec<Piece>,
}

pub struct ApprovalRow {
    pub role: String,
    pub approver: String,
    pub at: String,
    pub how: String,
    pub commit: String,
    /// The comment that gave it (given by comment command).
    pub comment_url: Option<String>,
}

pub struct Removed {
    pub label: String,
    pub reason: Vec<super::audit_view::Piece>,
    /// The reason as recorded (Markdown), to show each once.
    pub raw: String,
    pub at: String,
}

pub struct HistoryRow {
    pub at: String,
    pub verdict: String,
    /// The event decided on and who caused it.
    pub trigger: String,
    pub summary: Vec<super::audit_view::Piece>,
    pub rules: String,
}

#[derive(Template)]
#[template(path = "details.html")]
struct DetailsPage {
    forge_name: &'static str,
    repo: String,
    kind: &'static str,
    number: u64,
    web_url: Option<String>,
    heading: String,
    verdict: String,
    verdict_class: &'static str,
    summary: Vec<super::audit_view::Piece>,
    state: String,
    /// Evaluated without writing to the forge (dry run): said on top of the page.
    dry_run: bool,
    decided_at: String,
    rules_hash: String,
    checklist: Vec<Item>,
    approvals: Vec<ApprovalRow>,
    removed: Vec<Removed>,
    blocked: Vec<String>,
    owed_heading: String,
    owed: Vec<Item>,
    history: Vec<HistoryRow>,
}

/// The details page of one change from its decisions, oldest first (at, record, rules hash).
pub fn details(
    forge: Forge,
    repo: &str,
    number: u64,
    decided: &[(i64, DecisionEvidence, Option<String>)],
    dry_run: bool,
) -> Result<String> {
    let Some((at, last, hash)) = decided.last() else {
        anyhow::bail!("no decision");
    };
    let d = &last.decision;
    let (verdict, verdict_class) = super::headline::headline(decided);
    // A merged emergency that still owes: what it owes, not that it could merge.
    let owing = d
        .owed
        .as_ref()
        .filter(|o| !o.complete && last.change.state == crate::model::ChangeState::Merged);
    let summary = match owing {
        Some(o) => format!(
            "Still owed: {}",
            o.items
                .iter()
                .filter(|i| i.given.is_none())
                .map(|i| i.title.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        None => d.summary.clone(),
    };
    let commit = last
        .change
        .head_sha
        .as_deref()
        .map(|s| s.get(..12).unwrap_or(s).to_string())
        .unwrap_or_default();
    let mut approvals = vec![];
    for o in d.approvals.iter().filter(|o| o.is_met()) {
        let ApprovalState::Met { by, at, via } = &o.state else {
            continue;
        };
        let how = match (via, &o.on) {
            (Via::LinkedIssue, Some(issue)) => format!("label on {issue}"),
            (Via::NativeApproval, _) => "approved the merge request".into(),
            (Via::Comment, _) => "comment command".into(),
            _ => "label".into(),
        };
        let mut people = vec![(by, at, how.clone())];
        people.extend(o.others.iter().map(|p| {
            let how = match p.via {
                Via::NativeApproval => "approved the merge request".to_string(),
                Via::Comment => "comment command".to_string(),
                _ => how.clone(),
            };
            (&p.by, &p.at, how)
        }));
        for (by, at, how) in people {
            approvals.push(ApprovalRow {
                role: o.name.clone(),
                approver: by.mention(),
                at: at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "unknown".into()),
                comment_url: o
                    .comment_url(by)
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .map(str::to_string),
                how,
                commit: commit.clone(),
            });
        }
    }
    let mut removed: Vec<Removed> = vec![];
    for (at, ev, _) in decided {
        for o in &ev.decision.approvals {
            if let ApprovalState::Invalid { reason } = &o.state
                && ev.decision.remove_labels.iter().any(|c| c.label == o.label)
                && !removed
                    .iter()
                    .any(|r| r.label == o.label.as_str() && &r.raw == reason)
            {
                removed.push(Removed {
                    label: o.label.to_string(),
                    raw: reason.clone(),
                    reason: super::audit_view::pieces(reason),
                    at: when(*at),
                });
            }
        }
    }
    let blocked = d
        .blocked
        .iter()
        .map(|b| {
            format!(
                "{} until {}: {}",
                b.period,
                b.until.format("%Y-%m-%d %H:%M UTC"),
                if b.lifted {
                    "lifted by its exception approvals"
                } else {
                    "not lifted"
                }
            )
        })
        .collect();
    let (owed_heading, owed) = match &d.owed {
        None => (String::new(), vec![]),
        Some(o) => {
            let heading = match (o.merged_at, o.due) {
                (Some(m), Some(due)) => format!(
                    "Merged {}; due by {}{}.",
                    m.format("%Y-%m-%d %H:%M UTC"),
                    due.format("%Y-%m-%d %H:%M UTC"),
                    if o.overdue && !o.complete {
                        " — overdue"
                    } else {
                        ""
                    }
                ),
                _ => format!("Owed within {} of merge.", o.within),
            };
            let items = o
                .items
                .iter()
                .map(|i| Item {
                    title: pieces(&i.title),
                    met: i.given.is_some(),
                    detail: pieces(&match &i.given {
                        Some(g) => format!(
                            "given by {}{}",
                            g.by.mention(),
                            g.at.map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
                                .unwrap_or_default()
                        ),
                        None => i.problem.clone().unwrap_or_else(|| "owed".into()),
                    }),
                })
                .collect();
            (heading, items)
        }
    };
    let page = DetailsPage {
        forge_name: forge.display_name(),
        repo: repo.to_string(),
        kind: match last.change.kind {
            crate::model::ChangeKind::MergeRequest => "merge request",
            crate::model::ChangeKind::Issue => "issue",
        },
        number,
        web_url: last.change.web_url.clone(),
        heading: last.change.title.clone(),
        verdict,
        verdict_class,
        summary: pieces(&summary),
        state: match last.change.merged_at {
            Some(m) => format!("merged {}", m.format("%Y-%m-%d %H:%M UTC")),
            None => format!("{:?}", last.change.state).to_lowercase(),
        },
        dry_run,
        decided_at: when(*at),
        rules_hash: hash.clone().unwrap_or_default(),
        checklist: d
            .checklist
            .iter()
            .map(|i| Item {
                title: pieces(&i.title),
                met: i.met,
                detail: pieces(&i.detail),
            })
            .collect(),
        approvals,
        removed,
        blocked,
        owed_heading,
        owed,
        history: decided
            .iter()
            .rev()
            .map(|(at, ev, hash)| HistoryRow {
                at: DateTime::<Utc>::from_timestamp_millis(*at)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
                verdict: verdict_words(ev.decision.verdict).0.to_string(),
                trigger: match &ev.trigger {
                    Some(t) => match &t.actor {
                        Some(a) => format!("{} by {a}", t.event),
                        None => t.event.clone(),
                    },
                    None => "not recorded".into(),
                },
                summary: super::audit_view::pieces(&ev.decision.summary),
                rules: hash
                    .as_deref()
                    .map(|h| h.get(..12).unwrap_or(h).to_string())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    Ok(page.render()?)
}

#[derive(Template)]
#[template(
    source = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{{ title }} — changegate</title><link rel=\"stylesheet\" href=\"/static/changegate.css\"></head><body><main><h1>{{ title }}</h1><p>{{ text }}</p></main></body></html>",
    ext = "html"
)]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
}

/// A short page saying why there is nothing to show.
pub fn message(title: &str, text: &str) -> String {
    MessagePage { title, text }
        .render()
        .unwrap_or_else(|_| title.to_string())
}
