//! `simulate` as a newcomer first tries it: GitLab's object_kind accepted as the event, the
//! changed files said to be unknown unless given, only the approvals the change needs, with
//! the time the payload gives, and each error printed once.

use std::process::Command;

fn changegate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn gitlab_object_kind_names_the_event_too() {
    let payload = "tests/fixtures/gitlab/merge_request.update.1.json";
    let (code, out, err) = changegate(&[
        "simulate",
        "--at",
        "2026-11-02",
        "--forge",
        "gitlab",
        "--event",
        "merge_request",
        payload,
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["decision"]["verdict"], "fail", "{v}");
    assert_eq!(v["event"]["event_name"], "Merge Request Hook");
}

/// The corpus's `labeled` delivery, as `sender` adding `label` to a pull request that then
/// carries `labels`.
fn labeled(dir: &std::path::Path, label: &str, sender: &str, labels: &[&str]) -> String {
    let mut body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/github/pull_request.labeled.1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let template = body["label"].clone();
    let named = |n: &str| {
        let mut l = template.clone();
        l["name"] = n.into();
        l
    };
    body["label"] = named(label);
    body["sender"]["login"] = sender.into();
    body["sender"]["id"] = 5.into();
    body["pull_request"]["labels"] = labels.iter().map(|l| named(l)).collect();
    let path = dir.join("payload.json");
    std::fs::write(&path, serde_json::to_vec(&body).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn only_the_needed_approvals_are_listed_with_the_payloads_time() {
    let dir = tempfile::tempdir().unwrap();
    let payload = labeled(
        dir.path(),
        "BT Integration Manager::Approved",
        "mona",
        &["CMT::Minor", "BT Integration Manager::Approved"],
    );
    let (code, out, err) = changegate(&[
        "simulate",
        "--at",
        "2026-11-02",
        "--forge",
        "github",
        "--event",
        "pull_request",
        "--member",
        "bt-integration-managers=mona",
        &payload,
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let approvals = v["decision"]["approvals"].as_array().unwrap();
    let names: Vec<&str> = approvals
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["manager"], "a minor change needs the manager only");
    assert_eq!(approvals[0]["state"], "met");
    // The payload's pull_request.updated_at, not the time of the simulation.
    assert_eq!(approvals[0]["at"], "2019-05-15T15:20:35Z");
    assert_eq!(v["decision"]["verdict"], "pass");
}

#[test]
fn changed_files_are_unknown_unless_given() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "version: 1\nenforce:\n  - kind: merge_request\nrules:\n  - name: docs-only\n    when:\n      changed_paths: [\"src/**\"]\n    block: true\n    message: code changes are frozen\n  - name: noted\n    when: {kind: merge_request}\n    message: every change is noted\n",
    )
    .unwrap();
    let payload = "tests/fixtures/github/pull_request.opened.1.json";
    let base = [
        "simulate",
        "--forge",
        "github",
        "--event",
        "pull_request",
        "--rules",
        rules.to_str().unwrap(),
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.push(payload);
        changegate(&args)
    };
    let (code, out, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("changed files are unknown offline"), "{err}");
    let v = json(&out);
    assert_eq!(v["changed_files"], "unknown");
    assert_eq!(v["decision"]["verdict"], "fail", "unknown counts as met");

    let (_, out, err) = run(&["--changed-file", "docs/a.md", "--changed-file", "README.md"]);
    assert!(err.is_empty(), "{err}");
    let v = json(&out);
    assert_eq!(
        v["changed_files"],
        serde_json::json!(["docs/a.md", "README.md"])
    );
    assert_eq!(v["decision"]["verdict"], "pass");
    let (_, out, _) = run(&[
        "--changed-file",
        "docs/a.md",
        "--changed-file",
        "src/main.rs",
    ]);
    assert_eq!(json(&out)["decision"]["verdict"], "fail");
}

#[test]
fn errors_are_printed_once_and_forge_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let (code, _, err) = changegate(&[
        "simulate",
        "--forge",
        "github",
        "--event",
        "pull_request",
        bad.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert_eq!(err.matches("missing field `action`").count(), 1, "{err}");
    let (_, help, _) = changegate(&["simulate", "--help"]);
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--forge"))
        .unwrap();
    assert!(line.contains("github or gitlab"), "{help}");
    assert!(help.contains("--changed-file"), "{help}");
}
