//! Commands that read never create or migrate a database: run in the wrong directory, they say
//! where they looked instead of reporting an empty history with exit 0.

use std::path::Path;
use std::process::Command;

fn changegate(dir: &Path, db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(args)
        .current_dir(dir)
        .env(
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .env(
            "CHANGEGATE__RULES__PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"),
        )
        .env_remove("CHANGEGATE__GITHUB__TOKEN")
        .env_remove("CHANGEGATE__GITLAB__TOKEN")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn reading_commands_refuse_a_missing_database_and_create_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    for args in [
        &["audit", "--forge", "github", "--repo", "acme/platypus"][..],
        &["audit", "verify"],
        &["jobs"],
        &["jobs", "--stats"],
        &["overdue"],
        &["retry", "1"],
        &["serve", "--no-migrate"],
    ] {
        let (code, out, err) = changegate(dir.path(), &db, args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.contains("no database at") && err.contains(&db.display().to_string()),
            "{args:?}: {err}"
        );
        assert!(!db.exists(), "{args:?} created the database");
    }
}

#[test]
fn migrate_creates_and_names_what_it_applied_then_reading_commands_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let (code, out, err) = changegate(dir.path(), &db, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().next().unwrap().starts_with("applied 0001_"),
        "{out}"
    );
    assert!(db.exists());
    let (code, out, _) = changegate(dir.path(), &db, &["migrate"]);
    assert_eq!((code, out.trim()), (0, "the database is up to date"));

    // jobs: a header, then "no jobs".
    let (code, out, _) = changegate(dir.path(), &db, &["jobs"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("id\tstate\tchange"), "{out}");
    assert!(lines[1].starts_with("no jobs"), "{out}");

    // audit of a repository without records: empty JSON on stdout, the reason on stderr.
    let (code, out, err) = changegate(
        dir.path(),
        &db,
        &["audit", "--forge", "github", "--repo", "acme/nothing"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "[]");
    assert!(
        err.contains("no audit records for GitHub acme/nothing"),
        "{err}"
    );
}

#[test]
fn a_database_behind_the_binary_is_refused_until_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    // A SQLite file that is not (yet) a changegate database.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE other (x INTEGER);")
        .unwrap();
    let (code, _, err) = changegate(dir.path(), &db, &["overdue"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("not migrated") && err.contains("changegate migrate"),
        "{err}"
    );
    let tables: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "nothing was migrated");
}
