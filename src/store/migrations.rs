//! The schema's state: which migrations a database lacks. Read-only commands refuse a database
//! that lacks some (they never migrate); `changegate migrate` names what it applied.

use sqlx::AnyPool;
use sqlx::migrate::Migrator;

/// The migrations of `migrator` not applied to the database, as `0007_forge_replies`. A
/// database without the migrations table lacks all of them.
pub(super) async fn pending(pool: &AnyPool, migrator: &Migrator) -> Vec<String> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    migrator
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
        .collect()
}
