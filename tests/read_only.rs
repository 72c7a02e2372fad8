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

/// A migration this binary does not know, as a newer changegate would leave it.
fn migrated_by_a_newer_version(dir: &Path, db: &Path) {
    let (code, _, err) = changegate(dir, db, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9001, 'future change', 1, X'00', 0);
             CREATE TABLE future_facts (x INTEGER);",
        )
        .unwrap();
}

#[test]
fn a_database_a_newer_version_migrated_is_read_with_a_warning_and_not_served_silently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    migrated_by_a_newer_version(dir.path(), &db);

    // Read-only commands still read, and say plainly what they do not know.
    for args in [
        &["jobs"][..],
        &["audit", "verify"],
        &["overdue"],
        &["audit", "--forge", "github", "--repo", "acme/platypus"],
    ] {
        let (code, _, err) = changegate(dir.path(), &db, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            err.contains("warning") && err.contains("9001_future_change"),
            "{args:?}: {err}"
        );
    }

    // `serve --no-migrate` refuses unless the operator says it is a rollback; plain `serve`
    // and `migrate` refuse too (they cannot migrate backwards), changing nothing.
    for args in [&["serve", "--no-migrate"][..], &["serve"], &["migrate"]] {
        let (code, out, err) = changegate(dir.path(), &db, args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.contains("9001_future_change")
                && err.contains("newer changegate")
                && err.contains("--allow-newer-database"),
            "{args:?}: {err}"
        );
    }
    let versions: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT max(version) FROM _sqlx_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(versions, 9001, "the record of the newer migration is kept");

    // The explicit flag starts it, with a warning naming the migration.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["serve", "--no-migrate", "--allow-newer-database"])
        .current_dir(dir.path())
        .env(
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .env(
            "CHANGEGATE__RULES__PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"),
        )
        .env("CHANGEGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("CHANGEGATE__GITHUB__WEBHOOK_SECRET", "a-test-secret")
        .env_remove("CHANGEGATE__GITHUB__TOKEN")
        .env_remove("CHANGEGATE__GITLAB__TOKEN")
        .env("CHANGEGATE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("serve exited ({status}): {err}");
        }
        assert!(start.elapsed().as_secs() < 30, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("9001_future_change"), "{err}");
}
