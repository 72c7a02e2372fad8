//! The command line as a maintainer uses it: check, simulate, schema.

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

#[test]
fn check_accepts_the_shipped_rules_with_a_one_line_summary() {
    let (code, out, _) = changegate(&["check", "rules.yaml", "--at", "2026-12-06T12:00:00Z"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "rules.yaml: ok: 7 rules, 5 approvals, 5 approver groups, 6 scopes, 2 blocked periods\n\
         quarter-close-financial: 2026-12-17 00:00 → 2027-01-14 00:00 UTC, changes labelled any of `Financially Significant`\n\
         quarter-close: 2026-12-24 00:00 → 2027-01-07 00:00 UTC, every change"
    );
    let (code, out, _) = changegate(&["check"]);
    assert_eq!(
        (code, out.lines().count()),
        (0, 3),
        "defaults to ./rules.yaml"
    );
}

#[test]
fn check_says_when_a_blocked_period_is_in_force() {
    let (code, out, _) = changegate(&["check", "--at", "2027-01-02", "rules.yaml"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("quarter-close: in force now, until 2027-01-07 00:00 UTC, every change"),
        "{out}"
    );
    let (code, _, err) = changegate(&["check", "--at", "soon", "rules.yaml"]);
    assert_ne!(code, 0);
    assert!(err.contains("--at"), "{err}");
}

#[test]
fn check_reports_each_problem_as_path_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "version: 1\nenforce:\n  - kind: merge_request\n    has_scop: [CMT]\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let (code, out, err) = changegate(&["check", p]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "{p}:4:5: unknown key `has_scop` (did you mean `has_scope`?)"
        )),
        "{err}"
    );
    std::fs::write(&path, "version: 1\nenforce: [{}]\nrules:\n  - name: a\n    require: [x]\n  - name: a\n    block: true\n").unwrap();
    let (code, _, err) = changegate(&["check", p]);
    assert_ne!(code, 0);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(&format!("{p}:5:15: unknown approval `x`")));
    assert_eq!(lines[1], format!("{p}:6:11: duplicate rule name `a`"));
}

#[test]
fn simulate_prints_the_change_the_decision_and_the_actions() {
    let payload = "tests/fixtures/gitlab/merge_request.update.1.json";
    let (code, out, err) = changegate(&[
        "simulate",
        "--at",
        "2026-11-02T10:00:00Z",
        "--forge",
        "gitlab",
        "--event",
        "Merge Request Hook",
        payload,
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        v["event"]["payload"]["change"]["repo"]["path"],
        "demoaccount2-commits-group/test_ci_tmp"
    );
    assert_eq!(v["event"]["payload"]["labels_added"][0], "good first issue");
    assert_eq!(v["decision"]["verdict"], "fail");
    assert_eq!(
        v["decision"]["checklist"][0]["title"],
        "Classify the change"
    );
    let actions: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["set_status", "upsert_comment"]);
}

