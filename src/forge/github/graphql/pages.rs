//! Connections of the snapshot past 100 items, paged with their cursors: one query per page
//! of one connection (`after`; the label timeline, read newest first, `before`), each checked
//! against the schema as the snapshot query is. Pure: the queries, which page is next, and
//! the merging of a page's answer into the snapshot's. A page answer with `errors` or a null
//! where its connection should be fails the whole snapshot. A connection still longer after
//! [`MAX_PAGES`] pages is left to REST, which applies its own rules to long listings.

use super::GqlError;
use crate::forge::{ForgeError, MAX_PAGES};
use crate::model::Repo;
use serde_json::Value;

/// A connection of the snapshot that pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    RepoLabels,
    Labels,
    Assignees,
    Timeline,
    Reviews,
    Commits,
    Files,
}

const WHO: &str = "fragment Who on Actor { __typename login ... on User { databaseId } ... on Bot { databaseId } }";
const RATE: &str = "rateLimit { cost limit remaining resetAt }";

impl Part {
    const ALL: [Part; 7] = [
        Part::RepoLabels,
        Part::Labels,
        Part::Assignees,
        Part::Timeline,
        Part::Reviews,
        Part::Commits,
        Part::Files,
    ];

    /// Where the connection is in an answer (the snapshot's and the page query's alike).
    fn pointer(self) -> &'static str {
        match self {
            Part::RepoLabels => "/data/repository/labels",
            Part::Labels => "/data/repository/issueOrPullRequest/labels",
            Part::Assignees => "/data/repository/issueOrPullRequest/assignees",
            Part::Timeline => "/data/repository/issueOrPullRequest/timelineItems",
            Part::Reviews => "/data/repository/issueOrPullRequest/reviews",
            Part::Commits => "/data/repository/issueOrPullRequest/commits",
            Part::Files => "/data/repository/issueOrPullRequest/files",
        }
    }

    /// The timeline is read from its newest end, as REST reads a long history.
    fn backward(self) -> bool {
        self == Part::Timeline
    }

    /// The query for one page after (or, for the timeline, before) `$cursor`.
    pub fn query(self) -> String {
        let change = |name: &str, issue: Option<&str>, pull: &str| {
            let on_issue = issue
                .map(|f| format!("... on Issue {{ {f} }} "))
                .unwrap_or_default();
            format!(
                "query ChangegatePage{name}($owner: String!, $name: String!, $number: Int!, $cursor: String!) {{ {RATE} repository(owner: $owner, name: $name) {{ issueOrPullRequest(number: $number) {{ __typename {on_issue}... on PullRequest {{ {pull} }} }} }} }}"
            )
        };
        let labels = "labels(first: 100, after: $cursor) { pageInfo { hasNextPage endCursor } nodes { id name } }";
        let assignees = "assignees(first: 100, after: $cursor) { pageInfo { hasNextPage endCursor } nodes { login databaseId } }";
        match self {
            Part::RepoLabels => format!(
                "query ChangegatePageRepoLabels($owner: String!, $name: String!, $cursor: String!) {{ {RATE} repository(owner: $owner, name: $name) {{ {labels} }} }}"
            ),
            Part::Labels => change("Labels", Some(labels), labels),
            Part::Assignees => change("Assignees", Some(assignees), assignees),
            Part::Timeline => {
                let label = "... on LabeledEvent { createdAt actor { ...Who } label { id name updatedAt } } ... on UnlabeledEvent { createdAt actor { ...Who } label { id name updatedAt } }";
                let page = "pageInfo { hasPreviousPage startCursor }";
                let issue = format!(
                    "timelineItems(last: 100, before: $cursor, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {{ {page} nodes {{ __typename {label} }} }}"
                );
                let pull = format!(
                    "timelineItems(last: 100, before: $cursor, itemTypes: [LABELED_EVENT, UNLABELED_EVENT, BASE_REF_CHANGED_EVENT, HEAD_REF_FORCE_PUSHED_EVENT]) {{ {page} nodes {{ __typename {label} ... on BaseRefChangedEvent {{ createdAt actor {{ ...Who }} }} ... on HeadRefForcePushedEvent {{ createdAt actor {{ ...Who }} afterCommit {{ oid }} }} }} }}"
                );
                format!("{} {WHO}", change("Timeline", Some(&issue), &pull))
            }
            Part::Reviews => format!(
                "{} {WHO}",
                change(
                    "Reviews",
                    None,
                    "reviews(first: 100, after: $cursor) { pageInfo { hasNextPage endCursor } nodes { state submittedAt author { ...Who } commit { oid } } }"
                )
            ),
            Part::Commits => change(
                "Commits",
                None,
                "commits(first: 100, after: $cursor) { totalCount pageInfo { hasNextPage endCursor } nodes { commit { oid author { user { login databaseId } } committer { user { login databaseId } } } } }",
            ),
            Part::Files => change(
                "Files",
                None,
                "files(first: 100, after: $cursor) { totalCount pageInfo { hasNextPage endCursor } nodes { path changeType } }",
            ),
        }
    }
}

