//! Audit evidence per change, from the audit log: classification, each approval with approver
//! and time, approvals removed and why, every decision, and the final status (at merge when the
//! change merged). What OPS-01 asks for: who approved, when, and which checks ran.

mod deployments;
use crate::evidence::{DecisionEvidence, Evidence};
use crate::model::ChangeState;
use crate::policy::{ApprovalOutcome, ApprovalState, Owed, Verdict, Via};
use crate::store::AuditRow;
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
pub use deployments::deployments_csv;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApprovalRecord {
    pub role: String,
    pub label: String,
    pub approver: String,
    pub at: Option<String>,
    pub via: String,
    /// The comment that gave it, when given by comment command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_url: Option<String>,
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
    /// The event decided on (`pull_request labeled`, `reconcile`) and who caused it, when
    /// the record says (records from before it did do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
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
    /// When the forge says the change merged (its `merged_at`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<String>,
    /// The change on the forge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A decision record read back, with when and by which delivery it was made.
struct Decided<'a> {
    row: &'a AuditRow,
    ev: DecisionEvidence,
}

/// One record per change with at least one decision, by change number. A decision record
/// that does not read as one is an error, never an empty field.
pub fn build(rows: &[AuditRow], classification_scope: &str) -> Result<Vec<ChangeRecord>> {
    let mut decided: Vec<Decided> = vec![];
    for row in rows.iter().filter(|r| r.kind == "decision") {
        let Evidence::Decision(ev) = Evidence::read(&row.kind, &row.detail)
            .with_context(|| format!("audit record of #{} at {}", row.number, time(row.at)))?
        else {
            continue;
        };
        if ev.decision.verdict != Verdict::NotEnforced {
            decided.push(Decided { row, ev: *ev });
        }
    }
    let mut numbers: Vec<u64> = decided.iter().map(|d| d.row.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    Ok(numbers
        .into_iter()
        .filter_map(|n| {
            let of: Vec<&Decided> = decided.iter().filter(|d| d.row.number == n).collect();
            change_record(n, &of, classification_scope)
        })
        .collect())
}

fn approval_record(o: &ApprovalOutcome) -> Vec<ApprovalRecord> {
    let ApprovalState::Met { by, at, via } = &o.state else {
        return vec![];
    };
    let via_name = |v: &Via| {
        match v {
            Via::Label => "label",
            Via::NativeApproval => "native_approval",
            Via::LinkedIssue => "linked_issue",
            Via::Comment => "comment",
        }
        .to_string()
    };
    let stamp = |t: &Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let mut out = vec![ApprovalRecord {
        role: o.name.clone(),
        label: o.label.to_string(),
        approver: by.mention(),
        at: stamp(at),
        via: via_name(via),
        comment_url: o.comment_url(by).map(str::to_string),
    }];
    out.extend(o.others.iter().map(|p| ApprovalRecord {
        role: o.name.clone(),
        label: o.label.to_string(),
        approver: p.by.mention(),
        at: stamp(&p.at),
        via: via_name(&p.via),
        comment_url: o.comment_url(&p.by).map(str::to_string),
    }));
    out
}

fn change_record(number: u64, decisions: &[&Decided], scope: &str) -> Option<ChangeRecord> {
    let last = *decisions.last()?;
    let at_merge = decisions
        .iter()
        .find(|d| d.ev.change.state == ChangeState::Merged)
        .copied();
    let fin = at_merge.unwrap_or(last);
    let d = &fin.ev.decision;
    let classification = fin
        .ev
        .change
        .labels
        .iter()
        .find(|l| l.scope() == Some(scope))
        .map(|l| l.to_string());
    let approvals: Vec<ApprovalRecord> = d
        .approvals
        .iter()
        .filter(|a| a.is_met())
        .flat_map(approval_record)
        .collect();
    let blocked_periods = d
        .blocked
        .iter()
        .map(|b| BlockedRecord {
            period: b.period.clone(),
            until: b.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            lifted: b.lifted,
            exception: approvals
                .iter()
                .filter(|a| b.exception.contains(&a.role))
                .cloned()
                .collect(),
        })
        .collect();
    let checks = d
        .checklist
        .iter()
        .map(|c| CheckRecord {
            title: c.title.clone(),
            met: c.met,
            detail: c.detail.clone(),
        })
        .collect();
    Some(ChangeRecord {
        number,
        kind: fin.ev.change.kind.as_str().to_string(),
        title: last.ev.change.title.clone(),
        state: state_name(last.ev.change.state),
        classification,
        final_verdict: verdict_name(d.verdict),
        final_summary: d.summary.clone(),
        final_at: time(fin.row.at),
        merged_at: decisions
            .iter()
            .rev()
            .find_map(|d| d.ev.change.merged_at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        web_url: last.ev.change.web_url.clone(),
        merged: at_merge.is_some(),
        approvals,
        removed_approvals: removals(decisions),
        checks,
        decisions: decisions
            .iter()
            .map(|r| DecisionRecord {
                at: time(r.row.at),
                verdict: verdict_name(r.ev.decision.verdict),
                summary: r.ev.decision.summary.clone(),
                rules_hash: r.row.rules_hash.clone(),
                delivery_id: r.row.delivery_id.clone(),
                source: r.ev.source.clone(),
                hash: r.row.hash.clone(),
                event: r.ev.trigger.as_ref().map(|t| t.event.clone()),
                actor: r.ev.trigger.as_ref().and_then(|t| t.actor.clone()),
            })
            .collect(),
        chain_head: None,
        emergency: last.ev.decision.owed.as_ref().and_then(emergency),
        blocked_periods,
    })
}

fn verdict_name(v: Verdict) -> String {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::NotEnforced => "not_enforced",
    }
    .to_string()
}

fn state_name(s: ChangeState) -> String {
    match s {
        ChangeState::Open => "open",
        ChangeState::Closed => "closed",
        ChangeState::Merged => "merged",
    }
    .to_string()
}

/// What a merged emergency owed, from the latest decision (late approvals included).
fn emergency(owed: &Owed) -> Option<EmergencyRecord> {
    if !owed.merged {
        return None;
    }
    let stamp = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(EmergencyRecord {
        merged_at: owed.merged_at.map(stamp),
        due: owed.due.map(stamp),
        owed: owed
            .items
            .iter()
            .map(|i| OwedRecord {
                role: i.name.clone(),
                title: i.title.clone(),
                given_by: i.given.as_ref().map(|g| g.by.mention()),
                at: i.given.as_ref().and_then(|g| g.at).map(stamp),
                late: match (i.given.as_ref().and_then(|g| g.at), owed.due) {
                    (Some(a), Some(d)) => a > d,
                    _ => false,
                },
            })
            .collect(),
        complete: owed.complete,
        overdue: owed.overdue && !owed.complete,
    })
}

/// Approval labels the bot removed because they did not count, with the reason.
fn removals(decisions: &[&Decided]) -> Vec<RemovalRecord> {
    let mut out: Vec<RemovalRecord> = vec![];
    for r in decisions {
        let d = &r.ev.decision;
        for a in &d.approvals {
            let ApprovalState::Invalid { reason } = &a.state else {
                continue;
            };
            let removed = d.remove_labels.iter().any(|c| c.label == a.label);
            if removed
                && !out
                    .iter()
                    .any(|o| o.label == a.label.as_str() && &o.reason == reason)
            {
                out.push(RemovalRecord {
                    label: a.label.to_string(),
                    reason: reason.clone(),
                    removed_by: "changegate".into(),
                    at: time(r.row.at),
                });
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
                let by_comment = a
                    .comment_url
                    .as_deref()
                    .map(|u| format!(" by comment {u}"))
                    .unwrap_or_default();
                format!(
                    "{}: {} at {}{by_comment}",
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

    /// A decision record as the worker writes it: `detail` gives what the test is about, the
    /// rest of the typed record is filled in.
    fn decision(at: i64, number: u64, state: &str, detail: serde_json::Value) -> AuditRow {
        let mut d = detail;
        for (key, empty) in [
            ("matched_rules", json!([])),
            ("notes", json!([])),
            ("add_labels", json!([])),
            ("remove_labels", json!([])),
            ("checklist", json!([])),
            ("rules_hash", json!("h")),
        ] {
            if d.get(key).is_none() {
                d[key] = empty;
            }
        }
        d["change"]["state"] = json!(state);
        d["change"]["kind"] = json!("merge_request");
        d["change"]["author"] = json!({ "username": "alice" });
        d["change"]["head_sha"] = json!(null);
        d["change"]["web_url"] = json!(null);
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
        let records = build(&rows, "CMT").unwrap();
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
                via: "label".into(),
                comment_url: None,
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
    fn a_record_that_does_not_read_as_a_decision_is_an_error() {
        let mut row = decision(
            1_000,
            7,
            "open",
            json!({"verdict": "pass", "summary": "ok", "change": {"labels": [], "title": "T"}, "approvals": []}),
        );
        assert!(build(std::slice::from_ref(&row), "CMT").is_ok());
        // A field renamed (or lost) does not become an empty column.
        let summary = row.detail["summary"].take();
        row.detail["summary_text"] = summary;
        row.detail.as_object_mut().unwrap().remove("summary");
        let err = build(&[row], "CMT").unwrap_err();
        assert!(format!("{err:#}").contains("summary"), "{err:#}");
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
