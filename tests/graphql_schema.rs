//! Every GraphQL document changegate sends, validated against GitHub's published schema (npm
//! `@octokit/graphql-schema`, with `graphql`'s `validate()`; see tests/fixtures/graphql/). A
//! query GitHub would refuse fails here. `.ci/run` installs both and sets
//! CHANGEGATE_GRAPHQL_SCHEMA_DIR; under CI (or with that variable set) the test fails when
//! they are missing, elsewhere it says how to run it.

use changegate::forge::github::graphql;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Where the schema package is installed, if it is.
fn schema_dir() -> Option<PathBuf> {
    let given = std::env::var("CHANGEGATE_GRAPHQL_SCHEMA_DIR")
        .ok()
        .filter(|d| !d.is_empty());
    let dir = given.clone().map(PathBuf::from).or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        Some(PathBuf::from(target).join("graphql-schema"))
    })?;
    let installed = dir
        .join("node_modules/@octokit/graphql-schema/schema.json")
        .is_file()
        && dir.join("node_modules/graphql").is_dir();
    if installed {
        return Some(dir);
    }
    assert!(
        given.is_none() && std::env::var("CI").is_err(),
        "GitHub's GraphQL schema is not installed in {}: .ci/run installs it",
        dir.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipping: install @octokit/graphql-schema and graphql (see .ci/run) to check the queries"
    );
    None
}

/// Each document's validation errors, by name.
fn validate(dir: &std::path::Path, documents: &[(&str, String)]) -> Vec<(String, Vec<String>)> {
    use std::io::Write;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graphql/validate.cjs");
    let mut child = std::process::Command::new("node")
        .arg(script)
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (CI installs it)");
    let input: Vec<Value> = documents
        .iter()
        .map(|(name, query)| json!({ "name": name, "query": query }))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_vec(&input).unwrap().as_slice())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the validator failed");
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .iter()
        .map(|a| {
            let errors = a["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect();
            (a["name"].as_str().unwrap().to_string(), errors)
        })
        .collect()
}

#[test]
fn every_query_changegate_sends_is_valid_against_githubs_schema() {
    let Some(dir) = schema_dir() else { return };
    let mut documents = vec![
        ("snapshot".to_string(), graphql::SNAPSHOT_QUERY.to_string()),
        ("comment origin".into(), graphql::ORIGIN_QUERY.to_string()),
        (
            "team members".into(),
            graphql::members_query(&[
                ("acme", "integrations-team", "bob"),
                ("acme", "bt-managers", "mona"),
            ]),
        ),
    ];
    // Each page query of a connection past 100 items.
    documents.extend(graphql::PAGE_QUERIES.iter().cloned());
    assert_eq!(documents.len(), 10, "every page query is checked");
    let documents: Vec<(&str, String)> = documents
        .iter()
        .map(|(n, q)| (n.as_str(), q.clone()))
        .collect();
    for (name, errors) in validate(&dir, &documents) {
        assert!(
            errors.is_empty(),
            "{name}: GitHub would refuse it: {errors:#?}"
        );
    }
}

#[test]
fn a_query_github_would_refuse_is_refused() {
    let Some(dir) = schema_dir() else { return };
    // A field GitHub does not have, an argument of the wrong type, and a connection asked
    // without its nodes' fields.
    let wrong = [
        (
            "unknown field",
            graphql::SNAPSHOT_QUERY.replace("isDraft", "isDraftt"),
        ),
        (
            "wrong type",
            graphql::SNAPSHOT_QUERY.replace("$number: Int!", "$number: String!"),
        ),
        (
            "missing selection",
            "query { repository(owner: \"o\", name: \"r\") { labels(first: 1) } }".to_string(),
        ),
    ];
    for (name, errors) in validate(&dir, &wrong) {
        assert!(!errors.is_empty(), "{name}: accepted");
    }
}
