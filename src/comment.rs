//! The one message the bot writes on a change, and the hidden marker it finds it by again.

use crate::markdown::code;
use crate::model::Change;
use crate::policy::{Decision, Owed, Verdict};
use chrono::{DateTime, Utc};

/// Hidden first line of the sticky comment; the bot edits the comment carrying it.
pub const MARKER: &str = "<!-- changegate:sticky-comment -->";

/// The sticky comment for a decision. Written for people: a verdict line, the checklist with
/// who approved and when, the next step and who can take it. No internal identifiers.
pub fn sticky(change: &Change, d: &Decision) -> String {
    let mut out = format!("{MARKER}\n");
    let total = d.checklist.len();
    let missing = d.checklist.iter().filter(|i| !i.met).count();
    let merged_emergency = d.owed.as_ref().filter(|o| o.merged);
    match (d.verdict, merged_emergency) {
        (Verdict::Pass, Some(o)) if o.complete => {
            out.push_str("### ✅ Emergency change merged: every approval it owed is given\n\n")
        }
        (Verdict::Pass, Some(o)) if o.overdue => {
            out.push_str("### ⚠️ Emergency change merged: owed approvals are overdue\n\n")
        }
        (Verdict::Pass, Some(_)) => {
            out.push_str("### ⚠️ Emergency change merged: approvals are owed\n\n")
        }
        _ => {}
    }
    match (&d.report_only, d.verdict) {
        (Some(r), _) if r.would_block => out.push_str(&format!(
            "### 📋 Change management (report only): this change would be blocked ({missing} of {total} {} missing)\n\nThis repository is in report-only mode: changegate passes the status and changes no labels.\n\n",
            if total == 1 { "requirement" } else { "requirements" }
        )),
        (Some(_), Verdict::Pass) if merged_emergency.is_none() => out.push_str(
            "### 📋 Change management (report only): ready to merge\n\n",
        ),
        _ => {}
    }
    match d.verdict {
        _ if d.report_only.is_some() => {}
        Verdict::Pass if merged_emergency.is_some() => {}
        Verdict::Pass => out.push_str("### ✅ Change management: ready to merge\n\n"),
        Verdict::Fail => out.push_str(&format!(
            "### ⛔ Change management: not ready to merge ({missing} of {total} {} missing)\n\n",
            if total == 1 {
                "requirement"
            } else {
                "requirements"
            }
        )),
        Verdict::NotEnforced => {
            out.push_str("### Change management does not apply to this change\n");
            return out;
        }
    }
    if d.checklist.is_empty() && merged_emergency.is_none() {
        out.push_str("No approval is required before merge for this change.\n");
    }
    for item in &d.checklist {
        let tick = if item.met { "x" } else { " " };
        out.push_str(&format!(
            "- [{tick}] **{}** — {}\n",
            item.title, item.detail
        ));
    }
    if let Some(r) = d
        .report_only
        .as_ref()
        .filter(|r| !r.label_changes.is_empty())
    {
        out.push_str("\n**Label changes changegate would make**\n");
        for c in &r.label_changes {
            out.push_str(&format!("- {c}\n"));
        }
    }
    if let Some(owed) = &d.owed {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&owed_section(owed));
    }
    // Approval labels that did not count are explained in the checklist already.
    let removed: Vec<String> = d
        .remove_labels
        .iter()
        .filter(|c| !d.approvals.iter().any(|a| a.label == c.label))
        .map(|c| format!("- {}: {}\n", code(&c.label), c.reason))
        .collect();
    if !removed.is_empty() {
        out.push_str("\n**Labels changegate removed**\n");
        out.push_str(&removed.concat());
    }
    for note in &d.notes {
        // Every line of a note stays inside its quote, whatever line breaks it holds.
        let note = note.replace("\r\n", "\n").replace('\r', "\n");
        out.push_str(&format!("\n> {}\n", note.replace('\n', "\n> ")));
    }
    let steps: Vec<&str> = d
        .checklist
        .iter()
        .filter_map(|i| i.next_step.as_deref())
        .collect();
    if !steps.is_empty() {
        out.push_str("\n**Next steps**\n");
        for s in steps {
            out.push_str(&format!("- {s}\n"));
        }
    }
    let what = match change.kind {
        crate::model::ChangeKind::MergeRequest => "merge request",
        crate::model::ChangeKind::Issue => "issue",
    };
    out.push_str(&format!(
        "\n<sub>This comment is kept up to date by changegate as the {what} changes.</sub>\n"
    ));
    out
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What an emergency owes: before merge, what will be owed and by when; after, each item
/// with who gave it and when relative to the merge, and the deadline.
fn owed_section(o: &Owed) -> String {
    let mut out = String::new();
    let head = match (o.merged, o.merged_at, o.due) {
        (false, _, _) => format!(
            "**Owed after merge** — merging is allowed now; these are due within {} of merge:",
            o.within
        ),
        (true, Some(m), Some(due)) if o.complete => format!(
            "**Owed after the merge on {}** (due by {}): all given.",
            when(m),
            when(due)
        ),
        (true, Some(m), Some(due)) if o.overdue => format!(
            "**Owed after the merge on {}: overdue since {}.** Still missing: {}.",
            when(m),
            when(due),
            o.missing().map(|i| i.title.as_str()).collect::<Vec<_>>().join(", ")
        ),
        (true, Some(m), Some(due)) => format!(
            "**Owed after the merge on {}**, due by {} (within {} of merge):",
            when(m),
            when(due),
            o.within
        ),
        _ => "**Owed after merge**: the merge time is unknown, so the owed approvals count as overdue:".to_string(),
    };
    out.push_str(&format!("{head}\n"));
    for item in &o.items {
        let tick = if item.given.is_some() { "x" } else { " " };
        let detail = match (&item.given, &item.problem) {
            (Some(g), _) => {
                let at = g.at.map(|t| {
                    let rel = match o.merged_at {
                        Some(m) if t >= m => {
                            format!(" ({} after merge)", crate::rules::human_duration(t - m))
                        }
                        Some(m) => {
                            format!(" ({} before merge)", crate::rules::human_duration(m - t))
                        }
                        None => String::new(),
                    };
                    format!(" on {}{rel}", when(t))
                });
                format!("given by {}{}", g.by.mention(), at.unwrap_or_default())
            }
            (None, Some(problem)) => problem.clone(),
            (None, None) => match o.due {
                Some(due) => format!("not given yet (due by {})", when(due)),
                None => "not given yet".into(),
            },
        };
        out.push_str(&format!("- [{tick}] **{}** — {detail}\n", item.title));
    }
    out
}

