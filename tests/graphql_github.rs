//! GitHub reads through one GraphQL query per evaluation, on the fake GitHub: the verdicts are
//! the REST path's, partial answers (errors with data, a null subtree, SAML enforcement) fail
//! the whole snapshot and REST reads the change instead, a GitHub without the endpoint or with
//! an older schema is read through REST at once, and a renamed label does not bring the
//! approvals given under its old name.

mod common;

use common::github_setup::*;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

const GRAPHQL: &str = "POST /graphql";

/// The REST reads of a snapshot GraphQL gives (the change, its history, reviews, commits).
fn snapshot_reads(s: &Setup) -> Vec<String> {
    s.gh.calls()
        .into_iter()
        .filter(|c| {
            c.starts_with("GET /repos/acme/platypus/pulls/7")
                || c.starts_with("GET /repos/acme/platypus/issues/7/events")
                || c.contains("/check-suites")
        })
        .collect()
}

fn graphql_calls(s: &Setup) -> usize {
    s.gh.calls().iter().filter(|c| *c == GRAPHQL).count()
}

/// A repository changegate first saw (and recorded the labels of) before the test's events.
async fn with_graphql() -> Setup {
    recorded(true).await
}

/// [`with_graphql`], the approval labels existing when changegate first saw the repository
/// if `approval_labels`.
async fn recorded(approval_labels: bool) -> Setup {
    let s = at("2026-11-02T10:00:00Z").await;
    s.gh.enable_graphql();
    let existing = if approval_labels { 2 } else { 0 };
    for (id, name) in [
        ("LA_bt", "BT Integration Manager::Approved"),
        ("LA_peer", "Peer Approval::Approved"),
    ]
    .into_iter()
    .take(existing)
    {
        s.gh.state
            .lock()
            .unwrap()
            .label_nodes
            .push((id.into(), name.into()));
    }
    s.gh.add_label(7, "team::docs", "alice");
    s.deliver("labeled", Some("team::docs"), "alice", "d0")
        .await;
    move_to(&s, "2026-11-02T10:05:00Z").await;
    s.gh.clear_calls();
    s
}

/// A repository changegate sees for the first time.
async fn fresh() -> Setup {
    let s = setup().await;
    s.gh.enable_graphql();
    s
}

#[tokio::test]
async fn the_approval_matrix_is_judged_from_one_query() {
    type Row<'a> = (Vec<(&'a str, &'a str)>, &'a str);
    let rows: Vec<Row> = vec![
        (vec![("CMT::Minor", "alice")], "failure"),
        (
            vec![
                ("CMT::Minor", "alice"),
                ("BT Integration Manager::Approved", "mona"),
            ],
            "success",
        ),
        (
            vec![
                ("CMT::Standard", "alice"),
                ("Peer Approval::Approved", "peter"),
            ],
            "failure",
        ),
        (
            vec![
                ("CMT::Standard", "alice"),
                ("Peer Approval::Approved", "pam"),
                ("BT Integration Manager::Approved", "mona"),
            ],
            "success",
        ),
        // The author cannot approve her own change.
        (
            vec![
                ("CMT::Minor", "alice"),
                ("BT Integration Manager::Approved", "alice"),
            ],
            "failure",
        ),
    ];
    for (labels, expected) in rows {
        let s = with_graphql().await;
        let before = s.gh.graphql_queries();
        for (l, who) in &labels {
            s.gh.add_label(7, l, who);
        }
        let (last, who) = labels[labels.len() - 1];
        s.deliver("labeled", Some(last), who, "d").await;
        assert_eq!(s.gh.status(H1).expect("a status").0, expected, "{labels:?}");
        assert_eq!(
            snapshot_reads(&s),
            Vec::<String>::new(),
            "{labels:?}: the snapshot came from GraphQL"
        );
        // The snapshot, and the approvers' memberships when someone approved.
        let approvals = labels
            .iter()
            .filter(|(l, _)| l.ends_with("::Approved"))
            .count();
        assert_eq!(
            s.gh.graphql_queries() - before,
            1 + u64::from(approvals > 0),
            "{labels:?}"
        );
        assert!(
            !s.gh.calls().iter().any(|c| c.contains("/memberships/")),
            "{labels:?}: memberships through the members query"
        );
    }
}

