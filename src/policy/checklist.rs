//! How an approval role reads in the bot's comment: met (by whom, when, how), or what is
//! missing and who can give it.

use super::{ApprovalOutcome, ApprovalState, ChecklistItem, Snapshot, Via};
use crate::markdown::code;
use crate::model::User;
use crate::rules::{Approval, ApproverGroup, Rules};

pub(super) fn checklist_item(
    rules: &Rules,
    snap: &Snapshot,
    a: &Approval,
    o: &ApprovalOutcome,
) -> ChecklistItem {
    let (met, detail) = match &o.state {
        ApprovalState::Met { by, at, via } => {
            let mut people = vec![given(by, *at, *via)];
            people.extend(o.others.iter().map(|p| given(&p.by, p.at, p.via)));
            let text = match (&o.on, via) {
                (Some(issue), Via::LinkedIssue) => {
                    format!("approved on {} by {}", code(issue), people.join(", "))
                }
                _ => format!("approved by {}", people.join(", ")),
            };
            if o.needed > 1 {
                (
                    o.is_met(),
                    format!("{} of {}: {text}", o.given_by(), o.needed),
                )
            } else {
                (true, text)
            }
        }
        ApprovalState::Missing if o.needed > 1 => {
            (false, format!("0 of {}: not given yet", o.needed))
        }
        ApprovalState::Missing => match &o.on {
            Some(issue) => (false, format!("not given yet on {}", code(issue))),
            None => (false, "not given yet".to_string()),
        },
        ApprovalState::Invalid { reason } => (false, format!("{reason}; the label was removed")),
        ApprovalState::Unverified { reason } => (false, reason.clone()),
    };
    let next_step = (!met).then(|| {
        let who = rules
            .group(&a.approvers)
            .map(|g| who(snap, g))
            .unwrap_or_default();
        let native = if a.native_approvals {
            " (or approves the merge request)"
        } else {
            ""
        };
        if o.needed > 1 {
            let more = o.needed - o.given_by();
            return format!(
                "{more} more {} of {who}, other than the author and those who approved: {} needs {} distinct people{}.",
                if more == 1 { "approval" } else { "approvals" },
                a.title,
                o.needed,
                if a.native_approvals {
                    " (the label counts for the person who applied it; each approving review one more)"
                } else {
                    ""
                }
            );
        }
        match &o.on {
            Some(issue) => format!(
                "{who}, other than the author, applies {} on {}{native}.",
                code(&a.label),
                code(issue)
            ),
            None => format!(
                "{who}, other than the author, applies {}{native}.",
                code(&a.label)
            ),
        }
    });
    ChecklistItem {
        title: a.title.clone(),
        met,
        detail,
        next_step,
    }
}

/// "@peter on 2026-11-02 10:01 UTC (approved the merge request)".
fn given(by: &crate::model::User, at: Option<chrono::DateTime<chrono::Utc>>, via: Via) -> String {
    let when = at
        .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let how = match via {
        Via::Label => String::new(),
        Via::NativeApproval => " (approved the merge request)".to_string(),
        Via::LinkedIssue => String::new(),
        Via::Comment => " (by comment)".to_string(),
    };
    format!("{}{when}{how}", by.mention())
}

/// "A member of @acme/business-owners" / "@alice or @bob".
fn who(snap: &Snapshot, g: &ApproverGroup) -> String {
    let mut names: Vec<String> = vec![];
    if let Some(team) = g.team(snap.change.forge, &snap.change.repo.path) {
        names.push(format!("a member of {}", team.mention()));
    }
    let forge = snap.change.forge;
    names.extend(g.users(forge).iter().map(|u| User::named(u).mention()));
    names.extend(g.ids(forge).iter().map(|id| format!("account #{id}")));
    if names.is_empty() {
        return format!("A member of {}", code(&g.name));
    }
    let mut text = names.join(" or ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text
}

/// Whom to mention so that a group hears of it: its forge team and its named people.
pub(super) fn mentions(rules: &Rules, snap: &Snapshot, group: &str) -> Vec<String> {
    let Some(g) = rules.group(group) else {
        return vec![];
    };
    let mut out: Vec<String> = g
        .team(snap.change.forge, &snap.change.repo.path)
        .map(|t| t.mention())
        .into_iter()
        .collect();
    out.extend(
        g.users(snap.change.forge)
            .iter()
            .map(|u| User::named(u).mention()),
    );
    out
}
