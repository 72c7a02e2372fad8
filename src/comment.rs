//! The one message the bot writes on a change, and the hidden marker it finds it by again.

use crate::model::Change;
use crate::policy::{Decision, Verdict};

/// Hidden first line of the sticky comment; the bot edits the comment carrying it.
pub const MARKER: &str = "<!-- changegate:sticky-comment -->";

/// The sticky comment for a decision. Written for people: a verdict line, the checklist with
/// who approved and when, the next step and who can take it. No internal identifiers.
pub fn sticky(change: &Change, d: &Decision) -> String {
    let mut out = format!("{MARKER}\n");
    let total = d.checklist.len();
    let missing = d.checklist.iter().filter(|i| !i.met).count();
    match d.verdict {
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
    if d.checklist.is_empty() {
        out.push_str("No approval is required before merge for this change.\n");
    }
    for item in &d.checklist {
        let tick = if item.met { "x" } else { " " };
        out.push_str(&format!(
            "- [{tick}] **{}** — {}\n",
            item.title, item.detail
        ));
    }
    // Approval labels that did not count are explained in the checklist already.
    let removed: Vec<String> = d
        .remove_labels
        .iter()
        .filter(|c| !d.approvals.iter().any(|a| a.label == c.label))
        .map(|c| format!("- `{}`: {}\n", c.label, c.reason))
        .collect();
    if !removed.is_empty() {
        out.push_str("\n**Labels changegate removed**\n");
        out.push_str(&removed.concat());
    }
    for note in &d.notes {
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

/// SHA-256 of a comment's text (trailing whitespace aside), remembered to skip unchanged edits.
pub fn hash(body: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body.trim_end().as_bytes()))
}

/// Whether a comment body is the bot's sticky comment.
pub fn is_sticky(body: &str) -> bool {
    body.trim_start().starts_with(MARKER)
}
