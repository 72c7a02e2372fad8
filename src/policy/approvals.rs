//! Which approvals count: who applied each approval label, whether they may approve this
//! change, whether it went stale, and one person per role.

use super::same_diff::{self, SameDiff};
use super::{LabelEvent, Snapshot, last_applied};
use crate::model::{Label, User};
use crate::rules::{Approval, ApproverGroup, Rules};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an approval was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Label,
    NativeApproval,
    /// Given on the change issue the merge request links.
    LinkedIssue,
    /// Given by a comment command (`/changegate approve ROLE`); the bot applied the label.
    Comment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    Met {
        by: User,
        at: Option<DateTime<Utc>>,
        via: Via,
    },
    /// No approval given.
    Missing,
    /// The label is present but does not count; the bot removes it.
    Invalid { reason: String },
    /// The label is present but who applied it, or whether they may, cannot be told yet.
    Unverified { reason: String },
}

/// One more person who gave an approval that needs several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approver {
    pub by: User,
    pub at: Option<DateTime<Utc>>,
    pub via: Via,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalOutcome {
    pub name: String,
    pub label: Label,
    #[serde(flatten)]
    pub state: ApprovalState,
    /// Distinct people beyond the first (`Met`'s `by`), when more than one is needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<Approver>,
    /// How many distinct people the matched rules need (`count`), when more than one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub needed: u32,
    /// The linked change issue this role is given on (`acme/change-requests#12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// The comments that gave it, for the people who gave it by comment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<CommentLink>,
}

/// Who gave an approval by comment, and the comment's link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentLink {
    pub by: User,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ApprovalOutcome {
    /// The link of the comment by which `by` gave this approval, if they gave it so.
    pub fn comment_url(&self, by: &User) -> Option<&str> {
        self.comments
            .iter()
            .find(|c| c.by.same_as(by) == Some(true))
            .and_then(|c| c.url.as_deref())
    }
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n <= 1
}

impl ApprovalOutcome {
    /// Given, by as many distinct people as needed.
    pub fn is_met(&self) -> bool {
        matches!(self.state, ApprovalState::Met { .. }) && self.given_by() >= self.needed.max(1)
    }

    /// How many distinct people gave it.
    pub fn given_by(&self) -> u32 {
        match self.state {
            ApprovalState::Met { .. } => 1 + self.others.len() as u32,
            _ => 0,
        }
    }
}

/// A person who could fill a role, before one-person-one-role is applied.
#[derive(Clone)]
struct Candidate {
    by: User,
    at: Option<DateTime<Utc>>,
    via: Via,
    /// The comment that gave it (by comment).
    link: Option<String>,
}

/// Approvals by comment that stand for the role: a member's, not an author's, on the head
/// when new commits reset the role, and only while the rules let the role be given so.
fn by_comment(rules: &Rules, snap: &Snapshot, a: &Approval) -> Vec<Candidate> {
    if !a.by_comment || rules.commands.is_none() {
        return vec![];
    }
    let Some(group) = rules.group(&a.approvers) else {
        return vec![];
    };
    snap.comment_approvals
        .iter()
        .filter(|c| c.role == a.name)
        .filter(|c| {
            // Under `changed_diff`, the fingerprint recorded when it was given decides, as
            // for labels; without one, the push rules below reset it. On the recorded head
            // itself the push-time rules still hold: a record never vouches for a comment
            // written before its head's push or before a retarget.
            if a.reset_on_push.keeps_same_diff() {
                match same_diff::judge(snap, &a.name, "comment", &c.by, Some(c.at)) {
                    SameDiff::Kept(_) => return true,
                    SameDiff::Unmoved => {
                        return !retargeted_since(snap, Some(c.at))
                            && reset_since(snap, Some(c.at)).is_none();
                    }
                    SameDiff::Reset(_) => return false,
                    SameDiff::NoRecord => {}
                }
            }
            // On a change issue there is no head: the merge requests it gates place its
            // approvals against their own pushes, as they do its labels (their pushes and
            // retargets, given to the issue's snapshot, reset it).
            !a.reset_on_push.resets()
                || (snap.change.kind == crate::model::ChangeKind::Issue
                    && !unseen_code(snap, Some(c.at))
                    && reset_since(snap, Some(c.at)).is_none())
                || (c.head.is_some()
                    && c.head == snap.change.head_sha
                    && !retargeted_since(snap, Some(c.at))
                    && reset_since(snap, Some(c.at)).is_none())
        })
        .filter(|c| {
            a.author_may_approve
                || (snap.change.author.same_as(&c.by) == Some(false)
                    && !committed(rules, snap, &c.by)
                    && !gated_author(snap, &c.by))
        })
        .filter(|c| is_member(snap, group, &c.by) == Some(true))
        .map(|c| Candidate {
            by: c.by.clone(),
            at: Some(c.at),
            via: Via::Comment,
            link: c.url.clone(),
        })
        .collect()
}

