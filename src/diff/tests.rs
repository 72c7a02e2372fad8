//! The fingerprint's refusals and what it names; its agreement with `git` itself is
//! tested on real repositories in `tests/fingerprint_git.rs`.

use super::*;

fn file(path: &str, patch: &str) -> FileDiff {
    FileDiff {
        status: FileStatus::Modified,
        old_path: path.into(),
        new_path: path.into(),
        old_mode: Some("100644".into()),
        new_mode: Some("100644".into()),
        old_blob: None,
        new_blob: Some("a".repeat(40)),
        patch: Some(patch.into()),
        binary: false,
    }
}

fn diff(files: Vec<FileDiff>) -> ChangeDiff {
    ChangeDiff {
        files,
        blobs_given: true,
        ..ChangeDiff::default()
    }
}

#[test]
fn the_order_the_forge_lists_files_in_does_not_matter() {
    let a = file("a.rs", "@@ -1 +1 @@\n-x\n+y\n");
    let b = file("b.rs", "@@ -1 +1 @@\n-x\n+z\n");
    let one = fingerprint(&diff(vec![a.clone(), b.clone()])).unwrap();
    let two = fingerprint(&diff(vec![b, a])).unwrap();
    assert_eq!(one, two);
}

#[test]
fn whitespace_line_numbers_and_blobs_each_count() {
    let base = file("a.rs", "@@ -1 +1 @@\n-x\n+y\n");
    let print = |f: FileDiff| fingerprint(&diff(vec![f])).unwrap();
    let original = print(base.clone());
    let spaced = print(file("a.rs", "@@ -1 +1 @@\n-x\n+y \n"));
    let moved = print(file("a.rs", "@@ -2 +2 @@\n-x\n+y\n"));
    let other_blob = print(FileDiff {
        new_blob: Some("b".repeat(40)),
        ..base.clone()
    });
    let mode = print(FileDiff {
        new_mode: Some("100755".into()),
        ..base
    });
    for other in [&spaced, &moved, &other_blob, &mode] {
        assert_ne!(&original, other);
        assert_eq!(original.first_difference(other), Some("a.rs"));
    }
}

#[test]
fn an_extra_file_is_named() {
    let a = file("a.rs", "@@ -1 +1 @@\n-x\n+y\n");
    let one = fingerprint(&diff(vec![a.clone()])).unwrap();
    let two = fingerprint(&diff(vec![a, file("z.rs", "@@ -1 +1 @@\n-q\n+r\n")])).unwrap();
    assert_eq!(one.first_difference(&two), Some("z.rs"));
    assert_eq!(one.first_difference(&one), None);
}

#[test]
fn what_the_forge_does_not_show_whole_has_no_fingerprint() {
    let ok = file("a.rs", "@@ -1 +1 @@\n-x\n+y\n");
    let cases: Vec<(ChangeDiff, &str)> = vec![
        (
            ChangeDiff {
                cut: Some("the forge lists at most 300 files".into()),
                ..diff(vec![ok.clone()])
            },
            "300 files",
        ),
        (
            diff(vec![FileDiff {
                patch: None,
                ..ok.clone()
            }]),
            "did not show the diff of `a.rs`",
        ),
        (
            diff(vec![FileDiff {
                binary: true,
                patch: None,
                ..ok.clone()
            }]),
            "binary change",
        ),
        (
            diff(vec![FileDiff {
                new_mode: Some(SUBMODULE_MODE.into()),
                ..ok.clone()
            }]),
            "submodule",
        ),
        (
            diff(vec![FileDiff {
                old_mode: None,
                ..ok
            }]),
            "file mode",
        ),
    ];
    for (d, why) in cases {
        let err = fingerprint(&d).unwrap_err();
        assert!(err.contains(why), "{err} should say {why}");
    }
}