/// A GraphQL answer the fake GitHub sends once instead of its own.
fn answer_once(s: &Setup, body: Value) {
    s.gh.fail_next(GRAPHQL, ResponseTemplate::new(200).set_body_json(body));
}

/// A passing change: a minor change approved by an integration manager.
fn approved(s: &Setup) {
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "mona");
}

async fn deliver(s: &Setup, delivery: &str) {
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "mona",
        delivery,
    )
    .await;
}

/// Errors next to data (an item of the timeline GitHub would not give: the shape of
/// jasperapp/jasper#187): the whole answer is refused, asked again, and the second answer
/// stands.
#[tokio::test]
async fn errors_with_data_fail_the_whole_snapshot_and_it_is_asked_again() {
    let s = with_graphql().await;
    approved(&s);
    answer_once(
        &s,
        json!({
            "data": { "rateLimit": { "cost": 1, "limit": 5000, "remaining": 4999, "resetAt": "2026-01-01T01:00:00Z" },
                      "repository": { "labels": { "pageInfo": { "hasNextPage": false }, "nodes": [] }, "issueOrPullRequest": null } },
            "errors": [{ "type": "FORBIDDEN", "path": ["repository", "issueOrPullRequest", "timelineItems", "nodes", 1],
                         "extensions": { "saml_failure": true }, "locations": [{ "line": 12, "column": 7 }],
                         "message": "Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization." }]
        }),
    );
    deliver(&s, "d1").await;
    // The refused snapshot, the one asked again, and mona's membership.
    assert_eq!(graphql_calls(&s), 3, "{:#?}", s.gh.calls());
    assert_eq!(snapshot_reads(&s), Vec::<String>::new());
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
}

/// SAML enforcement on the repository, twice (the shape of fwouts/prmonitor#1042): the change
/// is read through REST, and judged as REST reads it — never "no history".
#[tokio::test]
async fn saml_enforcement_reads_the_change_through_rest() {
    let s = with_graphql().await;
    approved(&s);
    let saml = json!({
        "data": { "repository": null },
        "errors": [{ "type": "FORBIDDEN", "path": ["repository"], "extensions": { "saml_failure": true },
                     "locations": [{ "line": 3, "column": 3 }],
                     "message": "Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization." }]
    });
    answer_once(&s, saml.clone());
    answer_once(&s, saml);
    deliver(&s, "d1").await;
    // Two refused snapshots, and mona's membership (a query of its own).
    assert_eq!(graphql_calls(&s), 3);
    let reads = snapshot_reads(&s);
    assert!(
        reads.contains(&"GET /repos/acme/platypus/pulls/7".to_string())
            && reads.contains(&"GET /repos/acme/platypus/issues/7/events".to_string()),
        "{reads:#?}"
    );
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    // Not remembered as unavailable: the next evaluation asks GraphQL again.
    s.gh.clear_calls();
    deliver(&s, "d2").await;
    assert_eq!(graphql_calls(&s), 1);
    assert_eq!(snapshot_reads(&s), Vec::<String>::new());
}

/// A null where the snapshot needs data, without any error (a subtree cut, a timeout): the
/// answer is refused whole; the label history is never read as empty.
#[tokio::test]
async fn a_null_subtree_is_never_an_empty_history() {
    let s = with_graphql().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "alice");
    // What the fake would answer, with the timeline cut to null.
    let mut cut = snapshot_answer(&s).await;
    cut["data"]["repository"]["issueOrPullRequest"]["timelineItems"] = Value::Null;
    answer_once(&s, cut.clone());
    answer_once(&s, cut);
    deliver(&s, "d1").await;
    assert!(
        snapshot_reads(&s).contains(&"GET /repos/acme/platypus/issues/7/events".to_string()),
        "{:#?}",
        s.gh.calls()
    );
    // The author's own approval, seen in the history REST read: no pass.
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
}