/// Every page query, by name (the schema test validates each).
pub static PAGE_QUERIES: std::sync::LazyLock<Vec<(String, String)>> =
    std::sync::LazyLock::new(|| {
        Part::ALL
            .iter()
            .map(|p| (format!("page of {p:?}"), p.query()))
            .collect()
    });

/// The variables of `part`'s page query for change `number` of `repo` at `cursor`.
pub fn page_variables(
    repo: &Repo,
    number: u64,
    part: Part,
    cursor: &str,
) -> Result<Value, ForgeError> {
    let mut v = super::variables(repo, number)?;
    if let Some(o) = v.as_object_mut() {
        if part == Part::RepoLabels {
            // A variable the query does not declare is refused.
            o.remove("number");
        }
        o.insert("cursor".into(), cursor.into());
    }
    Ok(v)
}

/// A snapshot answer being completed page by page.
#[derive(Debug)]
pub struct Pending {
    raw: Value,
    /// Pages read per connection, the snapshot's own included.
    pages: Vec<(Part, u32)>,
}

/// Classifies an answer's `errors` (any fails it: see [`GqlError`]).
pub(super) fn refused(raw: &Value) -> Option<GqlError> {
    let errors = raw.get("errors")?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    let text: String = Value::Array(errors.clone())
        .to_string()
        .chars()
        .take(300)
        .collect();
    // A schema without a field or type the query names answers these (GHES before it).
    let schema = errors.iter().all(|e| {
        let code = e.pointer("/extensions/code").and_then(|c| c.as_str());
        let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
        matches!(
            code,
            Some("undefinedField" | "undefinedType" | "argumentNotAccepted")
        ) || (code.is_none()
            && message.starts_with("Field '")
            && message.contains("' doesn't exist on type '"))
    });
    let missing = errors.iter().all(|e| {
        e.get("type").and_then(|t| t.as_str()) == Some("NOT_FOUND")
            && e.pointer("/path/1").and_then(|p| p.as_str()) == Some("issueOrPullRequest")
    });
    Some(if schema {
        GqlError::Unavailable(text)
    } else if missing {
        GqlError::NotFound
    } else {
        GqlError::Partial(text)
    })
}

/// The snapshot query's answer, not yet complete: refused at once when it has errors.
pub fn begin(body: &[u8]) -> Result<Pending, GqlError> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| GqlError::Partial(format!("not JSON: {e}")))?;
    if let Some(e) = refused(&raw) {
        return Err(e);
    }
    Ok(Pending {
        raw,
        pages: Part::ALL.iter().map(|p| (*p, 1)).collect(),
    })
}

/// The cursor of `part`'s next page in connection `conn`, `None` when it has no more. A page
/// info without the flag of the direction asked, or with more pages and no cursor, is refused:
/// never read as a whole connection.
fn cursor_of(conn: &Value, part: Part) -> Result<Option<String>, GqlError> {
    let (more, cursor) = if part.backward() {
        ("hasPreviousPage", "startCursor")
    } else {
        ("hasNextPage", "endCursor")
    };
    let info = conn.get("pageInfo").filter(|i| i.is_object());
    let Some(flag) = info.and_then(|i| i.get(more)).and_then(Value::as_bool) else {
        return Err(GqlError::Partial(format!(
            "{part:?} without pageInfo.{more}"
        )));
    };
    if !flag {
        return Ok(None);
    }
    match info.and_then(|i| i.get(cursor)).and_then(Value::as_str) {
        Some(c) => Ok(Some(c.to_string())),
        None => Err(GqlError::Partial(format!(
            "{part:?} with more pages and no {cursor}"
        ))),
    }
}