/// What the label alone says, before distinctness.
enum LabelFinding {
    Absent,
    Valid(Candidate),
    /// Applied by the bot for a native approval: valid only while one stands.
    ByBot,
    Invalid(String),
    Unverified(String),
}

struct Assessment<'a> {
    approval: &'a Approval,
    label: LabelFinding,
    natives: Vec<Candidate>,
    comments: Vec<Candidate>,
}

impl Assessment<'_> {
    fn candidates(&self) -> Vec<Candidate> {
        let mut all = vec![];
        if let LabelFinding::Valid(c) = &self.label {
            all.push(c.clone());
        }
        all.extend(self.natives.iter().cloned());
        all.extend(self.comments.iter().cloned());
        all
    }

    fn earliest(&self) -> Option<DateTime<Utc>> {
        self.candidates().iter().filter_map(|c| c.at).min()
    }
}

/// Who gave each approval. `needs` says how many distinct people an approval needs when
/// more than one (the matched rules' `count`); `counted` names the roles whose native
/// approvals count (those the change requires): for the others neither reviews nor the
/// labels the bot applied for them are looked at.
pub(super) fn assess(
    rules: &Rules,
    snap: &Snapshot,
    labels: &[Label],
    needs: &[(String, u32)],
    taken: &[(User, String)],
    counted: &[String],
) -> Vec<ApprovalOutcome> {
    let mut list: Vec<Assessment> = rules
        .approvals
        .iter()
        .map(|a| {
            let counts = counted.contains(&a.name);
            // With commands on, the bot applies the label for approvals by comment too: a
            // label it applied stands only with a record behind it. A role whose reviews are
            // not read (not required) may still have one standing behind its label: that
            // label is left alone, as before.
            let recorded = a.by_comment && rules.commands.is_some();
            let unread_reviews = !counts && a.native_approvals;
            Assessment {
                approval: a,
                label: match label_finding(rules, snap, a, labels) {
                    LabelFinding::ByBot if unread_reviews || (!counts && !recorded) => {
                        LabelFinding::Absent
                    }
                    found => found,
                },
                natives: if counts {
                    natives(rules, snap, a)
                } else {
                    vec![]
                },
                comments: by_comment(rules, snap, a),
            }
        })
        .collect();
    // Earlier approvals claim their person first; unknown times keep the rules' order.
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by_key(|&i| (list[i].earliest().is_none(), list[i].earliest()));
    // People who already fill a role (on a linked change issue) fill no other here.
    let mut used: Vec<(User, String)> = taken.to_vec();
    let mut states: Vec<Option<ApprovalState>> = vec![None; list.len()];
    let mut others: Vec<Vec<Approver>> = vec![vec![]; list.len()];
    let mut links: Vec<Vec<CommentLink>> = vec![vec![]; list.len()];
    let need = |name: &str| {
        needs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .max()
            .unwrap_or(1)
    };
    for i in order {
        let a = &mut list[i];
        let candidates = a.candidates();
        let wanted = need(&a.approval.name) as usize;
        // Distinct people, each free of other roles, up to the number needed.
        let mut chosen: Vec<&Candidate> = vec![];
        let title = a.approval.title.clone();
        for c in &candidates {
            let taken = rules.distinct_approvers
                && used
                    .iter()
                    .any(|(u, role)| role != &title && u.same_as(&c.by) == Some(true));
            let again = chosen.iter().any(|o| o.by.same_as(&c.by) != Some(false));
            if !taken && !again && chosen.len() < wanted {
                chosen.push(c);
            }
        }
        for c in &chosen {
            used.push((c.by.clone(), a.approval.title.clone()));
        }
        links[i] = chosen
            .iter()
            .filter(|c| c.via == Via::Comment)
            .map(|c| CommentLink {
                by: c.by.clone(),
                url: c.link.clone(),
            })
            .collect();
        let state = match chosen.split_first() {
            Some((c, more)) => {
                others[i] = more
                    .iter()
                    .map(|m| Approver {
                        by: m.by.clone(),
                        at: m.at,
                        via: m.via,
                    })
                    .collect();
                ApprovalState::Met {
                    by: c.by.clone(),
                    at: c.at,
                    via: c.via,
                }
            }
            None => unmet_state(a, &candidates, &used),
        };
        states[i] = Some(state);
    }
    list.iter()
        .zip(states)
        .zip(others)
        .zip(links)
        .map(|(((a, s), others), comments)| ApprovalOutcome {
            name: a.approval.name.clone(),
            label: a.approval.label.clone(),
            state: s.unwrap_or(ApprovalState::Missing),
            others,
            needed: need(&a.approval.name),
            on: None,
            comments,
        })
        .collect()
}

