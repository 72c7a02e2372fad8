//! Every real payload of `tests/fixtures/` through the real router, signed right and wrong,
//! and the normalized model checked against the facts the manifest states about each file.

mod common;

use axum::http::StatusCode;
use changegate::model::{
    Action, ChangeKind, ChangeState, DeploymentEventKind, DeploymentState, Event, EventPayload,
};
use changegate::server;
use common::*;

/// Whether changegate acts on this (forge, event header, action): written from the issue's
/// list of events, independently of the parser.
fn is_change_event(f: &CorpusFile) -> bool {
    let a = f.action.as_str();
    match (f.forge.as_str(), f.event_header.as_str()) {
        ("github", "pull_request") => matches!(
            a,
            "opened"
                | "reopened"
                | "edited"
                | "labeled"
                | "unlabeled"
                | "synchronize"
                | "ready_for_review"
                | "converted_to_draft"
                | "closed"
        ),
        ("github", "pull_request_review") => matches!(a, "submitted" | "edited" | "dismissed"),
        ("github", "issues") => matches!(
            a,
            "opened" | "edited" | "labeled" | "unlabeled" | "reopened" | "closed"
        ),
        ("github", "issue_comment") => true,
        ("gitlab", "Merge Request Hook" | "Issue Hook") => true,
        // A pipeline on a merge request's head gets changegate's status (issue 26).
        ("gitlab", "Pipeline Hook") => true,
        ("gitlab", "Note Hook") => {
            f.exercises.contains("noteable_type=MergeRequest")
                || f.exercises.contains("noteable_type=Issue")
        }
        _ => false,
    }
}

/// Whether this is a deployment event changegate reads (issue 23): written from the issue's
/// list, independently of the parser. GitHub `deployment_review` and `workflow_job` are not.
fn is_deployment_event(f: &CorpusFile) -> bool {
    match (f.forge.as_str(), f.event_header.as_str()) {
        ("github", "deployment" | "deployment_status") => {
            matches!(f.action.as_str(), "created" | "-")
        }
        ("github", "deployment_protection_rule") => f.action == "requested",
        ("gitlab", "Deployment Hook") => true,
        _ => false,
    }
}

fn parse(f: &CorpusFile) -> Event {
    let parsed = match f.forge.as_str() {
        "github" => server::github::parse(&f.event_header, Some("d".into()), &f.body),
        _ => server::gitlab::parse(&f.event_header, Some("d".into()), &f.body),
    };
    parsed.unwrap_or_else(|e| panic!("{}: {e}", f.file))
}

/// `key=value` from the manifest's `exercises` column (the first occurrence).
fn fact<'a>(f: &'a CorpusFile, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=");
    let text = f.exercises.as_str();
    let mut from = 0;
    while let Some(i) = text[from..].find(&needle) {
        let start = from + i;
        let boundary = start == 0 || matches!(text.as_bytes()[start - 1], b' ' | b';' | b'|');
        if boundary {
            let rest = &text[start + needle.len()..];
            let end = if rest.starts_with('[') {
                rest.find(']').map(|e| e + 1).unwrap_or(rest.len())
            } else {
                rest.find([' ', ';']).unwrap_or(rest.len())
            };
            return Some(&rest[..end]);
        }
        from = start + needle.len();
    }
    None
}

fn label_list(s: &str) -> Vec<String> {
    let inner = s.trim_start_matches('[').trim_end_matches(']');
    if inner == "-" || inner.is_empty() {
        return vec![];
    }
    inner.split(',').map(|x| x.trim().to_string()).collect()
}