impl Pending {
    /// The next page to read: a connection with more items, a cursor, and pages left.
    /// A connection that is not there (null, or not asked of this kind of change) is judged
    /// when the snapshot is read.
    pub fn next(&self) -> Result<Option<(Part, String)>, GqlError> {
        let mut next = None;
        for (part, read) in &self.pages {
            let Some(conn) = self.raw.pointer(part.pointer()).filter(|c| c.is_object()) else {
                continue;
            };
            // Every connection's page info is checked, not only up to the first to page.
            let cursor = cursor_of(conn, *part)?;
            if let (None, Some(cursor), true) = (&next, cursor, *read < MAX_PAGES) {
                next = Some((*part, cursor));
            }
        }
        Ok(next)
    }

    /// Adds a page of `part` (the answer to its page query): its items join the connection's,
    /// its page info replaces the connection's. Returns the rate limit the answer states.
    pub fn add(&mut self, part: Part, body: &[u8]) -> Result<Option<super::RateLimit>, GqlError> {
        let raw: Value = serde_json::from_slice(body)
            .map_err(|e| GqlError::Partial(format!("a page, not JSON: {e}")))?;
        if let Some(e) = refused(&raw) {
            // The snapshot's own query was answered: a page is never "no such change".
            return Err(match e {
                GqlError::NotFound => GqlError::Partial("a page of a change not found".into()),
                other => other,
            });
        }
        let page = raw
            .pointer(part.pointer())
            .filter(|c| c.is_object())
            .ok_or_else(|| GqlError::Partial(format!("a page of {part:?} without it")))?;
        let (Some(info), Some(items)) = (
            page.get("pageInfo").filter(|i| i.is_object()),
            page.get("nodes").and_then(Value::as_array),
        ) else {
            return Err(GqlError::Partial(format!("a page of {part:?} with nulls")));
        };
        cursor_of(page, part)?;
        let conn = self
            .raw
            .pointer_mut(part.pointer())
            .and_then(Value::as_object_mut)
            .ok_or_else(|| GqlError::Partial(format!("{part:?} paged without a first page")))?;
        let nodes = conn
            .get_mut("nodes")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| GqlError::Partial(format!("{part:?} without its nodes")))?;
        if part.backward() {
            let mut all = items.clone();
            all.append(nodes);
            *nodes = all;
        } else {
            nodes.extend(items.iter().cloned());
        }
        conn.insert("pageInfo".into(), info.clone());
        if let Some(n) = self.pages.iter_mut().find(|(p, _)| *p == part) {
            n.1 = n.1.saturating_add(1);
        }
        Ok(raw
            .pointer("/data/rateLimit")
            .and_then(|r| serde_json::from_value(r.clone()).ok()))
    }

    /// The rate limit the snapshot query's answer states.
    pub fn rate(&self) -> Option<super::RateLimit> {
        self.raw
            .pointer("/data/rateLimit")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
    }

    /// The snapshot, with what was paged (a connection still unread to its end is left to
    /// REST, as an unpaged one is).
    pub fn finish(self, repo: &Repo) -> Result<super::GqlSnapshot, GqlError> {
        super::read::from_value(repo, self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(reviews: Value, timeline: Value) -> Vec<u8> {
        let conn = |more: &str, cursor: &str| json!({ more: true, cursor: "c1" });
        let mut v = json!({ "data": { "repository": { "labels": { "pageInfo": { "hasNextPage": false }, "nodes": [] },
            "issueOrPullRequest": { "reviews": { "pageInfo": conn("hasNextPage", "endCursor"), "nodes": reviews },
                                    "timelineItems": { "pageInfo": conn("hasPreviousPage", "startCursor"), "nodes": timeline } } } } });
        v["data"]["rateLimit"] = json!({ "cost": 1, "limit": 5000, "remaining": 4999, "resetAt": "2026-01-01T01:00:00Z" });
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn pages_join_their_connection_in_order() {
        let mut p = begin(&answer(json!([1]), json!([3]))).unwrap();
        assert_eq!(p.next().unwrap(), Some((Part::Timeline, "c1".into())));
        let older = json!({ "data": { "repository": { "issueOrPullRequest": { "timelineItems":
            { "pageInfo": { "hasPreviousPage": false, "startCursor": "c0" }, "nodes": [2] } } } } });
        p.add(Part::Timeline, &serde_json::to_vec(&older).unwrap())
            .unwrap();
        assert_eq!(p.next().unwrap(), Some((Part::Reviews, "c1".into())));
        let later = json!({ "data": { "repository": { "issueOrPullRequest": { "reviews":
            { "pageInfo": { "hasNextPage": false, "endCursor": "c2" }, "nodes": [4] } } } } });
        p.add(Part::Reviews, &serde_json::to_vec(&later).unwrap())
            .unwrap();
        assert_eq!(p.next().unwrap(), None);
        let at = |ptr: &str| p.raw.pointer(ptr).cloned().unwrap();
        assert_eq!(
            at("/data/repository/issueOrPullRequest/timelineItems/nodes"),
            json!([2, 3])
        );
        assert_eq!(
            at("/data/repository/issueOrPullRequest/reviews/nodes"),
            json!([1, 4])
        );
    }

    #[test]
    fn a_page_with_an_error_or_a_null_is_refused() {
        let mut p = begin(&answer(json!([1]), json!([]))).unwrap();
        let null =
            json!({ "data": { "repository": { "issueOrPullRequest": { "reviews": null } } } });
        let error = json!({ "data": null, "errors": [{ "type": "NOT_FOUND", "path": ["repository", "issueOrPullRequest"] }] });
        for bad in [null, error] {
            let got = p.add(Part::Reviews, &serde_json::to_vec(&bad).unwrap());
            assert!(matches!(got, Err(GqlError::Partial(_))), "{bad}: {got:?}");
        }
    }

    #[test]
    fn a_page_info_without_its_flag_or_cursor_is_never_whole() {
        let no_flag = json!({ "data": { "repository": { "issueOrPullRequest": { "timelineItems":
            { "pageInfo": { "startCursor": "c0" }, "nodes": [2] } } } } });
        let no_cursor = json!({ "data": { "repository": { "issueOrPullRequest": { "timelineItems":
            { "pageInfo": { "hasPreviousPage": true, "startCursor": null }, "nodes": [2] } } } } });
        let wrong_way = json!({ "data": { "repository": { "issueOrPullRequest": { "timelineItems":
            { "pageInfo": { "hasNextPage": false }, "nodes": [2] } } } } });
        for bad in [no_flag, no_cursor, wrong_way] {
            let mut p = begin(&answer(json!([1]), json!([3]))).unwrap();
            let got = p.add(Part::Timeline, &serde_json::to_vec(&bad).unwrap());
            assert!(matches!(got, Err(GqlError::Partial(_))), "{bad}: {got:?}");
        }
        // The first answer too: a connection without its page flag is not whole.
        let mut v: Value = serde_json::from_slice(&answer(json!([1]), json!([3]))).unwrap();
        v["data"]["repository"]["issueOrPullRequest"]["reviews"]["pageInfo"] = json!({});
        let p = begin(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(matches!(p.next(), Err(GqlError::Partial(_))));
    }

    #[test]
    fn a_connection_is_paged_no_further_than_rest_reads() {
        let mut p = begin(&answer(json!([1]), json!([]))).unwrap();
        p.pages.iter_mut().for_each(|(_, n)| *n = MAX_PAGES);
        assert_eq!(
            p.next().unwrap(),
            None,
            "left to REST, which blocks when too long"
        );
    }

    #[test]
    fn an_older_schema_is_told_by_code_or_message() {
        let by_message = json!({ "errors": [{ "message": "Field 'isDraft' doesn't exist on type 'PullRequest'" }] });
        let other = json!({ "errors": [{ "message": "Something went wrong" }] });
        assert!(matches!(
            refused(&by_message),
            Some(GqlError::Unavailable(_))
        ));
        assert!(matches!(refused(&other), Some(GqlError::Partial(_))));
    }
}
