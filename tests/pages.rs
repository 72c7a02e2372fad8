//! The details page behind every status and the audit page, in process: the status carries a
//! signed link; the page shows the approvals and escapes forge text; a wrong, foreign or
//! expired token gets the same 404; the audit page needs its token, filters, and downloads.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use changegate::clock::Clock;
use changegate::pages::{PagesState, links::Links, router};
use common::github_setup::{H1, Setup, setup_with};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

const PUBLIC: &str = "http://changegate.test";

async fn with_pages() -> (Setup, axum::Router) {
    let clock = Clock::manual(
        chrono::DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let mut s = setup_with(clock).await;
    let links = Arc::new(Links::new(b"test-key".to_vec(), 90, PUBLIC));
    s.app.worker.links = Some(links.clone());
    let pages = router(PagesState {
        store: s.app.store.clone(),
        links,
        audit_token: Some(Arc::new("audit-secret".to_string().into())),
        classification: "CMT".into(),
    });
    (s, pages)
}

async fn get(
    router: &axum::Router,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let csp = resp
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), csp)
}

#[tokio::test]
async fn the_status_links_to_a_details_page_that_shows_the_approvals_and_escapes_forge_text() {
    let (s, pages) = with_pages().await;
    s.gh.set_title(7, "Fix <script>alert('x')</script> & more");
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("alice", "Peer Approval::Approved").await;
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    assert_eq!(s.status_of(H1).0, "success");
    let link =
        s.gh.status_link(H1)
            .expect("the status links to its details page");
    let path = link.strip_prefix(PUBLIC).expect("under server.public_url");
    assert!(
        path.starts_with("/changes/github/acme/platypus/merge_request/7?token="),
        "{path}"
    );
    let (status, html, csp) = get(&pages, path, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(csp.unwrap().contains("default-src 'none'"));
    assert!(
        html.contains("Fix &#60;script&#62;") || html.contains("Fix &lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("@peter") && html.contains("@mona"), "{html}");
    assert!(html.contains("Ready to merge"));
    // The author's approval that did not count, and why.
    assert!(html.contains("is the author of this change"), "{html}");
    assert!(html.contains("Decision history"));

    // A tampered, foreign or expired token: the same 404 as a change that does not exist.
    let (token_path, token) = path.split_once("?token=").unwrap();
    let wrong = format!("{token_path}?token={}0", &token[..token.len() - 1]);
    assert_eq!(get(&pages, &wrong, None).await.0, StatusCode::NOT_FOUND);
    let foreign = format!("/changes/github/acme/platypus/merge_request/8?token={token}");
    assert_eq!(get(&pages, &foreign, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&pages, token_path, None).await.0, StatusCode::NOT_FOUND);
    s.app.clock.advance(chrono::Duration::days(91));
    let (status, html, _) = get(&pages, path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
}

#[tokio::test]
async fn the_audit_page_needs_its_token_filters_and_downloads() {
    let (s, pages) = with_pages().await;
    s.apply_label("alice", "CMT::Minor").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s.gh.merge(7, "2026-11-02T10:30:00Z");
    s.deliver("closed", None, "alice", "merge-1").await;
    let page = "/audit/github/acme/platypus";
    let (status, _, _) = get(&pages, page, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&pages, page, Some("Bearer nope")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let bearer = Some("Bearer audit-secret");
    let (status, html, _) = get(&pages, page, bearer).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("CMT::Minor") && html.contains("manager by @mona"),
        "{html}"
    );
    // HTTP basic with the token as password works too.
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("auditor:audit-secret")
    );
    assert_eq!(get(&pages, page, Some(&basic)).await.0, StatusCode::OK);
    let (_, html, _) = get(
        &pages,
        &format!("{page}?classification=CMT::Standard"),
        bearer,
    )
    .await;
    assert!(html.contains("0 merged changes"), "{html}");
    let (_, html, _) = get(&pages, &format!("{page}?from=2026-11-03"), bearer).await;
    assert!(html.contains("0 merged changes"), "{html}");
    let (_, html, _) = get(
        &pages,
        &format!("{page}?from=2026-11-01&to=2026-11-02"),
        bearer,
    )
    .await;
    assert!(html.contains("1 merged change."), "{html}");
    let (status, csv, _) = get(&pages, &format!("{page}?format=csv"), bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("number,kind,title"), "{csv}");
    let (_, json, _) = get(&pages, &format!("{page}?format=json"), bearer).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["number"], 7);
    assert!(v[0]["chain_head"].as_str().is_some_and(|h| h.len() == 64));
}

#[tokio::test]
async fn without_an_audit_token_the_audit_pages_are_off() {
    let (s, _) = with_pages().await;
    let pages = router(PagesState {
        store: s.app.store.clone(),
        links: Arc::new(Links::new(b"k".to_vec(), 90, PUBLIC)),
        audit_token: None,
        classification: "CMT".into(),
    });
    assert_eq!(
        get(&pages, "/audit/github/acme/platypus", Some("Bearer x"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn gitlab_statuses_link_to_the_details_page_too() {
    use common::gitlab_world::{GitlabWorld, PROJECT_ID, user_id};
    use serde_json::{Value, json};
    const SHA: &str = "3333333333333333333333333333333333333333";
    let gl = GitlabWorld::start().await;
    gl.open_mr(3, "alice", SHA);
    let mut app = common::TestApp::with_forges(None, Some(&gl.url())).await;
    app.worker.links = Some(Arc::new(Links::new(b"k".to_vec(), 90, PUBLIC)));
    let path = common::corpus_dir().join("gitlab/merge_request.update.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["user"] = json!({ "id": user_id("alice"), "username": "alice", "name": "alice" });
    v["project"]["id"] = json!(PROJECT_ID);
    v["project"]["path_with_namespace"] = json!("acme/platypus");
    v["object_attributes"]["iid"] = json!(3);
    v["object_attributes"]["last_commit"]["id"] = json!(SHA);
    app.gitlab("Merge Request Hook", "g1", &serde_json::to_vec(&v).unwrap())
        .await;
    app.drain().await;
    let link = gl.status_link(SHA).expect("a target_url");
    assert!(
        link.starts_with(&format!(
            "{PUBLIC}/changes/gitlab/acme/platypus/merge_request/3?token="
        )),
        "{link}"
    );
}

#[tokio::test]
async fn a_change_merged_while_failing_is_found_shown_as_such_and_linked() {
    let (s, pages) = with_pages().await;
    s.apply_label("alice", "CMT::Minor").await;
    assert_eq!(s.status_of(H1).0, "failure");
    // Merged anyway (an admin bypassing protection), at the forge's own time.
    s.gh.merge(7, "2026-11-02T10:30:00Z");
    s.deliver("closed", None, "alice", "merge-1").await;
    let bearer = Some("Bearer audit-secret");

    // The index of repositories, behind the token.
    assert_eq!(
        get(&pages, "/audit", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, html, _) = get(&pages, "/audit", bearer).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("href=\"/audit/github/acme/platypus\""),
        "{html}"
    );

    let page = "/audit/github/acme/platypus";
    let (_, html, _) = get(&pages, &format!("{page}?failing=1"), bearer).await;
    assert!(html.contains("1 merged change."), "{html}");
    assert!(
        html.contains("2026-11-02 10:30:00 UTC"),
        "the forge's merged_at: {html}"
    );
    assert!(html.contains("class=\"hash\""), "{html}");
    // The row links to the change's details page, which says what happened.
    let link = html
        .split("href=\"")
        .map(|p| p.split('"').next().unwrap())
        .find(|h| h.contains("/changes/github/acme/platypus/merge_request/7?token="))
        .unwrap_or_else(|| panic!("{html}"))
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let path = link.strip_prefix(PUBLIC).unwrap_or(&link).to_string();
    let (status, details, _) = get(&pages, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert!(
        details.contains("Merged without its approvals"),
        "{details}"
    );
    assert!(details.contains("merged 2026-11-02 10:30 UTC"), "{details}");

    // A change that merged with its approvals is not among the failing.
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    let (_, html, _) = get(&pages, &format!("{page}?failing=1"), bearer).await;
    assert!(
        html.contains("1 merged change."),
        "decided at merge: {html}"
    );
}

#[tokio::test]
async fn the_audit_page_shows_each_decision_with_its_trigger_to_the_second_and_code_as_code() {
    let (s, pages) = with_pages().await;
    s.gh.set_title(7, "Rotate <b>keys</b>");
    s.apply_label("alice", "CMT::Standard").await;
    s.app.clock.advance(chrono::Duration::seconds(7));
    // The author's own approval: refused, with a reason naming the label in a code span.
    s.apply_label("alice", "Peer Approval::Approved").await;
    s.app.clock.advance(chrono::Duration::seconds(5));
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.gh.merge(7, "2026-11-02T10:30:00Z");
    s.deliver("closed", None, "alice", "merge-1").await;
    let (status, html, _) = get(
        &pages,
        "/audit/github/acme/platypus",
        Some("Bearer audit-secret"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    // Each decision: when to the second, the event and who caused it.
    assert!(html.contains("Decisions on #7"), "{html}");
    assert!(
        html.contains("2026-11-02 10:00:00 UTC</span> · fail · pull_request labeled by @alice"),
        "{html}"
    );
    assert!(
        html.contains("2026-11-02 10:00:12 UTC</span> · fail · pull_request labeled by @peter"),
        "{html}"
    );
    assert!(html.contains("pull_request closed by @alice"), "{html}");
    // Markdown code spans in the bot's reasons are code, escaped; never a backtick or markup.
    assert!(
        html.contains("Approvals that did not count")
            && html.contains("applied <code>Peer Approval::Approved</code> but is the author"),
        "{html}"
    );
    let body = html.split_once("<tbody>").unwrap().1;
    assert!(!body.contains('`'), "a code span left as Markdown: {body}");
    assert!(!html.contains("<b>"), "forge text became markup: {html}");
    // The records' hashes, kept on one line.
    let hash = html
        .split("record <code class=\"hash\">")
        .nth(1)
        .and_then(|rest| rest.split_once("</code>"))
        .map(|(h, _)| h.to_string())
        .expect("each decision shows its record's hash");
    assert!(
        hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{hash}"
    );
    let (_, css, _) = get(&pages, "/static/changegate.css", None).await;
    assert!(css.contains("code.hash { white-space: nowrap;"), "{css}");
    // The export carries the trigger too.
    let (_, json, _) = get(
        &pages,
        "/audit/github/acme/platypus?format=json",
        Some("Bearer audit-secret"),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let decisions = v[0]["decisions"].as_array().unwrap();
    assert_eq!(decisions[0]["event"], "pull_request labeled");
    assert_eq!(decisions[0]["actor"], "@alice");
    assert_eq!(decisions[0]["at"], "2026-11-02T10:00:00Z");
}