/// A deployment event against the manifest's facts (env, ref, sha, ids, who, state).
fn check_deployment_against_manifest(f: &CorpusFile, event: &Event) {
    let EventPayload::Deployment(d) = &event.payload else {
        return;
    };
    let ctx = &f.file;
    // Deployment rows separate some facts with commas (`status=success, …`).
    let fact = |key: &str| fact(f, key).map(|v| v.trim_end_matches(','));
    if let Some(env) = fact("env") {
        assert_eq!(d.environment, env, "{ctx}");
    }
    match fact("ref") {
        Some("absent") => assert_eq!(d.git_ref, None, "{ctx}"),
        Some(r) => assert_eq!(d.git_ref.as_deref(), Some(r), "{ctx}"),
        None => {}
    }
    if let Some(sha) = fact("sha").or(fact("short_sha")) {
        let full = d.sha.as_deref().unwrap_or("");
        assert!(
            full.len() == 40 && full.starts_with(sha),
            "{ctx}: {full} vs {sha}"
        );
    }
    if let Some(id) = fact("deployment_id").or(fact("id")) {
        assert_eq!(
            d.deployment_id.map(|i| i.to_string()).as_deref(),
            Some(id),
            "{ctx}"
        );
    }
    if let Some(creator) = fact("creator") {
        let got = d.creator.as_ref().and_then(|c| c.username.as_deref());
        assert_eq!(got, Some(creator), "{ctx}");
    }
    if let Some(actor) = fact("sender").or(fact("actor")) {
        assert_eq!(d.actor.username.as_deref(), Some(actor), "{ctx}");
    }
    if let Some(project) = fact("project") {
        assert_eq!(d.repo.path.as_str(), project, "{ctx}");
    }
    if f.event_header == "deployment" {
        assert_eq!(d.kind, DeploymentEventKind::Created, "{ctx}");
    }
    if let Some(run) = fact("run_id") {
        let DeploymentEventKind::ProtectionRequested { run_id } = &d.kind else {
            panic!(
                "{ctx}: expected a protection rule request, got {:?}",
                d.kind
            );
        };
        assert_eq!(run_id.to_string(), run, "{ctx}");
    }
    if let Some(prs) = fact("pull_requests") {
        let got: Vec<String> = d.pull_requests.iter().map(u64::to_string).collect();
        assert_eq!(got, label_list(prs), "{ctx}");
    }
    if let Some(state) = fact("state").or(fact("status")) {
        let DeploymentEventKind::Status {
            state: got,
            deployable_id,
        } = &d.kind
        else {
            panic!("{ctx}: expected a status, got {:?}", d.kind);
        };
        assert_eq!(got, &DeploymentState::from_forge(state), "{ctx}");
        assert!(!matches!(got, DeploymentState::Other(_)), "{ctx}: {state}");
        if let Some(job) = fact("deployable_id") {
            assert_eq!(
                deployable_id.map(|i| i.to_string()).as_deref(),
                Some(job),
                "{ctx}"
            );
        }
    }
    assert!(
        d.at.is_some(),
        "{ctx}: every corpus deployment event places itself in time"
    );
}