fn unmet_state(a: &Assessment, candidates: &[Candidate], used: &[(User, String)]) -> ApprovalState {
    if let Some(c) = candidates.first() {
        let role = used
            .iter()
            .find(|(u, _)| u.same_as(&c.by) == Some(true))
            .map(|(_, r)| r.as_str())
            .unwrap_or("another role");
        let reason = format!(
            "{} already approved this change as {role}; one person can fill only one approval role",
            c.by.mention()
        );
        return match a.label {
            LabelFinding::Valid(_) | LabelFinding::ByBot => ApprovalState::Invalid { reason },
            _ => ApprovalState::Missing,
        };
    }
    match &a.label {
        LabelFinding::Absent | LabelFinding::Valid(_) => ApprovalState::Missing,
        LabelFinding::ByBot => ApprovalState::Invalid {
            reason: "changegate applied it for an approval that no longer stands (a review or comment approval dismissed, withdrawn, or given on older commits), and a label changegate applied counts only with its record".into(),
        },
        LabelFinding::Invalid(r) => ApprovalState::Invalid { reason: r.clone() },
        LabelFinding::Unverified(r) => ApprovalState::Unverified { reason: r.clone() },
    }
}

fn label_finding(rules: &Rules, snap: &Snapshot, a: &Approval, labels: &[Label]) -> LabelFinding {
    if !labels.contains(&a.label) {
        return removed_by_bot(rules, snap, a).unwrap_or(LabelFinding::Absent);
    }
    match last_applied(snap, &a.label) {
        Some(ev) => judge(rules, snap, a, ev),
        None => LabelFinding::Unverified(format!(
            "there is no record yet of who applied `{}`",
            a.label
        )),
    }
}

/// When the bot itself removed the label because it did not count, the same reason, so that
/// the comment keeps explaining it after the label is gone.
fn removed_by_bot(rules: &Rules, snap: &Snapshot, a: &Approval) -> Option<LabelFinding> {
    let bot = snap.bot.as_ref()?;
    let last = snap.label_events.iter().rposition(|e| e.label == a.label)?;
    let removal = &snap.label_events[last];
    if removal.added || bot.same_as(&removal.actor) != Some(true) {
        return None;
    }
    let applied = snap.label_events[..last]
        .iter()
        .rev()
        .find(|e| e.added && e.label == a.label)?;
    match judge(rules, snap, a, applied) {
        LabelFinding::Invalid(reason) => Some(LabelFinding::Invalid(reason)),
        _ => None,
    }
}

