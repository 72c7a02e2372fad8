//! The writes a decision calls for, forge-neutral and pure: what `simulate` prints, what a dry
//! run logs, and what the worker performs are one plan, the minimal diff against what is known
//! of the forge's current state.

pub use crate::model::StatusState;

use crate::comment;
use crate::model::{Change, ChangeKind, Label};
use crate::policy::{self, Decision, Snapshot, Verdict};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlannedAction {
    SetStatus {
        sha: String,
        state: StatusState,
        context: String,
        description: String,
    },
    AddLabels {
        labels: Vec<Label>,
    },
    RemoveLabels {
        labels: Vec<Label>,
    },
    /// Approve the merge request as the bot (or withdraw that approval).
    SetApproval {
        sha: String,
        approve: bool,
    },
    /// Answer GitLab's external status check for head `sha` (Ultimate, `gitlab.status_checks`):
    /// decided by the worker from the verdict and what GitLab shows, never by [`plan`].
    AnswerStatusCheck {
        sha: String,
        check_id: u64,
        passed: bool,
    },
    /// Create or edit the sticky comment so that it reads `body`.
    UpsertComment {
        body: String,
    },
    /// Post a new comment reminding who still owes an emergency's approvals (a new comment,
    /// so that the people mentioned are notified), once per reminder point.
    PostReminder {
        point: String,
        /// Earlier points this one stands for (passed while nobody was reminded).
        covers: Vec<String>,
        body: String,
    },
}

/// What is known of the forge's current state besides the snapshot. The default knows
/// nothing (a dry run without a token, `simulate`): every write the decision implies is planned.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The status the head carries now under the bot's context, whoever wrote it.
    pub status: Option<(StatusState, String)>,
    /// Other open changes with the same head commit and status context that fail: (number,
    /// status summary).
    pub failing_same_head: Vec<(u64, String)>,
    /// Other open changes the forge lists with the same head commit and status context that
    /// changegate has not judged on that commit: their verdict is unknown, so none is passing.
    pub unseen_same_head: Vec<u64>,
    /// SHA-256 of the sticky comment's text as last written, when remembered.
    pub comment_hash: Option<String>,
    /// Whether the bot approves this merge request when it passes (GitLab approval mode).
    pub approval_mode: bool,
    /// Whether the reminder the decision calls for was already posted.
    pub reminder_sent: bool,
}

/// The writes that bring the forge to the decision, in the order to make them: only what
/// differs from what is known. A failing verdict goes first (status, then the bot's approval
/// withdrawn) and a passing one last, so that a write failing half-way never leaves a pass
/// that the rules no longer give.
pub fn plan(
    snap: &Snapshot,
    d: &Decision,
    known: &Known,
    status_context: &str,
) -> Vec<PlannedAction> {
    if d.verdict == Verdict::NotEnforced {
        return vec![];
    }
    let change = &snap.change;
    let passing = d.verdict == Verdict::Pass;
    let status = status(change, d, known, status_context).filter(|s| !status_is(known, s));
    let approval = approval(snap, known, passing);
    let mut out = vec![];
    if !passing {
        out.extend(status.clone());
        out.extend(approval.clone());
    }
    let remove: Vec<Label> = d
        .remove_labels
        .iter()
        .map(|c| c.label.clone())
        .filter(|l| change.has_label(l))
        .collect();
    if !remove.is_empty() {
        out.push(PlannedAction::RemoveLabels { labels: remove });
    }
    let add: Vec<Label> = d
        .add_labels
        .iter()
        .map(|c| c.label.clone())
        .filter(|l| !change.has_label(l))
        .collect();
    if !add.is_empty() {
        out.push(PlannedAction::AddLabels { labels: add });
    }
    let body = comment::sticky(change, d);
    if known.comment_hash.as_deref() != Some(comment::hash(&body).as_str()) {
        out.push(PlannedAction::UpsertComment { body });
    }
    if passing {
        out.extend(approval);
        out.extend(status);
    }
    if let Some((owed, r)) = d
        .owed
        .as_ref()
        .and_then(|o| Some((o, o.reminder.as_ref()?)))
        && !known.reminder_sent
    {
        out.push(PlannedAction::PostReminder {
            point: r.point.clone(),
            covers: r.covers.clone(),
            body: comment::reminder(owed, &r.point),
        });
    }
    out
}

