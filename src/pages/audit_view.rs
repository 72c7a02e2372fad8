//! The audit pages: one repository's merged changes with their approvals, each change's
//! decision history (when to the second, the event and who caused it, the record's hash), and
//! the index of repositories. Rendered by askama, which escapes every value.

use crate::model::Forge;
use crate::report::ChangeRecord;
use anyhow::Result;
use askama::Template;
use std::collections::HashMap;

/// A piece of a reason: text, or a code span's contents (shown as `<code>`).
pub struct Piece {
    pub text: String,
    pub code: bool,
}

/// The bot's Markdown as pieces a template shows escaped.
pub fn pieces(md: &str) -> Vec<Piece> {
    crate::markdown::inline_pieces(md)
        .into_iter()
        .map(|(text, code)| Piece { text, code })
        .collect()
}

/// `2026-11-02T10:00:05Z` as `2026-11-02 10:00:05 UTC`.
fn to_the_second(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// One decision in a change's history on the audit page.
pub struct AuditDecision {
    pub at: String,
    pub verdict: String,
    /// `pull_request labeled by @peter`; "trigger not recorded" for records written before
    /// decisions recorded their trigger.
    pub trigger: String,
    pub summary: Vec<Piece>,
    pub hash: String,
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
    pub summary: Vec<Piece>,
    pub merged_at: String,
    pub emergency: String,
    /// The change's details page (signed) and its page on the forge.
    pub details: String,
    pub web_url: Option<String>,
    /// Every decision on the change, oldest first.
    pub history: Vec<AuditDecision>,
    /// Approvals that did not count: the label, why, and when changegate removed it.
    pub removed: Vec<(String, Vec<Piece>, String)>,
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

fn history(r: &ChangeRecord) -> Vec<AuditDecision> {
    r.decisions
        .iter()
        .map(|d| AuditDecision {
            at: to_the_second(&d.at),
            verdict: d.verdict.clone(),
            trigger: match (&d.event, &d.actor) {
                (Some(e), Some(a)) => format!("{e} by {a}"),
                (Some(e), None) => e.clone(),
                (None, _) => "trigger not recorded".into(),
            },
            summary: pieces(&d.summary),
            hash: d.hash.clone().unwrap_or_default(),
        })
        .collect()
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
                summary: pieces(&r.final_summary),
                merged_at: r
                    .merged_at
                    .clone()
                    .map(|m| to_the_second(&m))
                    .unwrap_or_else(|| format!("{} (decided)", to_the_second(&r.final_at))),
                history: history(r),
                removed: r
                    .removed_approvals
                    .iter()
                    .map(|x| (x.label.clone(), pieces(&x.reason), to_the_second(&x.at)))
                    .collect(),
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