/// Whether the person who applied the label at `ev` may give this approval.
fn judge(rules: &Rules, snap: &Snapshot, a: &Approval, ev: &LabelEvent) -> LabelFinding {
    if is_bot(snap, &ev.actor) {
        return LabelFinding::ByBot;
    }
    let who = ev.actor.mention();
    if !a.author_may_approve && snap.change.author.same_as(&ev.actor).is_none() {
        return LabelFinding::Unverified(format!(
            "cannot tell whether {who}, who applied `{}`, is the author of this change",
            a.label
        ));
    }
    if !a.author_may_approve && snap.change.author.same_as(&ev.actor) == Some(true) {
        return LabelFinding::Invalid(format!(
            "{who} applied `{}` but is the author of this change; nobody approves their own change",
            a.label
        ));
    }
    if !a.author_may_approve && committed(rules, snap, &ev.actor) {
        return LabelFinding::Invalid(format!(
            "{who} applied `{}` but authored commits of this change; nobody approves their own code{}",
            a.label,
            committer_words(a)
        ));
    }
    if !a.author_may_approve && gated_author(snap, &ev.actor) {
        return LabelFinding::Invalid(format!(
            "{who} applied `{}` but authored a merge request this issue approves; nobody approves their own change",
            a.label
        ));
    }
    if a.reset_on_push.keeps_same_diff() {
        match same_diff::judge(snap, &a.name, "label", &ev.actor, ev.at) {
            SameDiff::Reset(why) => return LabelFinding::Invalid(why),
            SameDiff::Kept(_) | SameDiff::Unmoved => return member_finding(rules, snap, a, ev),
            SameDiff::NoRecord => {}
        }
    }
    if a.reset_on_push.resets() && unseen_code(snap, ev.at) {
        return LabelFinding::Invalid(format!(
            "{who} applied `{}` before changegate could see this code{}; approve again",
            a.label,
            head_words(snap)
        ));
    }
    if a.reset_on_push.resets()
        && let Some(what) = reset_since(snap, ev.at)
    {
        let unrecorded = match a.reset_on_push.keeps_same_diff() {
            true => " (changegate recorded no fingerprint of the diff it was given on)",
            false => "",
        };
        return LabelFinding::Invalid(format!(
            "{what} after {who} approved{unrecorded}; the approval must be given again"
        ));
    }
    member_finding(rules, snap, a, ev)
}

/// Whether the person who applied the label is in the approver group.
fn member_finding(rules: &Rules, snap: &Snapshot, a: &Approval, ev: &LabelEvent) -> LabelFinding {
    let who = ev.actor.mention();
    let group = rules.group(&a.approvers);
    match group.and_then(|g| is_member(snap, g, &ev.actor)) {
        Some(true) => LabelFinding::Valid(Candidate {
            by: ev.actor.clone(),
            at: ev.at,
            via: super::Via::Label,
            link: None,
        }),
        Some(false) => LabelFinding::Invalid(format!(
            "{who} applied `{}` but is not in the approver group `{}`",
            a.label, a.approvers
        )),
        None => LabelFinding::Unverified(format!(
            "could not check yet whether {who} is in the approver group `{}`",
            a.approvers
        )),
    }
}

/// Under `changed_diff`, why someone who approved may now be a committer.
fn committer_words(a: &Approval) -> &'static str {
    match a.reset_on_push.keeps_same_diff() {
        true => {
            " (whoever rebases the branch or updates it from its target becomes a committer of the new commits)"
        }
        false => "",
    }
}

