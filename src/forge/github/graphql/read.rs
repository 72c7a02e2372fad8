//! Reading the snapshot query's answer: any `errors` entry or a null where data is needed
//! fails it whole; parts GraphQL cannot give whole are left to REST (`None`).

use super::*;

fn time(s: &str) -> Option<DateTime<Utc>> {
    crate::model::parse_time(s)
}

/// Reads an answer into a snapshot of `repo`'s change `number`; any `errors` entry or a null
/// where data is needed fails it whole. Connections past their first page are left to REST
/// (the client pages them first: [`super::begin`]).
pub fn read(repo: &Repo, body: &[u8]) -> Result<GqlSnapshot, GqlError> {
    super::begin(body)?.finish(repo)
}

/// The snapshot from a whole answer, its errors already refused.
pub(super) fn from_value(repo: &Repo, raw: serde_json::Value) -> Result<GqlSnapshot, GqlError> {
    let answer: Answer = serde_json::from_value(raw)
        .map_err(|e| GqlError::Partial(format!("a null or missing field: {e}")))?;
    if answer.errors.is_some_and(|e| !e.is_empty()) {
        return Err(GqlError::Partial("errors".into()));
    }
    let data = answer
        .data
        .ok_or_else(|| GqlError::Partial("no data".into()))?;
    snapshot(repo, data)
}