fn check_against_manifest(f: &CorpusFile, event: &Event) {
    check_deployment_against_manifest(f, event);
    let Some(c) = event.change() else { return };
    let ch = &c.change;
    let ctx = &f.file;
    if let Some(sha) = fact(f, "head.sha").or(fact(f, "last_commit")) {
        assert!(
            ch.head_sha.as_deref().unwrap_or("").starts_with(sha),
            "{ctx}: head {:?} vs {sha}",
            ch.head_sha
        );
    }
    if let Some(base) = fact(f, "base.ref") {
        assert_eq!(ch.target_branch.as_deref(), Some(base), "{ctx}");
    }
    if let Some(author) = fact(f, "author") {
        assert_eq!(ch.author.username.as_deref(), Some(author), "{ctx}");
    }
    if let Some(sender) = fact(f, "sender").or(fact(f, "actor")) {
        assert_eq!(c.actor.username.as_deref(), Some(sender), "{ctx}");
    }
    // On notes the manifest's author_id is the note's author, not the change's.
    if let Some(id) = fact(f, "author_id").filter(|_| f.event_header != "Note Hook") {
        assert_eq!(
            ch.author.id.map(|i| i.to_string()).as_deref(),
            Some(id),
            "{ctx}"
        );
    }
    if let Some(project) = fact(f, "project") {
        assert_eq!(ch.repo.path.as_str(), project, "{ctx}");
    }
    if let Some(iid) = fact(f, "iid") {
        assert_eq!(ch.number.to_string(), iid, "{ctx}");
    }
    for prefix in ["PR #", "issue #", "!", "#"] {
        if let Some(rest) = f
            .exercises
            .split(" | ")
            .last()
            .and_then(|s| s.strip_prefix(prefix))
        {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !n.is_empty() {
                assert_eq!(ch.number.to_string(), n, "{ctx}");
                break;
            }
        }
    }
    if let Some(state) = fact(f, "state") {
        let expected = match state {
            "open" | "opened" => ChangeState::Open,
            "closed" if fact(f, "merged") == Some("True") => ChangeState::Merged,
            "closed" => ChangeState::Closed,
            "merged" => ChangeState::Merged,
            other => panic!("{ctx}: unknown state {other}"),
        };
        assert_eq!(ch.state, expected, "{ctx}");
    }
    if let Some(draft) = fact(f, "draft").filter(|d| *d != "absent") {
        assert_eq!(ch.draft, draft == "True", "{ctx}");
    }
    // The manifest lists labels as the payload has them; for `unlabeled` the model drops
    // the removed label (the payload's list may still hold it).
    if let Some(labels) = fact(f, "labels").filter(|l| *l != "[absent]") {
        let mut expected = label_list(labels);
        if f.action == "unlabeled" {
            expected.retain(|l| !c.labels_removed.iter().any(|r| r.as_str() == l));
        }
        let got: Vec<&str> = ch.labels.iter().map(|l| l.as_str()).collect();
        assert_eq!(got, expected, "{ctx}");
    }
    if f.exercises.contains("on a PR") {
        assert_eq!(ch.kind, ChangeKind::MergeRequest, "{ctx}");
    }
    if f.exercises.contains("plain issue") || f.event_header == "Issue Hook" {
        assert_eq!(ch.kind, ChangeKind::Issue, "{ctx}");
    }
    if f.forge == "github" && f.event_header == "pull_request" {
        assert_eq!(ch.kind, ChangeKind::MergeRequest, "{ctx}");
    }
}

#[tokio::test]
async fn every_corpus_payload_signed_right_is_accepted_and_normalized() {
    let app = TestApp::new().await;
    let files = corpus();
    assert!(files.len() >= 120, "corpus has {} files", files.len());
    let mut queued = 0;
    let mut deployments = 0;
    for (i, f) in files.iter().enumerate() {
        let delivery = format!("delivery-{i}");
        let (status, body) = match f.forge.as_str() {
            "github" => app.github(&f.event_header, &delivery, &f.body).await,
            _ => app.gitlab(&f.event_header, &delivery, &f.body).await,
        };
        let event = parse(f);
        let expected = if f.event_header == "ping" {
            assert!(
                matches!(event.payload, EventPayload::Ping { .. }),
                "{}",
                f.file
            );
            (StatusCode::OK, "pong")
        } else if is_change_event(f) {
            assert!(
                event.change().is_some(),
                "{}: expected a change event, got {:?}",
                f.file,
                event.payload
            );
            queued += 1;
            (StatusCode::ACCEPTED, "queued")
        } else if is_deployment_event(f) {
            assert!(
                matches!(event.payload, EventPayload::Deployment(_)),
                "{}: expected a deployment event, got {:?}",
                f.file,
                event.payload
            );
            deployments += 1;
            // Stored and queued once the deployment gate's flow takes them.
            let said = body["status"].as_str().unwrap_or("").to_string();
            if said == "queued" {
                queued += 1;
            }
            (
                StatusCode::ACCEPTED,
                if said == "queued" {
                    "queued"
                } else {
                    "not handled yet"
                },
            )
        } else {
            assert!(
                matches!(event.payload, EventPayload::Ignored { .. }),
                "{}: expected ignored",
                f.file
            );
            (StatusCode::ACCEPTED, "ignored")
        };
        assert_eq!(
            (status, body["status"].as_str().unwrap_or("")),
            expected,
            "{}: {body}",
            f.file
        );
        check_against_manifest(f, &event);
        if let Some(c) = event.change() {
            let name = f.file.replace(['/', '.'], "_");
            insta::assert_json_snapshot!(name, c);
        }
    }
    assert_eq!(deployments, 14, "every deployment payload of the corpus");
    assert_eq!(app.store.pending().await.unwrap(), queued);
    // The worker evaluates every queued change (dry run); a change's earlier events are
    // covered by the run of its latest.
    let runs = app.drain().await;
    assert!(runs > 0 && runs as i64 <= queued);
    assert!(
        app.store.unfinished_jobs().await.unwrap().is_empty(),
        "no job failed"
    );
}