/// Whether `user` authored or committed commits of the change, when the rules say so counts.
pub(super) fn committed(rules: &Rules, snap: &Snapshot, user: &User) -> bool {
    rules.commit_authors_are_authors
        && snap
            .commit_authors
            .iter()
            .any(|c| c.same_as(user) == Some(true))
}

/// Whether `user` authored a change this one gates (a change issue's merge requests): they
/// may not approve it either. Unknown counts as the author.
pub(super) fn gated_author(snap: &Snapshot, user: &User) -> bool {
    snap.gated_authors
        .iter()
        .any(|a| a.same_as(user) != Some(false))
}

fn is_bot(snap: &Snapshot, user: &User) -> bool {
    snap.bot
        .as_ref()
        .is_some_and(|b| b.same_as(user) == Some(true))
}

/// Whether an approval given at `at` may predate the head it would approve: nothing says when
/// the head arrived, or only that changegate first saw it after `at`.
pub(super) fn unseen_code(snap: &Snapshot, at: Option<DateTime<Utc>>) -> bool {
    snap.last_push.as_ref().is_some_and(|p| match (p.at, at) {
        (None, _) => true,
        (Some(_), None) => p.seen_only,
        (Some(t), Some(a)) => p.seen_only && a < t,
    })
}

/// The head approvals would be on, in words: ` (1234567)`, or nothing when unknown.
fn head_words(snap: &Snapshot) -> String {
    snap.last_push
        .as_ref()
        .and_then(|p| p.sha.as_deref())
        .map(|s| format!(" ({})", short(s)))
        .unwrap_or_default()
}

/// Whether an approval without a commit was given after the head's push and after any
/// retarget; unknown times do not prove it.
fn approved_after_push(snap: &Snapshot, at: Option<DateTime<Utc>>) -> bool {
    let (Some(push), Some(at)) = (snap.last_push.as_ref().and_then(|p| p.at), at) else {
        return false;
    };
    at >= push && !retargeted_since(snap, Some(at))
}

/// Whether the target branch changed after `at` (or at an unknown time).
fn retargeted_since(snap: &Snapshot, at: Option<DateTime<Utc>>) -> bool {
    snap.retarget.as_ref().is_some_and(|r| match (r.at, at) {
        (Some(t), Some(a)) => t > a,
        _ => true,
    })
}

/// What reset approvals given at `at`: new commits pushed later, or the target branch changed
/// later (the later of the two), in words for the comment.
pub(super) fn reset_since(snap: &Snapshot, at: Option<DateTime<Utc>>) -> Option<String> {
    let push = snap.last_push.as_ref().and_then(|p| Some((p.at?, p)));
    let retarget = snap.retarget.as_ref().and_then(|r| Some((r.at?, r)));
    let after = |t: DateTime<Utc>| at.is_none_or(|a| t > a);
    let pushed = push.filter(|(t, _)| after(*t));
    let retargeted = retarget.filter(|(t, _)| after(*t));
    match (pushed, retargeted) {
        (Some((pt, _)), Some((rt, r))) if rt >= pt => Some(retarget_words(r)),
        (None, Some((_, r))) => Some(retarget_words(r)),
        (Some((_, p)), _) => {
            let sha = p
                .sha
                .as_deref()
                .map(|s| format!(" ({})", short(s)))
                .unwrap_or_default();
            Some(format!("new commits were pushed{sha}"))
        }
        (None, None) => None,
    }
}

fn retarget_words(r: &super::Retarget) -> String {
    match &r.from {
        Some(from) => format!(
            "the target branch changed (from {})",
            crate::markdown::code(from)
        ),
        None => "the target branch changed".to_string(),
    }
}

