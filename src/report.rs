//! Audit evidence per change, from the audit log: classification, each approval with approver
//! and time, approvals removed and why, every decision, and the final status (at merge when the
//! change merged). What OPS-01 asks for: who approved, when, and which checks ran.

use crate::store::AuditRow;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApprovalRecord {
    pub role: String,
    pub label: String,
    pub approver: String,
    pub at: Option<String>,
    pub via: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RemovalRecord {
    pub label: String,
    pub reason: String,
    pub removed_by: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionRecord {
    pub at: String,
    pub verdict: String,
    pub summary: String,
    pub rules_hash: Option<String>,
    pub delivery_id: Option<String>,
    pub source: String,
    /// The record's hash on its repository's audit chain.
    pub hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckRecord {
    pub title: String,
    pub met: bool,
    pub detail: String,
}

/// One thing an emergency owed after merge.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OwedRecord {
    /// The approval's name, or `retrospective`.
    pub role: String,
    pub title: String,
    pub given_by: Option<String>,
    pub at: Option<String>,
    /// Given after the deadline.
    pub late: bool,
}

/// What an emergency change owed after merge, as the latest decision tells it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmergencyRecord {
    pub merged_at: Option<String>,
    pub due: Option<String>,
    pub owed: Vec<OwedRecord>,
    pub complete: bool,
    /// Still owing past the deadline.
    pub overdue: bool,
}

/// A blocked period that covered the change (at merge when it merged).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlockedRecord {
    pub period: String,
    pub until: String,
    pub lifted: bool,
    /// The exception approvals given.
    pub exception: Vec<ApprovalRecord>,
}

/// The evidence for one change.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangeRecord {
    pub number: u64,
    pub kind: String,
    pub title: String,
    pub state: String,
    pub classification: Option<String>,
    /// The final verdict: at merge when the change merged, else the latest.
    pub final_verdict: String,
    pub final_summary: String,
    pub final_at: String,
    pub merged: bool,
    pub approvals: Vec<ApprovalRecord>,
    pub removed_approvals: Vec<RemovalRecord>,
    pub checks: Vec<CheckRecord>,
    pub decisions: Vec<DecisionRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency: Option<EmergencyRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_periods: Vec<BlockedRecord>,
    /// The repository's audit chain head when exported: keep it to check later exports
    /// against (`changegate audit verify`).
    pub chain_head: Option<String>,
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn mention(user: &Value) -> String {
    match (user["username"].as_str(), user["id"].as_u64()) {
        (Some(name), _) => format!("@{name}"),
        (None, Some(id)) => format!("user #{id}"),
        _ => "unknown".into(),
    }
}

/// One record per change with at least one decision, by change number.
pub fn build(rows: &[AuditRow], classification_scope: &str) -> Vec<ChangeRecord> {
    let mut numbers: Vec<u64> = rows
        .iter()
        .filter(|r| r.kind == "decision")
        .map(|r| r.number)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .filter_map(|n| {
            let decisions: Vec<&AuditRow> = rows
                .iter()
                .filter(|r| {
                    r.number == n && r.kind == "decision" && r.detail["verdict"] != "not_enforced"
                })
                .collect();
            change_record(n, &decisions, classification_scope)
        })
        .collect()
}