/// The placeholder `status.context` may hold: the change's target branch, so that a verdict
/// given for one target is never read as a verdict for another.
pub const TARGET_BRANCH: &str = "{target_branch}";

/// The status context of `change` under the `status.context` setting.
pub fn context_for(setting: &str, change: &Change) -> String {
    context_for_target(setting, change.target_branch.as_deref())
}

/// The status context for changes targeting `target` (an unknown target names none, so it
/// matches no protected branch).
pub fn context_for_target(setting: &str, target: Option<&str>) -> String {
    if setting.contains(TARGET_BRANCH) {
        setting.replace(TARGET_BRANCH, target.unwrap_or("?"))
    } else {
        setting.to_string()
    }
}

/// The head's status: the change's own verdict, or a failure while another open change on the
/// same commit fails or was never judged (branch protection reads the commit's status, not
/// the change's).
pub fn status(
    change: &Change,
    d: &Decision,
    known: &Known,
    context: &str,
) -> Option<PlannedAction> {
    let (true, Some(sha)) = (policy::has_status(change), &change.head_sha) else {
        return None;
    };
    let (state, description) = match (
        d.verdict,
        known.failing_same_head.first(),
        known.unseen_same_head.first(),
    ) {
        (Verdict::Pass, None, None) => (StatusState::Success, d.summary.clone()),
        (Verdict::Pass, Some((number, summary)), _) => (
            StatusState::Failure,
            policy::clip(&format!(
                "#{number} has the same head commit and fails: {summary}"
            )),
        ),
        (Verdict::Pass, None, Some(number)) => (
            StatusState::Failure,
            format!("#{number} has the same head commit and changegate has not evaluated it yet"),
        ),
        _ => (StatusState::Failure, d.summary.clone()),
    };
    Some(PlannedAction::SetStatus {
        sha: sha.clone(),
        state,
        context: context_for(context, change),
        description,
    })
}

fn status_is(known: &Known, planned: &PlannedAction) -> bool {
    let PlannedAction::SetStatus {
        state, description, ..
    } = planned
    else {
        return false;
    };
    known.status.as_ref() == Some(&(*state, description.clone()))
}