/// The fake's own answer to the snapshot query, as it stands now.
async fn snapshot_answer(s: &Setup) -> Value {
    let body = json!({
        "query": changegate::forge::github::graphql::SNAPSHOT_QUERY,
        "variables": { "owner": "acme", "name": "platypus", "number": 7 },
    });
    let answer = reqwest::Client::new()
        .post(format!("{}/graphql", s.gh.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // That read is not the bot's.
    let mut st = s.gh.state.lock().unwrap();
    st.calls.pop();
    st.times.pop();
    st.auth.pop();
    st.graphql_queries -= 1;
    answer
}

/// A GitHub without the GraphQL endpoint (404): REST at once, and not asked again.
#[tokio::test]
async fn without_the_endpoint_rest_reads_at_once_and_it_is_remembered() {
    let s = setup().await;
    approved(&s);
    deliver(&s, "d1").await;
    assert_eq!(graphql_calls(&s), 1);
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    s.gh.clear_calls();
    s.gh.set_title(7, "Change, retitled");
    deliver(&s, "d2").await;
    assert_eq!(graphql_calls(&s), 0, "{:#?}", s.gh.calls());
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
}

/// An older GitHub Enterprise Server whose schema lacks a field the query names: REST, and
/// not asked again for a while.
#[tokio::test]
async fn an_older_schema_without_a_field_reads_rest_and_is_remembered() {
    let s = with_graphql().await;
    approved(&s);
    answer_once(
        &s,
        json!({ "errors": [{ "path": ["query ChangegateSnapshot", "repository", "issueOrPullRequest", "... on PullRequest", "timelineItems"],
                             "extensions": { "code": "undefinedField", "typeName": "PullRequest", "fieldName": "timelineItems" },
                             "locations": [{ "line": 30, "column": 9 }],
                             "message": "Field 'timelineItems' doesn't exist on type 'PullRequest'" }] }),
    );
    deliver(&s, "d1").await;
    assert_eq!(graphql_calls(&s), 1);
    assert!(snapshot_reads(&s).contains(&"GET /repos/acme/platypus/pulls/7".to_string()));
    assert_eq!(s.gh.status(H1).unwrap().0, "success");
    s.gh.clear_calls();
    s.gh.set_title(7, "Change, retitled");
    deliver(&s, "d2").await;
    assert_eq!(graphql_calls(&s), 0);
}

/// The rename attack: mona applied an unrelated label changegate saw; an admin renames it to
/// the approval label. GraphQL shows that old application under the new name; counted by the
/// label's node id, it approves nothing.
#[tokio::test]
async fn a_label_renamed_into_the_approval_label_does_not_approve() {
    const APPROVED: &str = "BT Integration Manager::Approved";
    let s = fresh().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "team::infra", "mona");
    s.deliver("labeled", Some("team::infra"), "mona", "d1")
        .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    s.gh.rename_label("team::infra", APPROVED);
    assert!(s.gh.labels(7).contains(&APPROVED.to_string()));
    s.deliver("edited", None, "alice", "d2").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    let c = s.comment();
    assert!(
        c.contains("was `team::infra` when changegate first saw it")
            && c.contains("renamed `BT Integration Manager::Approved` since"),
        "{c}"
    );
    // Applied again as itself, the approval counts.
    s.gh.remove_label(7, APPROVED, "alice");
    s.gh.rename_label(APPROVED, "team::infra");
    s.gh.add_label(7, APPROVED, "mona");
    s.deliver("labeled", Some(APPROVED), "mona", "d3").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success", "{}", s.comment());
}

/// A label changegate never saw under its old name takes the approval label's name after the
/// real one was renamed away: the real one's node id was remembered with the repository's
/// labels, so the impostor does not approve.
#[tokio::test]
async fn another_label_given_the_approval_labels_name_does_not_approve() {
    const APPROVED: &str = "BT Integration Manager::Approved";
    let s = fresh().await;
    // The repository has the real approval label when changegate first sees it.
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "team::infra", "mona");
    s.gh.state
        .lock()
        .unwrap()
        .label_nodes
        .push(("LA_real".into(), APPROVED.into()));
    s.deliver("labeled", Some("team::infra"), "mona", "d1")
        .await;
    s.gh.state
        .lock()
        .unwrap()
        .label_nodes
        .retain(|(id, _)| id != "LA_real");

    s.gh.rename_label("team::infra", APPROVED);
    s.deliver("edited", None, "alice", "d2").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure");
    assert!(
        s.comment().contains(
            "but changegate first saw `BT Integration Manager::Approved` as label id LA_real"
        ),
        "{}",
        s.comment()
    );
}

