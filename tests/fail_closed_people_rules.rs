//! The rules' new keys for people by id (issue 22, item 11), as a maintainer checks them:
//! `changegate check` and `changegate schema`.

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

const HEAD: &str = "version: 1\nenforce: [{}]\napprover_groups:\n  - name: managers\n";

#[test]
fn check_accepts_ids_and_names_bad_ones_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.yaml");
    let p = path.to_str().unwrap();
    // A group of ids only has members.
    std::fs::write(
        &path,
        format!("{HEAD}    users: {{github_ids: [101], gitlab_ids: [7, 8]}}\n"),
    )
    .unwrap();
    let (code, out, err) = changegate(&["check", p]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 approver groups"), "{out}");
    std::fs::write(&path, format!("{HEAD}    users: {{github_ids: [0]}}\n")).unwrap();
    let (code, _, err) = changegate(&["check", p]);
    assert_ne!(code, 0);
    assert_eq!(
        err.trim(),
        format!("{p}:5:26: `0` is not an account id: ids start at 1")
    );
    std::fs::write(&path, format!("{HEAD}    users: {{github_ids: [pam]}}\n")).unwrap();
    let (code, _, err) = changegate(&["check", p]);
    assert_ne!(code, 0);
    assert!(err.starts_with(&format!("{p}:5:")), "{err}");
    std::fs::write(&path, format!("{HEAD}    users: {{github_id: [1]}}\n")).unwrap();
    let (code, _, err) = changegate(&["check", p]);
    assert_ne!(code, 0);
    assert!(err.contains("did you mean `github_ids`"), "{err}");
}

#[test]
fn schema_documents_the_id_keys() {
    let (code, out, _) = changegate(&["schema"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let users = &v["$defs"]["StaticUsers"]["properties"];
    for key in ["github", "gitlab", "github_ids", "gitlab_ids"] {
        assert!(users[key].is_object(), "{key}: {users}");
    }
    assert_eq!(users["github_ids"]["items"]["type"], "integer", "{users}");
    assert!(
        users["github_ids"]["description"]
            .as_str()
            .unwrap_or("")
            .contains("numeric id"),
        "{users}"
    );
}
