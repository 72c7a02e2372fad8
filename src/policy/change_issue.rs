//! Change issues gate their merge requests: a merge request links its issue in its
//! description, and the roles `change_issue.approvals` names are met on it when they are met
//! on the issue, judged by the issue's own history with every segregation-of-duties check
//! (the merge request's authors may not approve on the issue). The issue's classification
//! stands for the merge request's when it has none; two different ones fail.

use super::approvals::{self, ApprovalOutcome, ApprovalState, Via};
use super::conditions::{self, Facts};
use super::{ChecklistItem, LinkedIssue, Snapshot};
use crate::markdown::code;
use crate::model::{Change, ChangeKind, Label, RepoPath, User};
use crate::rules::Rules;

/// Which issue a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub repo: RepoPath,
    pub number: u64,
}

impl std::fmt::Display for IssueRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.repo, self.number)
    }
}

/// The reference the change's description gives, as written (`None`: no link).
pub fn find_reference(rules: &Rules, change: &Change) -> Option<String> {
    let ci = rules.change_issue.as_ref()?;
    if change.kind != ChangeKind::MergeRequest {
        return None;
    }
    let caps = ci.reference.captures(&change.description)?;
    let text = caps.get(1)?.as_str();
    Some(
        text.trim_end_matches(['.', ',', ';', ')', ']', '>'])
            .trim_start_matches(['(', '[', '<'])
            .to_string(),
    )
}

/// `#12`, `group/project#12`, or the issue's URL on the change's own forge host.
pub fn parse_reference(text: &str, change: &Change) -> Result<IssueRef, String> {
    let bad = || {
        format!(
            "{} is not an issue reference: write `#12`, {} or the issue's URL",
            code(text),
            code(format!("{}#12", change.repo.path))
        )
    };
    if let Some(rest) = text
        .strip_prefix("https://")
        .or(text.strip_prefix("http://"))
    {
        let (host, path) = rest.split_once('/').ok_or_else(bad)?;
        let own_host = change
            .web_url
            .as_deref()
            .and_then(|u| u.split("://").nth(1))
            .and_then(|u| u.split('/').next());
        if own_host.is_some_and(|h| !h.eq_ignore_ascii_case(host)) {
            return Err(format!(
                "{} is on another host; the change issue must be on the same forge",
                code(text)
            ));
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let (project, number) = path
            .rsplit_once("/-/issues/")
            .or_else(|| path.rsplit_once("/issues/"))
            .ok_or_else(bad)?;
        let number = number.trim_end_matches('/').parse().map_err(|_| bad())?;
        if !project_path(project) {
            return Err(bad());
        }
        return Ok(IssueRef {
            repo: RepoPath::new(project),
            number,
        });
    }
    let (project, number) = text.rsplit_once('#').ok_or_else(bad)?;
    let number: u64 = number.parse().map_err(|_| bad())?;
    let repo = if project.is_empty() {
        change.repo.path.clone()
    } else if project.contains('/') && project_path(project) {
        RepoPath::new(project)
    } else {
        return Err(bad());
    };
    Ok(IssueRef { repo, number })
}

/// A project path the forges could name: segments of letters, digits, `.`, `_` and `-`,
/// none of them `.` or `..` (a path the server would resolve elsewhere than it reads).
fn project_path(project: &str) -> bool {
    project.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    })
}

/// What a linked issue means for a merge request.
#[derive(Default)]
pub(super) struct Link {
    /// The issue's outcomes for the roles it gives, marked with where they come from.
    given: Vec<ApprovalOutcome>,
    /// People the issue's approvals use, with their role's title (one person, one role).
    pub taken: Vec<(User, String)>,
    /// Checklist lines the link itself fails: missing, unreadable, classification differs.
    pub items: Vec<ChecklistItem>,
    /// The issue's classification, standing for the merge request's.
    pub classification: Option<Label>,
}