fn change_record(number: u64, decisions: &[&AuditRow], scope: &str) -> Option<ChangeRecord> {
    let last = *decisions.last()?;
    let at_merge = decisions
        .iter()
        .find(|d| d.detail["change"]["state"] == "merged");
    let fin = at_merge.copied().unwrap_or(last);
    let d = &fin.detail;
    let prefix = format!("{scope}::");
    let classification = d["change"]["labels"]
        .as_array()
        .and_then(|ls| {
            ls.iter()
                .filter_map(Value::as_str)
                .find(|l| l.starts_with(&prefix))
        })
        .map(str::to_string);
    let approvals: Vec<ApprovalRecord> = d["approvals"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|a| a["state"] == "met")
                .map(|a| ApprovalRecord {
                    role: s(&a["name"]),
                    label: s(&a["label"]),
                    approver: mention(&a["by"]),
                    at: a["at"].as_str().map(str::to_string),
                    via: s(&a["via"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let blocked_periods = d["blocked"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    let names: Vec<&str> = b["exception"]
                        .as_array()
                        .map(|e| e.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    BlockedRecord {
                        period: s(&b["period"]),
                        until: s(&b["until"]),
                        lifted: b["lifted"].as_bool().unwrap_or(false),
                        exception: approvals
                            .iter()
                            .filter(|a| names.contains(&a.role.as_str()))
                            .cloned()
                            .collect(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let checks = d["checklist"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| CheckRecord {
                    title: s(&c["title"]),
                    met: c["met"].as_bool().unwrap_or(false),
                    detail: s(&c["detail"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(ChangeRecord {
        number,
        kind: s(&d["change"]["kind"]),
        title: s(&last.detail["change"]["title"]),
        state: s(&last.detail["change"]["state"]),
        classification,
        final_verdict: s(&d["verdict"]),
        final_summary: s(&d["summary"]),
        final_at: time(fin.at),
        merged: at_merge.is_some(),
        approvals,
        removed_approvals: removals(decisions),
        checks,
        decisions: decisions
            .iter()
            .map(|r| DecisionRecord {
                at: time(r.at),
                verdict: s(&r.detail["verdict"]),
                summary: s(&r.detail["summary"]),
                rules_hash: r.rules_hash.clone(),
                delivery_id: r.delivery_id.clone(),
                source: s(&r.detail["source"]),
                hash: r.hash.clone(),
            })
            .collect(),
        chain_head: None,
        emergency: emergency(&last.detail["owed"]),
        blocked_periods,
    })
}

/// What a merged emergency owed, from the latest decision (late approvals included).
fn emergency(owed: &Value) -> Option<EmergencyRecord> {
    if owed["merged"] != true {
        return None;
    }
    let due = owed["due"].as_str().map(str::to_string);
    let due_at = due
        .as_deref()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok());
    let items = owed["items"].as_array()?;
    Some(EmergencyRecord {
        merged_at: owed["merged_at"].as_str().map(str::to_string),
        due,
        owed: items
            .iter()
            .map(|i| {
                let at = i["given"]["at"].as_str().map(str::to_string);
                let late = match (
                    at.as_deref()
                        .and_then(|a| DateTime::parse_from_rfc3339(a).ok()),
                    due_at,
                ) {
                    (Some(a), Some(d)) => a > d,
                    _ => false,
                };
                OwedRecord {
                    role: s(&i["name"]),
                    title: s(&i["title"]),
                    given_by: i["given"]["by"]
                        .is_object()
                        .then(|| mention(&i["given"]["by"])),
                    at,
                    late,
                }
            })
            .collect(),
        complete: owed["complete"] == true,
        overdue: owed["overdue"] == true && owed["complete"] != true,
    })
}

/// Approval labels the bot removed because they did not count, with the reason.
fn removals(decisions: &[&AuditRow]) -> Vec<RemovalRecord> {
    let mut out: Vec<RemovalRecord> = vec![];
    for r in decisions {
        let removed: Vec<&str> = r.detail["remove_labels"]
            .as_array()
            .map(|l| l.iter().filter_map(|c| c["label"].as_str()).collect())
            .unwrap_or_default();
        for a in r.detail["approvals"].as_array().into_iter().flatten() {
            let label = s(&a["label"]);
            if a["state"] == "invalid" && removed.contains(&label.as_str()) {
                let reason = s(&a["reason"]);
                if !out.iter().any(|o| o.label == label && o.reason == reason) {
                    out.push(RemovalRecord {
                        label,
                        reason,
                        removed_by: "changegate".into(),
                        at: time(r.at),
                    });
                }
            }
        }
    }
    out
}

fn emergency_cell(e: &EmergencyRecord) -> String {
    let items: Vec<String> = e
        .owed
        .iter()
        .map(|o| match (&o.given_by, &o.at) {
            (Some(by), at) => format!(
                "{}: {by} at {}{}",
                o.role,
                at.as_deref().unwrap_or("unknown time"),
                if o.late { " (late)" } else { "" }
            ),
            (None, _) => format!("{}: owed", o.role),
        })
        .collect();
    format!(
        "merged {}; due {}; {}; {}",
        e.merged_at.as_deref().unwrap_or("unknown"),
        e.due.as_deref().unwrap_or("unknown"),
        items.join("; "),
        if e.overdue {
            "overdue"
        } else if e.complete {
            "complete"
        } else {
            "owed"
        }
    )
}

/// `--since`: a date (`2026-01-31`) or an RFC 3339 time; milliseconds since the epoch.
pub fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            format!(
                "--since `{text}`: write a date like 2026-01-31 or a time like 2026-01-31T12:00:00Z"
            )
        })
}

/// One CSV row per change, with a header.
pub fn to_csv(records: &[ChangeRecord]) -> String {
    let mut out = String::from(
        "number,kind,title,state,classification,final_verdict,final_summary,final_at,merged,approvals,removed_approvals,checks,decisions,emergency,blocked_periods,final_record_hash,chain_head\n",
    );
    for r in records {
        let approvals: Vec<String> = r
            .approvals
            .iter()
            .map(|a| {
                format!(
                    "{}: {} at {}",
                    a.role,
                    a.approver,
                    a.at.as_deref().unwrap_or("unknown time")
                )
            })
            .collect();
        let removed: Vec<String> = r
            .removed_approvals
            .iter()
            .map(|x| format!("{}: {}", x.label, x.reason))
            .collect();
        let checks: Vec<String> = r
            .checks
            .iter()
            .map(|c| format!("[{}] {}", if c.met { "x" } else { " " }, c.title))
            .collect();
        let fields = [
            r.number.to_string(),
            r.kind.clone(),
            r.title.clone(),
            r.state.clone(),
            r.classification.clone().unwrap_or_default(),
            r.final_verdict.clone(),
            r.final_summary.clone(),
            r.final_at.clone(),
            r.merged.to_string(),
            approvals.join("; "),
            removed.join("; "),
            checks.join("; "),
            r.decisions.len().to_string(),
            r.emergency.as_ref().map(emergency_cell).unwrap_or_default(),
            r.blocked_periods
                .iter()
                .map(|b| {
                    let by: Vec<String> = b
                        .exception
                        .iter()
                        .map(|a| format!("{} by {}", a.role, a.approver))
                        .collect();
                    format!(
                        "{} until {}: {}",
                        b.period,
                        b.until,
                        if b.lifted {
                            format!("lifted ({})", by.join(", "))
                        } else {
                            "not lifted".into()
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            r.decisions
                .last()
                .and_then(|d| d.hash.clone())
                .unwrap_or_default(),
            r.chain_head.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(f: &str) -> String {
    // A cell a spreadsheet would run as a formula (a title like `=HYPERLINK(…)`) is prefixed
    // with `'` so that it is shown as text (OWASP, CSV injection).
    let neutral;
    let f = if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        neutral = format!("'{f}");
        neutral.as_str()
    } else {
        f
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decision(at: i64, number: u64, state: &str, detail: Value) -> AuditRow {
        let mut d = detail;
        d["change"]["state"] = json!(state);
        d["change"]["kind"] = json!("merge_request");
        d["source"] = json!("forge");
        AuditRow {
            at,
            number,
            delivery_id: Some(format!("d{at}")),
            kind: "decision".into(),
            rules_hash: Some("h".into()),
            detail: d,
            seq: Some(at),
            hash: Some(format!("hash{at}")),
        }
    }

    #[test]
    fn final_status_is_the_one_at_merge_with_its_approvals() {
        let rows = vec![
            decision(
                1_000,
                7,
                "open",
                json!({
                    "verdict": "fail", "summary": "Missing: Peer review",
                    "change": {"labels": ["CMT::Standard", "Peer Approval::Approved"], "title": "T"},
                    "remove_labels": [{"label": "Peer Approval::Approved", "reason": "x"}],
                    "approvals": [{"name": "peer", "label": "Peer Approval::Approved", "state": "invalid", "reason": "@alice applied it but is the author"}],
                    "checklist": []
                }),
            ),
            decision(
                2_000,
                7,
                "merged",
                json!({
                    "verdict": "pass", "summary": "All met",
                    "change": {"labels": ["CMT::Standard"], "title": "T"},
                    "remove_labels": [],
                    "approvals": [{"name": "peer", "label": "Peer Approval::Approved", "state": "met", "by": {"username": "pam"}, "at": "2026-01-01T00:02:00Z", "via": "label"}],
                    "checklist": [{"title": "Peer review", "met": true, "detail": "approved by @pam"}]
                }),
            ),
            decision(
                3_000,
                7,
                "merged",
                json!({"verdict": "pass", "summary": "later", "change": {"labels": [], "title": "T"}, "approvals": []}),
            ),
        ];
        let records = build(&rows, "CMT");
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.classification.as_deref(), Some("CMT::Standard"));
        assert!(r.merged);
        assert_eq!(r.final_verdict, "pass");
        assert_eq!(r.final_summary, "All met");
        assert_eq!(
            r.approvals,
            vec![ApprovalRecord {
                role: "peer".into(),
                label: "Peer Approval::Approved".into(),
                approver: "@pam".into(),
                at: Some("2026-01-01T00:02:00Z".into()),
                via: "label".into()
            }]
        );
        assert_eq!(r.removed_approvals.len(), 1);
        assert!(r.removed_approvals[0].reason.contains("@alice"));
        assert_eq!(r.decisions.len(), 3);
        let csv = to_csv(&records);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("7,merge_request,T,merged,CMT::Standard,pass,All met,")
        );
        assert!(csv.contains("peer: @pam at 2026-01-01T00:02:00Z"));
    }

    #[test]
    fn since_parses_dates_and_times() {
        assert_eq!(parse_since("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_since("1970-01-01T00:00:01Z").unwrap(), 1_000);
        assert!(parse_since("yesterday").is_err());
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    #[test]
    fn formula_cells_are_neutralized() {
        for (cell, shown) in [
            (
                "=HYPERLINK(\"http://evil\")",
                "\"'=HYPERLINK(\"\"http://evil\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("plain title", "plain title"),
        ] {
            assert_eq!(super::csv_field(cell), shown, "{cell}");
        }
    }
}
