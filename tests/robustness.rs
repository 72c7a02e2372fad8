//! Property tests: no body, header or rules file makes changegate panic, and every answer is
//! one of the documented status codes.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use changegate::server::gitlab::GitlabVerifier;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::Arc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

const EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "issues",
    "issue_comment",
    "ping",
    "push",
    "Merge Request Hook",
    "Issue Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Push Hook",
    "",
];

/// Replaces the value at a random path of a JSON document with another type.
fn mutate(v: &mut serde_json::Value, choices: &[u8], replacement: &serde_json::Value) {
    let Some((c, rest)) = choices.split_first() else {
        *v = replacement.clone();
        return;
    };
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            let key = m
                .keys()
                .nth(*c as usize % m.len())
                .cloned()
                .unwrap_or_default();
            if let Some(child) = m.get_mut(&key) {
                mutate(child, rest, replacement);
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            mutate(&mut a[*c as usize % n], rest, replacement);
        }
        _ => *v = replacement.clone(),
    }
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,8}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::json!(u64::MAX)),
    ]
}

#[test]
fn mutated_corpus_payloads_never_panic() {
    let rt = runtime();
    let app = rt.block_on(TestApp::with(|s| {
        s.github_secrets = Arc::new(vec![]);
        s.gitlab = Arc::new(GitlabVerifier::default());
        s.allow_unsigned = true;
    }));
    let files = corpus();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let strategy = (
        0..files.len(),
        proptest::collection::vec(any::<u8>(), 1..6),
        any_json(),
    );
    runner
        .run(&strategy, |(i, path, replacement)| {
            let f = &files[i];
            let mut doc: serde_json::Value =
                serde_json::from_slice(&f.body).expect("corpus is JSON");
            mutate(&mut doc, &path, &replacement);
            let body = serde_json::to_vec(&doc).expect("json");
            let uri = if f.forge == "github" {
                "/webhooks/github"
            } else {
                "/webhooks/gitlab"
            };
            let header = if f.forge == "github" {
                "x-github-event"
            } else {
                "x-gitlab-event"
            };
            let req = Request::post(uri)
                .header(header, &f.event_header)
                .body(Body::from(body))
                .expect("req");
            let (status, _) = rt.block_on(app.send(req));
            prop_assert!(
                matches!(
                    status,
                    StatusCode::OK | StatusCode::ACCEPTED | StatusCode::BAD_REQUEST
                ),
                "{}: {status}",
                f.file
            );
            Ok(())
        })
        .expect("no panic and documented answers");
    // The worker copes with whatever was accepted.
    rt.block_on(app.drain());
}

#[test]
fn arbitrary_bodies_and_headers_never_panic() {
    let rt = runtime();
    let app = rt.block_on(TestApp::new());
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::sample::select(EVENTS),
        any::<bool>(),
        "[ -~]{0,80}",
        "[ -~]{0,40}",
    );
    runner
        .run(&strategy, |(body, event, github, sig, ts)| {
            let req = if github {
                Request::post("/webhooks/github")
                    .header("x-github-event", event)
                    .header("x-hub-signature-256", sig)
            } else {
                Request::post("/webhooks/gitlab")
                    .header("x-gitlab-event", event)
                    .header("x-gitlab-token", ts.clone())
                    .header("webhook-id", "x")
                    .header("webhook-timestamp", ts)
                    .header("webhook-signature", sig)
            };
            let (status, _) = rt.block_on(app.send(req.body(Body::from(body)).expect("req")));
            prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
            Ok(())
        })
        .expect("no panic");
    // Correctly signed garbage gets 400 (or 202 when the event is ignored and the body is JSON).
    runner
        .run(
            &(
                proptest::collection::vec(any::<u8>(), 0..256),
                proptest::sample::select(EVENTS),
            ),
            |(body, event)| {
                let (status, _) = rt.block_on(app.github(event, "d", &body));
                prop_assert!(
                    matches!(
                        status,
                        StatusCode::OK | StatusCode::ACCEPTED | StatusCode::BAD_REQUEST
                    ),
                    "{status}"
                );
                Ok(())
            },
        )
        .expect("no panic");
}

#[test]
fn arbitrary_rules_files_never_panic() {
    let shipped = include_str!("../rules.yaml");
    let lines: Vec<&str> = shipped.lines().collect();
    let mut runner = TestRunner::new(Config {
        cases: 600,
        ..Config::default()
    });
    let strategy = (0..lines.len(), 0..lines.len(), 0u8..4, ".{0,12}");
    runner
        .run(&strategy, |(a, b, op, text)| {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            match op {
                0 => {
                    l.remove(a);
                }
                1 => l.swap(a, b),
                2 => l[a] = format!("{}{}", l[a], text),
                _ => l.insert(a, text.clone()),
            }
            let doc = l.join("\n");
            if let Err(e) = changegate::rules::parse("r.yaml", &doc) {
                prop_assert!(!e.problems.is_empty());
                for p in &e.problems {
                    prop_assert!(p.pos.line >= 1 && p.pos.column >= 1, "{}", e);
                    prop_assert!(!p.message.is_empty());
                }
            }
            Ok(())
        })
        .expect("no panic");
    runner
        .run(&".{0,200}", |text| {
            let _ = changegate::rules::parse("r.yaml", &text);
            Ok(())
        })
        .expect("no panic");
}
