//! PostgreSQL for tests: the machine's server, its URL from CHANGEGATE_TEST_DATABASE_URL
//! (set and checked by `.ci/run`), one fresh schema per test.
#![allow(dead_code)]

use sqlx::Executor;

/// The base URL, or `None` outside CI when it is not set (the test is then skipped, loudly).
pub fn base_url() -> Option<String> {
    match std::env::var("CHANGEGATE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CHANGEGATE_TEST_DATABASE_URL is not set: .ci/run must point the tests at PostgreSQL"
            );
            // Straight to the handle: the test harness captures `eprintln!` of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipping: set CHANGEGATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run the PostgreSQL tests"
            );
            None
        }
    }
}

/// A URL whose connections use a new, empty schema.
pub async fn fresh_schema(base: &str) -> String {
    sqlx::any::install_default_drivers();
    let schema = format!("cg_test_{}_{}", std::process::id(), rand_suffix());
    let pool = sqlx::AnyPool::connect(base)
        .await
        .expect("PostgreSQL reachable");
    pool.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", nanos % 0xffff_ffff_ffff)
}