pub(super) fn judge(rules: &Rules, snap: &Snapshot, needs: &[(String, u32)]) -> Link {
    let mut link = Link::default();
    let Some(ci) = &rules.change_issue else {
        return link;
    };
    if snap.change.kind != ChangeKind::MergeRequest {
        return link;
    }
    let facts = Facts {
        change: &snap.change,
        labels: &snap.change.labels,
        approved: &[],
        files: snap.changed_files.as_ref(),
    };
    let required = conditions::holds(&ci.required_for, &facts);
    let example = format!("Change: {}#12", snap.change.repo.path);
    let (reference, issue) = match &snap.linked_issue {
        None => {
            if required {
                link.items.push(failing(
                    "Link the change issue",
                    format!("this merge request must link its change issue: add {} (or the issue's URL) to its description", code(&example)),
                ));
            }
            return link;
        }
        Some(LinkedIssue::Unreadable { reference, reason }) => {
            if required {
                link.items.push(failing(
                    "Link the change issue",
                    format!("the linked change issue {} cannot be used: {reason}; link an existing issue with {}", code(reference), code(&example)),
                ));
            }
            return link;
        }
        Some(LinkedIssue::Refused { reference, reason }) => {
            link.items.push(failing(
                "Change issue belongs to this change",
                format!("`{reference}` cannot be this merge request's change issue: {reason}"),
            ));
            return link;
        }
        Some(LinkedIssue::Read { reference, issue }) => (reference, issue),
    };
    let mut issue = (**issue).clone();
    // The merge request's pushes and retargets reset the issue's `reset_on_push` approvals as
    // they reset its own: an approval given on the issue was of the code as it was then.
    issue.last_push = snap.last_push.clone();
    issue.retarget = snap.retarget.clone();
    // The merge request's authors may not approve it on the issue either.
    issue.gated_authors.push(snap.change.author.clone());
    issue
        .gated_authors
        .extend(snap.commit_authors.iter().cloned());
    let labels = issue.change.labels.clone();
    // An issue has no native approvals; a label the bot applied on it stands for none.
    let all: Vec<String> = rules.approvals.iter().map(|a| a.name.clone()).collect();
    for o in approvals::assess(rules, &issue, &labels, needs, &[], &all) {
        if !ci.approvals.contains(&o.name) {
            continue;
        }
        if let (true, ApprovalState::Met { by, .. }, Some(a)) =
            (o.is_met(), &o.state, rules.approval(&o.name))
        {
            link.taken.push((by.clone(), a.title.clone()));
            for p in &o.others {
                link.taken.push((p.by.clone(), a.title.clone()));
            }
        }
        link.given.push(ApprovalOutcome {
            on: Some(reference.clone()),
            ..o
        });
    }
    if let Some(scope) = rules.classification() {
        let of = |ls: &[Label]| ls.iter().find(|l| l.scope() == Some(scope)).cloned();
        match (of(&snap.change.labels), of(&labels)) {
            (None, Some(theirs)) => link.classification = Some(theirs),
            (Some(ours), Some(theirs)) if ours != theirs => link.items.push(failing(
                "Classification matches the change issue",
                format!(
                    "this merge request is {} but {} is {}; they must agree",
                    code(&ours),
                    code(reference),
                    code(&theirs)
                ),
            )),
            _ => {}
        }
    }
    link
}

/// The roles the issue gives: met there, met here (the merge request's own labels still
/// count, and still lose their invalid ones); not met there, said where they are awaited.
pub(super) fn give(link: &Link, outcomes: &mut [ApprovalOutcome]) {
    for g in &link.given {
        let Some(o) = outcomes.iter_mut().find(|o| o.name == g.name) else {
            continue;
        };
        if g.is_met() && !o.is_met() {
            let mut given = g.clone();
            if let ApprovalState::Met { via, .. } = &mut given.state {
                *via = Via::LinkedIssue;
            }
            *o = given;
        } else if !o.is_met() && o.on.is_none() {
            o.on = g.on.clone();
            // Why the issue's approval does not count (a push of this merge request reset it,
            // its giver is not eligible…) says more than "not given yet".
            if let (
                ApprovalState::Missing,
                ApprovalState::Invalid { reason } | ApprovalState::Unverified { reason },
                Some(on),
            ) = (&o.state, &g.state, &g.on)
            {
                o.state = ApprovalState::Unverified {
                    reason: format!("on {}: {reason}", code(on)),
                };
            }
        }
    }
}

fn failing(title: &str, detail: String) -> ChecklistItem {
    ChecklistItem {
        title: title.into(),
        met: false,
        detail,
        next_step: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeState, Forge, Repo};

    fn mr(web: &str) -> Change {
        Change {
            forge: Forge::Gitlab,
            repo: Repo {
                path: RepoPath::new("acme/platypus"),
                id: Some(42),
            },
            kind: ChangeKind::MergeRequest,
            number: 3,
            title: "t".into(),
            description: String::new(),
            author: User::named("alice"),
            labels: vec![],
            head_sha: None,
            source_branch: None,
            target_branch: None,
            target_sha: None,
            draft: false,
            state: ChangeState::Open,
            merged_at: None,
            web_url: Some(web.into()),
            updated_at: None,
            comments: None,
        }
    }

    #[test]
    fn references_parse_in_every_documented_form() {
        let c = mr("https://gitlab.example.com/acme/platypus/-/merge_requests/3");
        let at = |p: &str, n| IssueRef {
            repo: RepoPath::new(p),
            number: n,
        };
        assert_eq!(parse_reference("#12", &c), Ok(at("acme/platypus", 12)));
        assert_eq!(
            parse_reference("acme/change-requests#12", &c),
            Ok(at("acme/change-requests", 12))
        );
        assert_eq!(
            parse_reference("https://gitlab.example.com/acme/sub/cr/-/issues/7", &c),
            Ok(at("acme/sub/cr", 7))
        );
        let g = mr("https://github.com/acme/platypus/pull/3");
        assert_eq!(
            parse_reference("https://github.com/acme/cr/issues/9#issuecomment-1", &g),
            Ok(at("acme/cr", 9))
        );
        for bad in [
            "12",
            "#twelve",
            "acme#",
            "https://evil.example.com/acme/cr/-/issues/7",
            // Paths the server would resolve elsewhere, or text that is no project name.
            "acme/platypus/@acme/everyone/../..#12",
            "acme/../other/cr#5",
            "acme/`x`/cr#5",
            "https://gitlab.example.com/acme/../evil/cr/-/issues/7",
        ] {
            assert!(parse_reference(bad, &c).is_err(), "{bad}");
        }
    }
}
