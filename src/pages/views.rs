//! What the pages show, from the typed audit records, rendered by askama (which escapes
//! every value).

use crate::evidence::DecisionEvidence;
use crate::model::Forge;
use crate::policy::{ApprovalState, Verdict, Via};
use crate::report::ChangeRecord;
use anyhow::Result;
use askama::Template;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

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
    pub title: String,
    pub met: bool,
    pub detail: String,
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
    pub reason: String,
    pub at: String,
}

pub struct HistoryRow {
    pub at: String,
    pub verdict: String,
    pub summary: String,
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
    summary: String,
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
                    .any(|r| r.label == o.label.as_str() && &r.reason == reason)
            {
                removed.push(Removed {
                    label: o.label.to_string(),
                    reason: reason.clone(),
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
                    title: i.title.clone(),
                    met: i.given.is_some(),
                    detail: match &i.given {
                        Some(g) => format!(
                            "given by {}{}",
                            g.by.mention(),
                            g.at.map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
                                .unwrap_or_default()
                        ),
                        None => i.problem.clone().unwrap_or_else(|| "owed".into()),
                    },
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
        summary: d.summary.clone(),
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
                title: i.title.clone(),
                met: i.met,
                detail: i.detail.clone(),
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
                at: when(*at),
                verdict: verdict_words(ev.decision.verdict).0.to_string(),
                summary: ev.decision.summary.clone(),
                rules: hash
                    .as_deref()
                    .map(|h| h.get(..12).unwrap_or(h).to_string())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    Ok(page.render()?)
}

/// The audit page's filters, from its query.
pub struct AuditFilter {
    pub from: String,
    pub to: String,
    pub classification: String,
    pub overdue: bool,
    /// Only changes merged while their status failed.
    pub failing: bool,
}

impl AuditFilter {
    pub fn from_query(q: &HashMap<String, String>) -> Self {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        AuditFilter {
            from: get("from"),
            to: get("to"),
            classification: get("classification"),
            overdue: get("overdue") == "1",
            failing: get("failing") == "1",
        }
    }

    /// Merged changes in the date range (the merge's decision day, inclusive), with the
    /// classification asked for, overdue emergencies only when asked.
    pub fn keeps(&self, r: &ChangeRecord) -> bool {
        let merged = r.merged_at.as_deref().unwrap_or(&r.final_at);
        let day = merged.get(..10).unwrap_or("");
        r.merged
            && (self.from.is_empty() || day >= self.from.as_str())
            && (self.to.is_empty() || day <= self.to.as_str())
            && (self.classification.is_empty()
                || r.classification
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&self.classification)))
            && (!self.overdue || r.emergency.as_ref().is_some_and(|e| e.overdue))
            && (!self.failing || r.final_verdict == "fail")
    }

    fn query(&self, format: &str) -> String {
        let mut q = vec![format!("format={format}")];
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("classification", &self.classification),
        ] {
            if !v.is_empty() {
                q.push(format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                ));
            }
        }
        if self.overdue {
            q.push("overdue=1".into());
        }
        if self.failing {
            q.push("failing=1".into());
        }
        format!("?{}", q.join("&"))
    }
}

pub struct AuditRow {
    pub number: u64,
    pub title: String,
    pub classification: String,
    pub approvals: String,
    pub verdict: String,
    pub summary: String,
    pub merged_at: String,
    pub emergency: String,
    /// The change's details page (signed) and its page on the forge.
    pub details: String,
    pub web_url: Option<String>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    forge_name: &'static str,
    repo: String,
    from: String,
    to: String,
    classification: String,
    overdue: bool,
    failing: bool,
    csv_link: String,
    json_link: String,
    chain_head: String,
    rows: Vec<AuditRow>,
    deployments: Vec<super::deploy_views::DeploymentRow>,
}

pub fn audit(
    forge: Forge,
    repo: &str,
    filter: &AuditFilter,
    records: &[ChangeRecord],
    head: Option<&str>,
    deployments: Vec<super::deploy_views::DeploymentRow>,
    details: &dyn Fn(&ChangeRecord) -> String,
) -> Result<String> {
    let page = AuditPage {
        forge_name: forge.display_name(),
        repo: repo.to_string(),
        from: filter.from.clone(),
        to: filter.to.clone(),
        classification: filter.classification.clone(),
        overdue: filter.overdue,
        failing: filter.failing,
        csv_link: filter.query("csv"),
        json_link: filter.query("json"),
        chain_head: head.unwrap_or("").to_string(),
        deployments,
        rows: records
            .iter()
            .map(|r| AuditRow {
                number: r.number,
                title: r.title.clone(),
                classification: r.classification.clone().unwrap_or_default(),
                approvals: r
                    .approvals
                    .iter()
                    .map(|a| format!("{} by {}", a.role, a.approver))
                    .collect::<Vec<_>>()
                    .join(", "),
                verdict: r.final_verdict.clone(),
                summary: r.final_summary.clone(),
                merged_at: r
                    .merged_at
                    .clone()
                    .unwrap_or_else(|| format!("{} (decided)", r.final_at)),
                details: details(r),
                web_url: r.web_url.clone(),
                emergency: match &r.emergency {
                    Some(e) if e.overdue => "approvals overdue".into(),
                    Some(e) if e.complete => "owed approvals given".into(),
                    Some(_) => "approvals owed".into(),
                    None => String::new(),
                },
            })
            .collect(),
    };
    Ok(page.render()?)
}

#[derive(Template)]
#[template(path = "audit_index.html")]
struct AuditIndex {
    repositories: Vec<(String, String, &'static str)>,
}

/// The repositories with audit records: (forge, path), each linking to its audit page.
pub fn audit_index(repositories: &[(String, String)]) -> Result<String> {
    let page = AuditIndex {
        repositories: repositories
            .iter()
            .map(|(forge, repo)| {
                let name = forge
                    .parse::<Forge>()
                    .map(|f| f.display_name())
                    .unwrap_or("");
                (forge.clone(), repo.clone(), name)
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