#[tokio::test]
async fn every_corpus_payload_signed_wrong_is_refused_and_nothing_is_stored() {
    let app = TestApp::new().await;
    for (i, f) in corpus().iter().enumerate() {
        let req = match f.forge.as_str() {
            "github" => github_request(&f.event_header, &format!("d{i}"), &f.body, b"wrong-secret"),
            _ => gitlab_request(&f.event_header, &format!("d{i}"), &f.body, "wrong-token"),
        };
        let (status, _) = app.send(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", f.file);
    }
    assert_eq!(app.store.pending().await.unwrap(), 0);
}

#[test]
fn actions_are_classified_as_the_forges_document_them() {
    let by_file = |name: &str| {
        let f = corpus()
            .into_iter()
            .find(|f| f.file == name)
            .expect("corpus file");
        parse(&f).change().map(|c| c.action)
    };
    assert_eq!(
        by_file("github/pull_request.synchronize.1.json"),
        Some(Action::Pushed)
    );
    assert_eq!(
        by_file("github/pull_request.labeled.1.json"),
        Some(Action::Labeled)
    );
    assert_eq!(
        by_file("github/pull_request.converted_to_draft.1.json"),
        Some(Action::ConvertedToDraft)
    );
    assert_eq!(
        by_file("github/pull_request_review.dismissed.1.json"),
        Some(Action::Unapproved)
    );
    assert_eq!(
        by_file("github/pull_request_review.submitted.2.json"),
        Some(Action::Reviewed)
    );
    assert_eq!(
        by_file("gitlab/merge_request.update.11.json"),
        Some(Action::Pushed)
    );
    assert_eq!(
        by_file("gitlab/merge_request.update.1.json"),
        Some(Action::Labeled)
    );
    assert_eq!(
        by_file("gitlab/merge_request.update.4.json"),
        Some(Action::Edited)
    );
    assert_eq!(
        by_file("gitlab/merge_request.approved.1.json"),
        Some(Action::Approved)
    );
    assert_eq!(
        by_file("gitlab/merge_request.merge.1.json"),
        Some(Action::Merged)
    );
    assert_eq!(
        by_file("gitlab/merge_request.close.1.json"),
        Some(Action::Closed)
    );
    assert_eq!(
        by_file("gitlab/note.merge_request.2.json"),
        Some(Action::Commented)
    );
    assert_eq!(by_file("gitlab/note.snippet.1.json"), None);
}

#[test]
fn label_deltas_come_from_the_event_not_the_list() {
    let f = corpus()
        .into_iter()
        .find(|f| f.file == "github/pull_request.unlabeled.1.json")
        .expect("file");
    let ev = parse(&f);
    let c = ev.change().expect("change");
    assert_eq!(c.labels_removed.len(), 1);
    assert!(
        !c.change.labels.contains(&c.labels_removed[0]),
        "removed label no longer listed"
    );
    let f = corpus()
        .into_iter()
        .find(|f| f.file == "gitlab/issue.reopen.1.json")
        .expect("file");
    let ev = parse(&f);
    let c = ev.change().expect("change");
    assert!(
        c.labels_added.is_empty(),
        "reopen repeats an old label delta; it is not applied now"
    );
    let f = corpus()
        .into_iter()
        .find(|f| f.file == "gitlab/merge_request.update.1.json")
        .expect("file");
    let ev = parse(&f);
    let added: Vec<&str> = ev
        .change()
        .expect("change")
        .labels_added
        .iter()
        .map(|l| l.as_str())
        .collect();
    assert_eq!(added, vec!["good first issue"]);
}
