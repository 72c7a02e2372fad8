//! GitHub Enterprise Server: the REST base is `https://HOST/api/v3`, GraphQL answers at
//! `https://HOST/api/graphql` (with the same credential). A server whose schema lacks a field
//! the snapshot query names (an older release) answers an error: the change is read through
//! REST, and GraphQL is not asked again for that installation for a while.

mod common;

use changegate::forge::github::GithubClient;
use changegate::forge::{ChangeRef, Forge};
use changegate::model::{ChangeKind, Repo, RepoPath};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn pull() -> Value {
    json!({ "number": 7, "title": "A change", "body": null, "user": { "login": "alice", "id": 520, "type": "User" },
            "labels": [], "state": "open", "draft": false, "merged": false, "merged_at": null,
            "head": { "ref": "feature", "sha": "1111111111111111111111111111111111111111" },
            "base": { "ref": "main", "sha": "0000000000000000000000000000000000000000" },
            "html_url": "https://ghe.example.com/acme/platypus/pull/7", "updated_at": "2026-11-02T10:00:00Z", "comments": 0 })
}

fn change_ref() -> ChangeRef {
    ChangeRef {
        repo: Repo {
            path: RepoPath::new("acme/platypus"),
            id: None,
        },
        kind: ChangeKind::MergeRequest,
        number: 7,
    }
}

/// A GHES at `server` (REST under `/api/v3`) whose GraphQL answers `error` to the snapshot.
async fn ghes(server: &MockServer, error: Value) -> GithubClient {
    Mock::given(method("POST"))
        .and(path("/api/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "errors": [error] })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/acme/platypus/pulls/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull()))
        .mount(server)
        .await;
    GithubClient::new(
        &format!("{}/api/v3", server.uri()),
        "ghes-token",
        common::test_retry(),
    )
    .unwrap()
}

fn graphql_posts(requests: &[wiremock::Request]) -> Vec<&wiremock::Request> {
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect()
}

#[tokio::test]
async fn an_older_ghes_schema_reads_rest_and_graphql_is_not_asked_again() {
    let errors = [
        // As GitHub's GraphQL names an unknown field.
        json!({ "path": ["query ChangegateSnapshot", "repository", "issueOrPullRequest", "... on PullRequest", "timelineItems"],
                "extensions": { "code": "undefinedField", "typeName": "PullRequest", "fieldName": "timelineItems" },
                "locations": [{ "line": 30, "column": 9 }],
                "message": "Field 'timelineItems' doesn't exist on type 'PullRequest'" }),
        // An older server saying only so in its message.
        json!({ "locations": [{ "line": 12, "column": 9 }],
                "message": "Field 'isDraft' doesn't exist on type 'PullRequest'" }),
    ];
    for error in errors {
        let server = MockServer::start().await;
        let client = ghes(&server, error.clone()).await;
        let change = client.change(&change_ref()).await.unwrap().unwrap();
        assert_eq!(change.number, 7);
        let requests = server.received_requests().await.unwrap();
        let posts = graphql_posts(&requests);
        assert_eq!(posts.len(), 1, "{error}");
        // `/api/v3` → `/api/graphql`, with the token.
        assert_eq!(posts[0].url.path(), "/api/graphql");
        assert_eq!(
            posts[0]
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer ghes-token")
        );
        assert!(
            requests
                .iter()
                .any(|r| r.url.path() == "/api/v3/repos/acme/platypus/pulls/7"),
            "{error}: read through REST"
        );
        // Remembered: the next evaluation reads REST at once.
        client.change(&change_ref()).await.unwrap().unwrap();
        let requests = server.received_requests().await.unwrap();
        assert_eq!(
            graphql_posts(&requests).len(),
            1,
            "{error}: not asked again"
        );
    }
}

#[tokio::test]
async fn graphql_is_asked_again_an_hour_after_it_could_not_answer() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = changegate::clock::Clock::manual(at);
    let server = MockServer::start().await;
    let error = json!({ "message": "Field 'isDraft' doesn't exist on type 'PullRequest'" });
    let client = ghes(&server, error).await.with_clock(clock.clone());
    let posts = || async { graphql_posts(&server.received_requests().await.unwrap()).len() };

    client.change(&change_ref()).await.unwrap().unwrap();
    assert_eq!(posts().await, 1);
    // 59 minutes on: still REST only.
    clock.advance(chrono::Duration::minutes(59));
    client.change(&change_ref()).await.unwrap().unwrap();
    assert_eq!(posts().await, 1, "not asked within the hour");
    // A clock set back does not shorten the wait.
    clock.set(at - chrono::Duration::minutes(30));
    client.change(&change_ref()).await.unwrap().unwrap();
    assert_eq!(posts().await, 1, "not asked when the clock went back");
    // An hour after it could not answer: asked again (an upgraded server would answer), and
    // when it still cannot, REST for another hour.
    clock.set(at + chrono::Duration::minutes(61));
    let change = client.change(&change_ref()).await.unwrap().unwrap();
    assert_eq!(change.number, 7, "read through REST again");
    assert_eq!(posts().await, 2, "asked again after the hour");
    clock.advance(chrono::Duration::minutes(30));
    client.change(&change_ref()).await.unwrap().unwrap();
    assert_eq!(posts().await, 2, "remembered again");
}