#[test]
fn an_added_binary_with_its_blob_id_is_identified() {
    let f = FileDiff {
        status: FileStatus::Added,
        old_mode: None,
        binary: true,
        patch: None,
        ..file("logo.png", "")
    };
    let text = render(&f);
    assert!(text.contains("Binary files /dev/null and b/logo.png differ"));
    assert!(fingerprint(&diff(vec![f])).is_ok());
}

#[test]
fn a_modified_file_shown_without_any_change_is_withheld() {
    // Git never lists a modified file without hunks unless its mode changed: an empty patch
    // with equal modes is a diff the forge did not show.
    let f = file("a.rs", "");
    let err = fingerprint(&diff(vec![f])).unwrap_err();
    assert!(err.contains("did not show the diff of `a.rs`"), "{err}");
}

#[test]
fn resulting_blobs_count_where_git_writes_no_index_line() {
    // A mode change or a pure rename has no hunks: its resulting blob must still tell two
    // such diffs apart (the old content may have moved on the target).
    let mode_change = FileDiff {
        new_mode: Some("100755".into()),
        ..file("run.sh", "")
    };
    let rename = FileDiff {
        status: FileStatus::Renamed,
        old_path: "old.rs".into(),
        ..file("new.rs", "")
    };
    for f in [mode_change, rename] {
        let one = fingerprint(&diff(vec![f.clone()])).unwrap();
        let other = fingerprint(&diff(vec![FileDiff {
            new_blob: Some("b".repeat(40)),
            ..f.clone()
        }]))
        .unwrap();
        assert_ne!(one, other, "{f:?}");
        assert_eq!(one.first_difference(&other), Some(f.path()));
        // What is rendered stays git's own text.
        assert!(!render(&f).contains("index "), "{}", render(&f));
    }
}

#[test]
fn gitlab_empty_diffs_are_withheld_unless_git_would_show_none() {
    use crate::forge::gitlab::compare::from_compare;
    let one = |d: &str| {
        let body = format!(r#"{{"commits": [], "diffs": [{d}]}}"#);
        fingerprint(&from_compare(body.as_bytes(), &"c".repeat(40)))
    };
    let withheld = [
        // Modified, modes equal, nothing shown.
        r#"{"old_path": "a.rs", "new_path": "a.rs", "a_mode": "100644", "b_mode": "100644", "new_file": false, "renamed_file": false, "deleted_file": false, "diff": ""}"#,
        // No `diff` at all.
        r#"{"old_path": "a.rs", "new_path": "a.rs", "a_mode": "100644", "b_mode": "100644", "new_file": false, "renamed_file": false, "deleted_file": false}"#,
        r#"{"old_path": "a.rs", "new_path": "a.rs", "a_mode": "100644", "b_mode": "100644", "new_file": false, "renamed_file": false, "deleted_file": false, "diff": null}"#,
    ];
    for d in withheld {
        let err = one(d).unwrap_err();
        assert!(
            err.contains("did not show the diff of `a.rs`"),
            "{d}: {err}"
        );
    }
    let shown_as_git_would = [
        // A pure rename, a mode change, an empty new file, an empty file deleted.
        r#"{"old_path": "a.rs", "new_path": "b.rs", "a_mode": "100644", "b_mode": "100644", "new_file": false, "renamed_file": true, "deleted_file": false, "diff": ""}"#,
        r#"{"old_path": "a.sh", "new_path": "a.sh", "a_mode": "100644", "b_mode": "100755", "new_file": false, "renamed_file": false, "deleted_file": false, "diff": ""}"#,
        r#"{"old_path": "e", "new_path": "e", "a_mode": "0", "b_mode": "100644", "new_file": true, "renamed_file": false, "deleted_file": false, "diff": ""}"#,
        r#"{"old_path": "e", "new_path": "e", "a_mode": "100644", "b_mode": "0", "new_file": false, "renamed_file": false, "deleted_file": true, "diff": ""}"#,
    ];
    for d in shown_as_git_would {
        assert!(one(d).is_ok(), "{d}: {:?}", one(d));
    }
}