/// Hidden first line of a reminder comment, per reminder point, so that none is posted twice.
pub fn reminder_marker(point: &str) -> String {
    format!("<!-- changegate:reminder:{point} -->")
}

/// A reminder: a new comment (so that people are notified) mentioning who still owes what.
pub fn reminder(o: &Owed, point: &str) -> String {
    let mut out = format!("{}\n", reminder_marker(point));
    match (point, o.due) {
        ("overdue", Some(due)) => out.push_str(&format!(
            "⚠️ **This emergency change's approvals are overdue** (they were due by {}).\n\n",
            when(due)
        )),
        (_, Some(due)) => out.push_str(&format!(
            "🔔 **Reminder: this emergency change still owes approvals**, due by {}.\n\n",
            when(due)
        )),
        (_, None) => out.push_str("⚠️ **This emergency change still owes approvals.**\n\n"),
    }
    for item in o.missing() {
        let who = if item.who.is_empty() {
            String::new()
        } else {
            format!(": {}", item.who.join(" "))
        };
        out.push_str(&format!("- {}{who}\n", item.title));
    }
    out
}

/// SHA-256 of a comment's text (trailing whitespace aside), remembered to skip unchanged edits.
pub fn hash(body: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body.trim_end().as_bytes()))
}

/// Whether a comment body is the bot's sticky comment.
pub fn is_sticky(body: &str) -> bool {
    body.trim_start().starts_with(MARKER)
}