#[test]
fn simulate_uses_the_given_rules_and_memberships() {
    let dir = tempfile::tempdir().unwrap();
    let mut payload: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/github/pull_request.labeled.1.json").unwrap(),
    )
    .unwrap();
    payload["pull_request"]["labels"] =
        serde_json::json!([{"name": "CMT::Minor"}, {"name": "BT Integration Manager::Approved"}]);
    payload["label"] = serde_json::json!({"name": "BT Integration Manager::Approved"});
    payload["sender"] = serde_json::json!({"login": "mona", "id": 5});
    let file = dir.path().join("p.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    let f = file.to_str().unwrap();
    let (code, out, _) = changegate(&[
        "simulate",
        "--at",
        "2026-11-02T10:00:00Z",
        "--forge",
        "github",
        "--event",
        "pull_request",
        "--member",
        "bt-integration-managers=mona",
        f,
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["verdict"], "pass", "{out}");
    let (_, out, _) = changegate(&[
        "simulate",
        "--at",
        "2026-11-02T10:00:00Z",
        "--forge",
        "github",
        "--event",
        "pull_request",
        f,
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["decision"]["verdict"], "fail",
        "membership unknown offline"
    );
    // Only the approval a minor change needs is listed.
    assert_eq!(v["decision"]["approvals"][0]["name"], "manager");
    assert_eq!(v["decision"]["approvals"][0]["state"], "unverified");
}

#[test]
fn simulate_refuses_bad_input_clearly() {
    let (code, _, err) =
        changegate(&["simulate", "--forge", "bitbucket", "--event", "x", "p.json"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown forge `bitbucket`"), "{err}");
    let (code, _, err) = changegate(&[
        "simulate",
        "--forge",
        "github",
        "--event",
        "pull_request",
        "Cargo.toml",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("malformed payload"), "{err}");
}

#[test]
fn schema_is_json_schema() {
    let (code, out, _) = changegate(&["schema"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["$schema"]
            .as_str()
            .unwrap_or("")
            .contains("json-schema.org")
    );
    assert_eq!(v["title"], "changegate rules");
}

#[test]
fn serve_help_lists_every_setting() {
    let (code, out, _) = changegate(&["serve", "--help"]);
    assert_eq!(code, 0);
    for key in [
        "server.listen",
        "server.max_body_bytes",
        "server.max_buffered_bytes",
        "server.read_timeout_secs",
        "gitlab.min_access_level",
        "rules.path",
        "database.url",
        "github.api_url",
        "github.token",
        "github.webhook_secret",
        "gitlab.url",
        "gitlab.token",
        "gitlab.webhook_secret",
        "gitlab.signing_token",
        "status.context",
        "dry_run",
        "allow_unsigned",
    ] {
        assert!(out.contains(key), "{key} missing from serve --help");
    }
}

#[test]
fn simulate_compares_two_versions_of_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let stricter = dir.path().join("stricter.yaml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap();
    std::fs::write(&stricter, text.replace("  - name: minor-change\n    when:\n      labels: [\"CMT::Minor\"]\n    require: [manager]", "  - name: minor-change\n    when:\n      labels: [\"CMT::Minor\"]\n    require: [peer, manager]")).unwrap();
    let mut payload: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/github/pull_request.labeled.1.json").unwrap(),
    )
    .unwrap();
    payload["pull_request"]["labels"] = serde_json::json!([{"name": "CMT::Minor"}]);
    let file = dir.path().join("p.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    let (code, out, err) = changegate(&[
        "simulate",
        "--at",
        "2026-11-02T10:00:00Z",
        "--forge",
        "github",
        "--event",
        "pull_request",
        "--compare",
        stricter.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["decision"]["summary"],
        "Missing: BT Integration Manager approval"
    );
    assert_eq!(
        v["compare"]["decision"]["summary"],
        "Missing: Peer review; BT Integration Manager approval"
    );
    let changes: Vec<&str> = v["compare"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        vec![
            "status: \"Missing: BT Integration Manager approval\" -> \"Missing: Peer review; BT Integration Manager approval\""
        ]
    );
}

#[test]
fn simulate_evaluates_at_the_time_given() {
    // 28 December: inside the quarter close, which the status names with its end.
    let (code, out, err) = changegate(&[
        "simulate",
        "--at",
        "2026-12-28",
        "--forge",
        "gitlab",
        "--event",
        "Merge Request Hook",
        "tests/fixtures/gitlab/merge_request.update.1.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let titles: Vec<&str> = v["decision"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    assert!(
        titles.contains(&"Blocked period quarter-close until 2027-01-07 00:00 UTC"),
        "{titles:?}"
    );
    let (code, _, err) = changegate(&[
        "simulate",
        "--at",
        "soon",
        "--forge",
        "gitlab",
        "--event",
        "Merge Request Hook",
        "tests/fixtures/gitlab/merge_request.update.1.json",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--at `soon` is not a time"), "{err}");
}
