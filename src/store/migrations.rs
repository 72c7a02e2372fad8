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

/// Migrations applied to the database that `migrator` does not have, as `0034_name`: a newer
/// changegate wrote the database. A database without the migrations table has none.
pub(super) async fn unknown(
    pool: &AnyPool,
    migrator: &Migrator,
    backend: super::Backend,
) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let probe = match backend {
        super::Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        super::Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
        }
    };
    let tables: i64 = sqlx::query_scalar(probe)
        .fetch_one(pool)
        .await
        .context("cannot read whether the database has migrations")?;
    if tables == 0 {
        return Ok(vec![]);
    }
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .context("cannot read which migrations the database holds")?;
    Ok(applied
        .into_iter()
        .filter(|(v, _)| !migrator.iter().any(|m| m.version == *v))
        .map(|(v, d)| format!("{v:04}_{}", d.replace(' ', "_")))
        .collect())
}
