//! The worker's reads and writes of one change go through an index bounded by what they need:
//! a plan that walks every job the change ever had makes a flood of one change quadratic.

use super::Store;
use super::budget::UNITS_SPENT;
use super::jobs::{COVER_NEWEST, COVER_TAKE};
use super::received::RECEIVED_SINCE;

/// SQLite's plan for `sql`, one line per step (parameters bound as numbers: SQLite plans a
/// statement when preparing it, not by the values bound).
fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    for i in 1..=stmt.parameter_count() {
        stmt.raw_bind_parameter(i, 1i64).unwrap();
    }
    let mut rows = stmt.raw_query();
    let mut steps = vec![];
    while let Some(row) = rows.next().unwrap() {
        steps.push(row.get::<_, String>(3).unwrap());
    }
    steps
}

#[tokio::test]
async fn a_changes_jobs_are_read_through_bounded_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let store = Store::open(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&file).unwrap();
    for (sql, index, what) in [
        (
            RECEIVED_SINCE,
            "jobs_change_id (change_key=? AND id>?)",
            "received since",
        ),
        (
            UNITS_SPENT,
            "jobs_change_spent (change_key=? AND updated_at>?)",
            "units spent",
        ),
        (
            COVER_TAKE,
            "jobs_change_id (change_key=? AND id>? AND id<?)",
            "cover",
        ),
        (
            COVER_NEWEST,
            "(change_key=? AND state=? AND id>?)",
            "newest",
        ),
    ] {
        let steps = plan(&conn, sql);
        assert!(steps.iter().any(|s| s.contains(index)), "{what}: {steps:?}");
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN")),
            "{what}: {steps:?}"
        );
    }
    drop(store);
}