fn snapshot(repo: &Repo, data: Data) -> Result<GqlSnapshot, GqlError> {
    let w = data.repository.issue_or_pull_request;
    let kind = match w.typename.as_str() {
        "PullRequest" => ChangeKind::MergeRequest,
        "Issue" => ChangeKind::Issue,
        other => return Err(GqlError::Partial(format!("a {other} is no change"))),
    };
    let is_pr = kind == ChangeKind::MergeRequest;
    if is_pr
        && (w.reviews.is_none()
            || w.commits.is_none()
            || w.head.is_none()
            || w.files.is_none()
            || w.head_ref_oid.is_none()
            || w.base_ref_name.is_none()
            || w.merged.is_none())
    {
        return Err(GqlError::Partial("a pull request without its parts".into()));
    }
    if !w.labels.page_info.ends() {
        // The labels decide: more than one page is read through REST whole.
        return Err(GqlError::Partial("more than 100 labels".into()));
    }
    let merged = w.merged == Some(true) || w.merged_at.is_some();
    let state = match (kind, &w.state, &w.issue_state) {
        (ChangeKind::MergeRequest, Some(s), _) | (ChangeKind::Issue, _, Some(s)) => s.clone(),
        _ => return Err(GqlError::Partial("a change without its state".into())),
    };
    let change = Change {
        forge: ForgeKind::Github,
        repo: repo.clone(),
        kind,
        number: w.number,
        title: w.title,
        description: w.body,
        author: who(&w.author),
        labels: w.labels.nodes.iter().map(|l| Label::new(&l.name)).collect(),
        head_sha: w.head_ref_oid.clone(),
        source_branch: w.head_ref_name.clone(),
        target_branch: w.base_ref_name.clone(),
        target_sha: w.base_ref_oid.clone(),
        draft: w.is_draft.unwrap_or(false),
        state: match (state.as_str(), merged) {
            (_, true) | ("MERGED", _) => ChangeState::Merged,
            ("CLOSED", _) => ChangeState::Closed,
            ("OPEN", _) => ChangeState::Open,
            (other, _) => return Err(GqlError::Partial(format!("unknown state {other}"))),
        },
        merged_at: w.merged_at.as_deref().and_then(time),
        web_url: Some(w.url),
        updated_at: Some(w.updated_at),
        comments: Some(w.comments.total_count),
    };
    let history = history(&w.timeline_items)?;
    let reviews = w
        .reviews
        .filter(|r| r.page_info.ends())
        .map(|r| standing(r.nodes));
    let commit_authors = w
        .commits
        .filter(|c| c.page_info.ends() && c.total_count as usize == c.nodes.len())
        .map(|c| authors(&c.nodes));
    let forced_at = |sha: &str| {
        w.timeline_items
            .nodes
            .iter()
            .filter(|e| e.typename == "HeadRefForcePushedEvent")
            .filter(|e| e.after_commit.as_ref().is_some_and(|c| c.oid == sha))
            .filter_map(|e| time(&e.created_at))
            .max()
    };
    let head_node = w.head.and_then(|h| h.nodes.into_iter().next());
    let (head, statuses, head_pulls) = match head_node {
        Some(h) if Some(&h.commit.oid) == change.head_sha.as_ref() => {
            let suite = h
                .commit
                .check_suites
                .nodes
                .iter()
                .filter_map(|s| time(&s.created_at))
                .min();
            // The later of the two: a later push time counts fewer approvals, never more.
            let pushed = suite.max(forced_at(&h.commit.oid));
            let statuses = h
                .commit
                .status
                .map(|s| {
                    s.contexts
                        .into_iter()
                        .map(|c| {
                            let state = c.state.to_lowercase();
                            (c.context, state, c.description.unwrap_or_default())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let pulls = &h.commit.associated_pull_requests;
            let head_pulls = (pulls.page_info.ends()).then(|| {
                pulls
                    .nodes
                    .iter()
                    .filter(|p| p.state == "OPEN" && p.head_ref_oid == h.commit.oid)
                    .map(|p| (p.number, Some(p.base_ref_name.clone())))
                    .collect()
            });
            (Some((h.commit.oid, pushed)), Some(statuses), head_pulls)
        }
        // The last commit listed is not the head the pull request names: ask REST.
        _ => (None, None, None),
    };
    let files = w.files.and_then(|f| {
        // GraphQL gives no previous path of a renamed file: a rename is read through REST.
        let whole = f.page_info.ends() && f.total_count as usize == f.nodes.len();
        let renamed = f.nodes.iter().any(|n| n.change_type == "RENAMED");
        (whole && !renamed).then(|| ChangedFiles {
            paths: f.nodes.into_iter().map(|n| n.path).collect(),
            complete: true,
        })
    });
    let assignees =
        (w.assignees.page_info.ends()).then(|| w.assignees.nodes.iter().map(Who::user).collect());
    let repo_labels = (data.repository.labels.page_info.ends()).then(|| {
        data.repository
            .labels
            .nodes
            .into_iter()
            .map(|l| (l.name, l.id))
            .collect()
    });
    Ok(GqlSnapshot {
        change,
        history,
        reviews: if is_pr { reviews } else { Some(vec![]) },
        commit_authors: if is_pr { commit_authors } else { Some(vec![]) },
        head,
        statuses,
        head_pulls,
        files: if is_pr {
            files
        } else {
            Some(ChangedFiles::none())
        },
        assignees,
        repo_labels,
        rate: data.rate_limit,
    })
}

/// The label history with its label node ids; `None` when older events were not read (REST
/// then reads the history with its own rules for long ones).
fn history(t: &WTimeline) -> Result<Option<crate::model::History>, GqlError> {
    if !t.page_info.starts() {
        return Ok(None);
    }
    let mut labels = vec![];
    let mut ids = vec![];
    let mut edited = vec![];
    let mut retargeted_at = None;
    for e in &t.nodes {
        match e.typename.as_str() {
            "LabeledEvent" | "UnlabeledEvent" => {
                let Some(label) = &e.label else {
                    return Err(GqlError::Partial("a label event without its label".into()));
                };
                labels.push(LabelEvent {
                    label: Label::new(&label.name),
                    added: e.typename == "LabeledEvent",
                    actor: who(&e.actor),
                    at: time(&e.created_at),
                });
                ids.push(Some(label.id.clone()));
                edited.push(label.updated_at.as_deref().and_then(time));
            }
            "BaseRefChangedEvent" => retargeted_at = retargeted_at.max(time(&e.created_at)),
            "HeadRefForcePushedEvent" => {}
            other => return Err(GqlError::Partial(format!("an unasked event {other}"))),
        }
    }
    Ok(Some(crate::model::History {
        labels,
        retargeted_at,
        gaps: vec![],
        label_ids: vec![],
        label_node_ids: ids,
        label_node_edited_at: edited,
    }))
}

/// Each reviewer's latest decisive review; approvals among them stand (as REST reads them).
fn standing(reviews: Vec<WReview>) -> Vec<Review> {
    let mut latest: Vec<(User, WReview)> = vec![];
    for r in reviews {
        if !matches!(
            r.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            continue;
        }
        let user = who(&r.author);
        latest.retain(|(u, _)| u.same_as(&user) != Some(true));
        latest.push((user, r));
    }
    latest
        .into_iter()
        .filter(|(_, r)| r.state == "APPROVED")
        .map(|(user, r)| Review {
            reviewer: user,
            approved: true,
            commit_sha: r.commit.map(|c| c.oid),
            submitted_at: r.submitted_at.as_deref().and_then(time),
        })
        .collect()
}

/// The accounts that authored or committed the commits (not `web-flow`, GitHub's web editor).
fn authors(commits: &[WCommitNode]) -> Vec<User> {
    let mut out: Vec<User> = vec![];
    for u in commits
        .iter()
        .flat_map(|c| [&c.commit.author, &c.commit.committer])
        .flatten()
        .filter_map(|a| a.user.as_ref())
        .map(Who::user)
    {
        let web_flow = u.username.as_deref() == Some("web-flow");
        if !web_flow && !out.iter().any(|o| o.same_as(&u) == Some(true)) {
            out.push(u);
        }
    }
    out
}