/// In approval mode: approve a passing merge request, withdraw from a failing one, when the
/// bot's approval does not already say so.
fn approval(snap: &Snapshot, known: &Known, passing: bool) -> Option<PlannedAction> {
    let (true, Some(sha), Some(bot)) = (
        known.approval_mode && snap.change.kind == ChangeKind::MergeRequest,
        snap.change.head_sha.as_deref(),
        snap.bot.as_ref(),
    ) else {
        return None;
    };
    let approving = snap
        .reviews
        .iter()
        .any(|r| r.approved && bot.same_as(&r.reviewer) == Some(true));
    (passing != approving).then(|| PlannedAction::SetApproval {
        sha: sha.to_string(),
        approve: passing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeState, Forge, LabelEvent, Repo, RepoPath, Review, User};
    use crate::policy::{Memberships, evaluate};

    const HEAD: &str = "1111111111111111111111111111111111111111";

    /// alice's pull request with `labels`, each applied by the person named; mona manages.
    fn snap(labels: &[(&str, &str)]) -> Snapshot {
        let mut memberships = Memberships::default();
        memberships.set("bt-integration-managers", &User::named("mona"), true);
        Snapshot {
            change: Change {
                forge: Forge::Github,
                repo: Repo {
                    path: RepoPath::new("acme/platypus"),
                    id: None,
                },
                kind: ChangeKind::MergeRequest,
                number: 7,
                title: "Change".into(),
                description: String::new(),
                author: User::named("alice"),
                labels: labels.iter().map(|(l, _)| Label::new(l)).collect(),
                head_sha: Some(HEAD.into()),
                source_branch: None,
                target_branch: Some("main".into()),
                target_sha: None,
                draft: false,
                state: ChangeState::Open,
                merged_at: None,
                web_url: None,
                updated_at: None,
                comments: None,
            },
            label_events: labels
                .iter()
                .map(|(l, by)| LabelEvent {
                    label: Label::new(l),
                    added: true,
                    actor: User::named(by),
                    at: None,
                })
                .collect(),
            reviews: vec![],
            last_push: None,
            retarget: None,
            memberships,
            bot: Some(User::named("changegate[bot]")),
            commit_authors: vec![],
            incomplete: vec![],
            now: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 2, 10, 0, 0).unwrap(),
            changed_files: None,
            linked_issue: None,
            gated_authors: vec![],
            comment_approvals: vec![],
            debt: Default::default(),
            diffs: Default::default(),
        }
    }

    fn rules() -> crate::rules::Rules {
        crate::rules::parse("rules.yaml", include_str!("../rules.yaml")).expect("valid")
    }

    fn kinds(actions: &[PlannedAction]) -> Vec<&'static str> {
        actions
            .iter()
            .map(|a| match a {
                PlannedAction::SetStatus { state, .. } => match state {
                    StatusState::Success => "status success",
                    StatusState::Failure => "status failure",
                    StatusState::Error => "status error",
                    StatusState::Pending => "status pending",
                },
                PlannedAction::AddLabels { .. } => "add labels",
                PlannedAction::RemoveLabels { .. } => "remove labels",
                PlannedAction::SetApproval { approve: true, .. } => "approve",
                PlannedAction::SetApproval { approve: false, .. } => "unapprove",
                PlannedAction::UpsertComment { .. } => "comment",
                PlannedAction::PostReminder { .. } => "reminder",
                PlannedAction::AnswerStatusCheck { .. } => "status check",
            })
            .collect()
    }

    fn plan_for(s: &Snapshot, known: &Known) -> Vec<PlannedAction> {
        plan(s, &evaluate(&rules(), s), known, "changegate")
    }

    #[test]
    fn a_failing_verdict_is_written_first_and_a_passing_one_last() {
        // The author's own approval: removed, pending label back, failing.
        let s = snap(&[
            ("CMT::Standard", "alice"),
            ("Peer Approval::Approved", "alice"),
        ]);
        assert_eq!(
            kinds(&plan_for(&s, &Known::default())),
            vec!["status failure", "remove labels", "add labels", "comment"]
        );
        let s = snap(&[
            ("CMT::Minor", "alice"),
            ("BT Integration Manager::Approved", "mona"),
        ]);
        assert_eq!(
            kinds(&plan_for(&s, &Known::default())),
            vec!["comment", "status success"]
        );
    }

    #[test]
    fn what_the_forge_already_shows_is_not_written_again() {
        let s = snap(&[
            ("CMT::Minor", "alice"),
            ("BT Integration Manager::Approved", "mona"),
        ]);
        let d = evaluate(&rules(), &s);
        let body = comment::sticky(&s.change, &d);
        let known = Known {
            status: Some((StatusState::Success, d.summary.clone())),
            comment_hash: Some(comment::hash(&body)),
            ..Known::default()
        };
        assert!(plan(&s, &d, &known, "changegate").is_empty());
        // A status someone else posted (other text, or another state) is rewritten.
        for forged in [
            (StatusState::Success, "looks fine".to_string()),
            (StatusState::Failure, d.summary.clone()),
        ] {
            let known = Known {
                status: Some(forged),
                ..known.clone()
            };
            assert_eq!(
                kinds(&plan(&s, &d, &known, "changegate")),
                vec!["status success"]
            );
        }
    }

    #[test]
    fn another_failing_change_on_the_same_head_keeps_the_commit_failing() {
        let s = snap(&[
            ("CMT::Minor", "alice"),
            ("BT Integration Manager::Approved", "mona"),
        ]);
        let known = Known {
            failing_same_head: vec![(8, "Missing: Classify the change".into())],
            ..Known::default()
        };
        let planned = plan_for(&s, &known);
        let Some(PlannedAction::SetStatus {
            state, description, ..
        }) = planned.last()
        else {
            panic!("{planned:?}");
        };
        assert_eq!(*state, StatusState::Failure);
        assert_eq!(
            description,
            "#8 has the same head commit and fails: Missing: Classify the change"
        );
    }

    #[test]
    fn a_change_the_bot_never_judged_on_the_same_head_keeps_the_commit_failing() {
        let s = snap(&[
            ("CMT::Minor", "alice"),
            ("BT Integration Manager::Approved", "mona"),
        ]);
        let known = Known {
            unseen_same_head: vec![9],
            ..Known::default()
        };
        let planned = plan_for(&s, &known);
        let Some(PlannedAction::SetStatus {
            state, description, ..
        }) = planned.last()
        else {
            panic!("{planned:?}");
        };
        assert_eq!(*state, StatusState::Failure);
        assert_eq!(
            description,
            "#9 has the same head commit and changegate has not evaluated it yet"
        );
    }

    #[test]
    fn the_context_names_the_target_branch_when_the_setting_asks() {
        let mut s = snap(&[("CMT::Minor", "alice")]);
        s.change.target_branch = Some("release/2.0".into());
        let d = evaluate(&rules(), &s);
        let contexts: Vec<String> = plan(&s, &d, &Known::default(), "changegate: {target_branch}")
            .into_iter()
            .filter_map(|a| match a {
                PlannedAction::SetStatus { context, .. } => Some(context),
                _ => None,
            })
            .collect();
        assert_eq!(contexts, vec!["changegate: release/2.0"]);
        assert_eq!(context_for("changegate", &s.change), "changegate");
        assert_eq!(context_for_target("cg {target_branch}", None), "cg ?");
    }

    #[test]
    fn in_approval_mode_the_bots_approval_follows_the_verdict() {
        let known = Known {
            approval_mode: true,
            ..Known::default()
        };
        let passing = snap(&[
            ("CMT::Minor", "alice"),
            ("BT Integration Manager::Approved", "mona"),
        ]);
        assert_eq!(
            kinds(&plan_for(&passing, &known)),
            vec!["comment", "approve", "status success"]
        );
        let mut approved = passing.clone();
        approved.reviews.push(Review {
            reviewer: User::named("changegate[bot]"),
            approved: true,
            commit_sha: None,
            submitted_at: None,
        });
        assert_eq!(
            kinds(&plan_for(&approved, &known)),
            vec!["comment", "status success"]
        );
        let mut failing = approved.clone();
        failing.change.labels.pop();
        failing.label_events.pop();
        assert_eq!(
            kinds(&plan_for(&failing, &known)),
            vec!["status failure", "unapprove", "comment"]
        );
    }

    #[test]
    fn issues_get_no_status_and_unenforced_changes_nothing() {
        let mut issue = snap(&[("CMT::Minor", "alice")]);
        issue.change.kind = ChangeKind::Issue;
        issue.change.head_sha = None;
        assert_eq!(kinds(&plan_for(&issue, &Known::default())), vec!["comment"]);
        let mut unclassified_issue = issue.clone();
        unclassified_issue.change.labels.clear();
        assert!(plan_for(&unclassified_issue, &Known::default()).is_empty());
    }

    #[test]
    fn labels_already_as_decided_are_not_written() {
        // A comprehensive change asks for the business owner's label; already there: no write.
        let s = snap(&[
            ("CMT::Comprehensive", "alice"),
            ("Business Owner Approval::Needs Approval", "changegate[bot]"),
        ]);
        assert_eq!(
            kinds(&plan_for(&s, &Known::default())),
            vec!["status failure", "comment"]
        );
    }

    #[test]
    fn a_due_reminder_is_posted_last_and_once() {
        let mut s = snap(&[("CMT::Emergency", "alice")]);
        s.change.state = ChangeState::Merged;
        s.change.merged_at = Some(s.now - chrono::Duration::hours(2));
        let d = evaluate(&rules(), &s);
        let known = Known::default();
        let planned = plan(&s, &d, &known, "changegate");
        assert_eq!(kinds(&planned).last(), Some(&"reminder"), "{planned:#?}");
        let Some(PlannedAction::PostReminder { point, body, .. }) = planned.last() else {
            unreachable!()
        };
        assert_eq!(point, "3600");
        assert!(body.contains("@acme/bt-integration-managers"), "{body}");
        let sent = Known {
            reminder_sent: true,
            ..Known::default()
        };
        assert!(!kinds(&plan(&s, &d, &sent, "changegate")).contains(&"reminder"));
    }
}