/// `members(query:)` is a search: asked about `bob`, GitHub also lists `bobby`. Only the exact
/// account id makes a member; bob, not in the team, does not approve.
#[tokio::test]
async fn a_member_search_finding_bobby_does_not_make_bob_a_member() {
    let s = with_graphql().await;
    s.gh.member("bt-integration-managers", "bobby");
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "bob");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "bob",
        "d1",
    )
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure", "{}", s.comment());
    let rest_memberships =
        s.gh.calls()
            .into_iter()
            .filter(|c| c.contains("/memberships/"))
            .count();
    assert_eq!(rest_memberships, 0, "answered by the members query");
    // bobby himself is a member.
    s.gh.remove_label(7, "BT Integration Manager::Approved", "alice");
    s.gh.add_label(7, "BT Integration Manager::Approved", "bobby");
    s.deliver(
        "labeled",
        Some("BT Integration Manager::Approved"),
        "bobby",
        "d2",
    )
    .await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success", "{}", s.comment());
}

/// The first-run rename attack: mona applied the harmless `docs`; the author renames the real
/// approval label away and `docs` to the approval label's name before changegate ever saw the
/// repository. GraphQL shows mona's `docs` as an approval, and the labels recorded on this first
/// run carry the new names: the history is read through REST, which keeps names as applied.
#[tokio::test]
async fn a_rename_before_the_first_run_does_not_approve() {
    const APPROVED: &str = "BT Integration Manager::Approved";
    let s = fresh().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "docs", "mona");
    s.gh.rename_label(APPROVED, "old");
    s.gh.rename_label("docs", APPROVED);
    s.deliver("edited", None, "alice", "d1").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure", "{}", s.comment());
    assert!(
        s.gh.calls()
            .iter()
            .any(|c| c.starts_with("GET /repos/acme/platypus/issues/7/events")),
        "the names as applied were read"
    );
}

/// A governed label first recorded after it was applied (its name then unknown): not counted
/// through GraphQL; an application after the recording is.
#[tokio::test]
async fn an_application_before_the_label_was_recorded_is_read_through_rest() {
    const APPROVED: &str = "BT Integration Manager::Approved";
    let s = recorded(false).await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.add_label(7, "docs", "mona");
    s.gh.rename_label("docs", APPROVED);
    s.deliver("edited", None, "alice", "d1").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure", "{}", s.comment());
    // Applied again as itself after changegate recorded it, the approval counts from GraphQL.
    move_to(&s, "2026-11-02T10:30:00Z").await;
    s.gh.remove_label(7, APPROVED, "alice");
    s.gh.add_label(7, APPROVED, "mona");
    s.gh.clear_calls();
    s.deliver("labeled", Some(APPROVED), "mona", "d2").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "success", "{}", s.comment());
    assert_eq!(snapshot_reads(&s), Vec::<String>::new());
}

/// Renamed away and back: the approval label, recorded by its name, is renamed to `docs`, mona
/// applies `docs`, and it is renamed back. GraphQL shows mona's application under the name the
/// label has now; the label was edited after changegate recorded it, so its applications are
/// read as applied (REST), and `docs` approves nothing.
#[tokio::test]
async fn a_label_renamed_away_and_back_does_not_approve_what_was_applied_meanwhile() {
    const APPROVED: &str = "BT Integration Manager::Approved";
    let s = with_graphql().await;
    s.gh.add_label(7, "CMT::Minor", "alice");
    s.gh.rename_label(APPROVED, "docs");
    s.gh.add_label(7, "docs", "mona");
    s.gh.rename_label("docs", APPROVED);
    assert!(s.gh.labels(7).contains(&APPROVED.to_string()));
    s.deliver("edited", None, "alice", "d1").await;
    assert_eq!(s.gh.status(H1).unwrap().0, "failure", "{}", s.comment());
    assert!(
        s.gh.calls()
            .iter()
            .any(|c| c.starts_with("GET /repos/acme/platypus/issues/7/events")),
        "the names as applied were read"
    );
}