/// Native approvals that can stand for the role: by a member, not the author, on the head.
fn natives(rules: &Rules, snap: &Snapshot, a: &Approval) -> Vec<Candidate> {
    if !a.native_approvals {
        return vec![];
    }
    let Some(group) = rules.group(&a.approvers) else {
        return vec![];
    };
    let head = snap.change.head_sha.as_deref();
    let mut found: Vec<Candidate> = snap
        .reviews
        .iter()
        .filter(|r| r.approved)
        // The bot approves passing changes itself (GitLab approval mode): never a peer.
        .filter(|r| !is_bot(snap, &r.reviewer))
        .filter(|r| {
            if a.reset_on_push.keeps_same_diff() {
                match same_diff::judge(snap, &a.name, "review", &r.reviewer, r.submitted_at) {
                    SameDiff::Kept(_) | SameDiff::Unmoved => return true,
                    SameDiff::Reset(_) => return false,
                    SameDiff::NoRecord => {}
                }
            }
            let resets = a.reset_on_push.resets();
            match (&r.commit_sha, head) {
                (Some(c), Some(h)) => c == h && !(resets && retargeted_since(snap, r.submitted_at)),
                (Some(_), None) => false,
                // No commit (GitLab): when pushes reset the role, only an approval given
                // after the head's push is known to be on it.
                (None, _) => !resets || approved_after_push(snap, r.submitted_at),
            }
        })
        .filter(|r| {
            a.author_may_approve
                || (snap.change.author.same_as(&r.reviewer) == Some(false)
                    && !committed(rules, snap, &r.reviewer)
                    && !gated_author(snap, &r.reviewer))
        })
        .filter(|r| is_member(snap, group, &r.reviewer) == Some(true))
        .map(|r| Candidate {
            by: r.reviewer.clone(),
            at: r.submitted_at,
            via: Via::NativeApproval,
            link: None,
        })
        .collect();
    found.sort_by_key(|c| (c.at.is_none(), c.at));
    found
}

/// Static members answer at once; otherwise what the forge said, if it was asked.
pub(crate) fn is_member(snap: &Snapshot, group: &ApproverGroup, user: &User) -> Option<bool> {
    // Static members by account id, never by login alone: a login can be renamed or taken
    // by someone else. A listed login counts for the account it was first resolved to.
    let forge = snap.change.forge;
    if user.id.is_some_and(|id| group.ids(forge).contains(&id)) {
        return Some(true);
    }
    let name = user.username.as_deref().unwrap_or("");
    for login in group.users(forge) {
        match snap.memberships.resolved(login) {
            Some(id) if id.is_some() && id == user.id => return Some(true),
            Some(_) => {}
            // Not resolved yet: whether this person is that account is unknown.
            None if login.eq_ignore_ascii_case(name) => return None,
            None => {}
        }
    }
    if let Some(answer) = snap.memberships.get(&group.name, user) {
        return Some(answer);
    }
    // With no forge team for this forge, the static list is the whole group.
    group
        .team(snap.change.forge, &snap.change.repo.path)
        .is_none()
        .then_some(false)
}

/// Users whose membership the evaluator will ask about, per group (for the worker to look up).
pub fn membership_questions(rules: &Rules, snap: &Snapshot) -> Vec<(String, User)> {
    let mut out: Vec<(String, User)> = vec![];
    for a in &rules.approvals {
        let Some(group) = rules.group(&a.approvers) else {
            continue;
        };
        let mut people: Vec<User> = snap
            .label_events
            .iter()
            .filter(|e| e.added && e.label == a.label)
            .map(|e| e.actor.clone())
            .collect();
        if a.native_approvals {
            people.extend(
                snap.reviews
                    .iter()
                    .filter(|r| r.approved)
                    .map(|r| r.reviewer.clone()),
            );
        }
        people.extend(
            snap.comment_approvals
                .iter()
                .filter(|c| c.role == a.name)
                .map(|c| c.by.clone()),
        );
        for p in people {
            let asked = out
                .iter()
                .any(|(g, u)| g == &group.name && u.same_as(&p) == Some(true));
            if !asked && is_member(snap, group, &p).is_none() {
                out.push((group.name.clone(), p));
            }
        }
    }
    out
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
