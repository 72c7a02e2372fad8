//! The sticky comment's notes on comment commands: the latest refusals (at most
//! [`REFUSALS_SHOWN`], from people the refusals may be shown for) and the help, when asked.

use super::Worker;
use crate::policy::Decision;
use anyhow::Result;

/// How many refusals the sticky comment lists.
const REFUSALS_SHOWN: u32 = 5;

impl Worker {
    /// The latest refusals and, when asked for, the help, as notes of the sticky comment.
    /// Both are read by bounded queries: the refusals shown and their count, never the list.
    pub(super) async fn command_notes(
        &self,
        key: &str,
        rules: &crate::rules::Rules,
        decision: &mut Decision,
    ) -> Result<()> {
        let Some(cfg) = &rules.commands else {
            return Ok(());
        };
        if self.store.help_asked(key).await? {
            decision.notes.push(help(rules, &cfg.prefix, decision));
        }
        let (shown, total) = self.store.latest_refusals(key, REFUSALS_SHOWN).await?;
        if shown.is_empty() {
            return Ok(());
        }
        let mut note = format!(
            "**Refused commands** (the latest {} of {total}):\n",
            shown.len()
        );
        for c in &shown {
            let link = c
                .url
                .as_deref()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .map(|u| format!(" ([comment]({u}))"))
                .unwrap_or_default();
            note.push_str(&format!(
                "- {} by {}{link}: {}\n",
                crate::markdown::code(&c.text),
                c.person.mention(),
                c.reason.as_deref().unwrap_or_default()
            ));
        }
        decision.notes.push(note);
        Ok(())
    }
}

/// The commands, and the roles this change needs, for `help`.
fn help(rules: &crate::rules::Rules, prefix: &str, d: &Decision) -> String {
    let p = prefix;
    let needed: Vec<String> = d
        .approvals
        .iter()
        .filter(|o| !o.is_met())
        .filter(|o| {
            d.checklist
                .iter()
                .any(|i| !i.met && rules.approval(&o.name).is_some_and(|a| a.title == i.title))
        })
        .filter(|o| rules.approval(&o.name).is_some_and(|a| a.by_comment))
        .map(|o| {
            let group = rules
                .approval(&o.name)
                .map(|a| a.approvers.as_str())
                .unwrap_or("");
            format!(
                "{} (members of {})",
                crate::markdown::code(&o.name),
                crate::markdown::code(group)
            )
        })
        .collect();
    let roles = if needed.is_empty() {
        "none by comment now".to_string()
    } else {
        needed.join(", ")
    };
    format!(
        "**Commands** (a comment line of its own):\n\
         - `{p} approve ROLE [ROLE…] [@SHA]` — give approval roles; roles this change still needs: {roles}\n\
         - `{p} withdraw [ROLE…]` — take back approvals you gave by comment (all when none named)\n\
         - `{p} request exception` / `{p} confirm` — ask for an exception deployment, and confirm it\n\
         - `{p} recheck` — evaluate again now (once a minute)\n\
         - `{p} help` — this list\n"
    )
}
