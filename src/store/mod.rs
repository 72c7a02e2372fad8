//! Durable state: deliveries (dedup), the job queue, change memory and the audit log.
//! SQLite embedded by default; PostgreSQL (`postgres://…`) for several replicas. One set of
//! queries through sqlx's `Any` driver; only the job claim differs (`FOR UPDATE SKIP LOCKED`).

mod approved_diffs;
mod arrivals;
mod audit;
mod batch;
mod budget;
mod chain;
mod commands;
mod debts;
mod deliveries;
mod delivery_thread;
mod deploy_events;
mod deployments;
mod direct;
mod gate;
mod gitlab_blocks;
mod jobs;
mod label_ids;
mod logins;
mod memory;
mod migrations;
#[cfg(test)]
mod plans;
mod received;
mod reeval;
mod replies;
mod timers;
mod wake;

pub use arrivals::Arrival;
pub use audit::{AuditRecord, AuditRow};
pub use batch::DeliveryWriter;
pub use budget::WAITING_FOR_QUOTA;
pub use chain::ChainReport;
pub use commands::Effect as CommandEffect;
pub use deliveries::{Enqueued, Priority};
pub use deploy_events::MergeRecord;
pub use deployments::{CountedSuccess, DecisionRecord, Recorded, StoredDecision, env_key};
pub use jobs::{Job, JobRow};
pub use label_ids::SeenLabel;
pub use memory::{RememberedVerdict, Verdict};
pub use reeval::RulesInForce;
pub use replies::StoredReplies;
pub use timers::{EmergencyRow, EmergencyState, is_internal_delivery};
pub use wake::Wake;

use crate::clock::Clock;
use crate::model::{Change, ChangeEvent};
use anyhow::{Context, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Milliseconds since the Unix epoch, by the system clock (a store reads its own [`Clock`]).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    /// Writes, and reads that must happen inside a write's transaction, through
    /// [`Store::writer`]. On SQLite one connection: writers queue here (woken the moment the
    /// connection is free) instead of in SQLite's busy handler, which sleeps 1, 2, 5, 10… ms
    /// between tries and so set the tail latency of every acknowledgement that met a worker's
    /// commit.
    pool: AnyPool,
    /// On SQLite, the turn to write, shared with the delivery writer ([`gate`]).
    gate: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Plain reads. On SQLite a pool of read-only connections (WAL: they never wait for the
    /// writer); on PostgreSQL the same pool as `pool`.
    reads: AnyPool,
    /// On SQLite, the worker's claims and job ends, on a connection of their own.
    direct: Option<std::sync::Arc<direct::Direct>>,
    /// SQLite's database file (the delivery writer opens its own connection to it).
    sqlite_file: Option<std::path::PathBuf>,
    backend: Backend,
    /// Due times of jobs and timers, leases, audit times: all by this clock.
    clock: Clock,
}

/// Whether opening may create the database and apply migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    CreateAndMigrate,
    Existing,
}

/// The key that serializes work on one change.
pub fn change_key(c: &ChangeEvent) -> String {
    key_of(&c.change)
}

/// The key of a change's memory and queue ([`crate::model::ChangeKey`]).
pub fn key_of(c: &Change) -> String {
    crate::model::ChangeKey::of(c).into_string()
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Ok(Self::open_as(url, Opening::CreateAndMigrate).await?.0)
    }

    /// Opens a database that exists and is migrated, changing nothing: for the commands that
    /// read (`audit`, `jobs`, `overdue`, …) and `serve --no-migrate`. A missing database, or
    /// one with migrations not applied, is an error naming where it looked.
    pub async fn open_existing(url: &str) -> Result<Self> {
        Ok(Self::open_as(url, Opening::Existing).await?.0)
    }

    /// Opens (creating if needed) the database and applies the migrations it lacks, named
    /// in the answer (empty: it was up to date).
    pub async fn migrate(url: &str) -> Result<(Self, Vec<String>)> {
        Self::open_as(url, Opening::CreateAndMigrate).await
    }

    async fn open_as(url: &str, opening: Opening) -> Result<(Self, Vec<String>)> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!(
                "database.url `{}` must start with sqlite:// or postgres://",
                redact(url)
            );
        };
        let url = match (backend, opening) {
            (Backend::Sqlite, Opening::CreateAndMigrate) if !url.contains('?') => {
                format!("{url}?mode=rwc")
            }
            (Backend::Sqlite, Opening::Existing) if !url.contains('?') => format!("{url}?mode=rw"),
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database.url `{}`", redact(&url)))?;
        let sqlite_file = match backend {
            Backend::Sqlite => Some(sqlite_file(&url)?),
            Backend::Postgres => None,
        };
        if let (Some(file), Opening::Existing) = (&sqlite_file, opening)
            && !file.exists()
        {
            anyhow::bail!(
                "no database at {} (database.url `{}`): `changegate serve` or `changegate migrate` creates it; run this where serve keeps its state, or point database.url (--config, CHANGEGATE__DATABASE__URL) at it",
                file.display(),
                redact(&url)
            );
        }
        let sqlite = backend == Backend::Sqlite;
        let pool = pool_options(backend, if sqlite { 1 } else { 8 }, false)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database at `{}`", redact(&url)))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let pending = migrations::pending(&pool, migrator).await;
        let newer = migrations::unknown(&pool, migrator, backend).await?;
        match opening {
            // sqlx would refuse too, naming only a version; say what it means and what to do.
            Opening::CreateAndMigrate if !newer.is_empty() => anyhow::bail!(
                "the database at `{}` holds {} this changegate does not know ({}): a newer changegate migrated it. Run the newer version, or, to roll back, start this one with `changegate serve --no-migrate --allow-newer-database` (see docs/upgrades.md); nothing was changed",
                redact(&url),
                if newer.len() == 1 {
                    "a migration"
                } else {
                    "migrations"
                },
                newer.join(", ")
            ),
            Opening::CreateAndMigrate => migrator
                .run(&pool)
                .await
                .context("cannot apply database migrations")?,
            Opening::Existing => {
                if !pending.is_empty() {
                    anyhow::bail!(
                        "the database at `{}` is not migrated ({} of {} migrations not applied, first {}): run `changegate migrate` (this command changes nothing)",
                        redact(&url),
                        pending.len(),
                        migrator.iter().count(),
                        pending[0]
                    );
                }
            }
        }
        let reads = match backend {
            // Connected after the migrations, which create the file's tables.
            Backend::Sqlite => pool_options(backend, 4, true)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the database at `{}`", redact(&url)))?,
            Backend::Postgres => pool.clone(),
        };
        let gate = sqlite.then(gate::new);
        let direct = match (&sqlite_file, &gate) {
            (Some(file), Some(gate)) => Some(std::sync::Arc::new(direct::Direct::open(
                file,
                gate.clone(),
            )?)),
            _ => None,
        };
        let store = Store {
            pool,
            gate,
            direct,
            reads,
            sqlite_file,
            backend,
            clock: Clock::system(),
        };
        Ok((store, pending))
    }

    /// Migrations applied to the database that this binary does not have (`0034_name`): a
    /// newer changegate migrated it. Callers that only open existing databases decide what
    /// that means for them (read-only commands warn; `serve --no-migrate` refuses unless told).
    pub async fn newer_migrations(&self) -> Result<Vec<String>> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrations::unknown(&self.reads, migrator, self.backend).await
    }

    /// The same store read through another clock (tests move time with a manual one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// SQLite's database file; `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A key every replica shares: the stored one, or `fresh` stored now if there is none
    /// (the first replica to ask wins; the others read its key).
    pub async fn shared_key(&self, name: &str, fresh: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO bot_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(fresh.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot store a key")?;
        let value: String = sqlx::query_scalar("SELECT value FROM bot_keys WHERE name = $1")
            .bind(name.to_string())
            .fetch_one(&mut *self.writer().await?)
            .await
            .context("cannot read a key")?;
        Ok(value)
    }

    /// A shared key if one was stored (`changegate link` reads the link key without making one).
    pub async fn stored_key(&self, name: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM bot_keys WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.reads)
            .await
            .context("cannot read a key")
    }

    /// Whether the database answers (for readiness).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.reads).await.is_ok()
    }
}

/// The database file of a SQLite URL. An in-memory database is refused: the store's
/// connections (writer, readers, the delivery writer) would each see a database of their own.
fn sqlite_file(url: &str) -> Result<std::path::PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid database.url `{}`", redact(url)))?;
    let file = options.get_filename();
    let name = file.to_string_lossy();
    if name == ":memory:" || name.starts_with("file:sqlx-in-memory") || url.contains("mode=memory")
    {
        anyhow::bail!(
            "database.url `{}` is an in-memory SQLite database; changegate needs a file (sqlite://path/to/state.db)",
            redact(url)
        );
    }
    Ok(file.to_path_buf())
}

/// Connections of one pool; SQLite's get their pragmas as they connect (`read_only`: readers
/// that refuse to write, so that a write sent to the wrong pool fails in tests instead of
/// waiting behind the writer).
fn pool_options(backend: Backend, max: u32, read_only: bool) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        // A file on this machine does not drop its connection; the ping cost every write a
        // round trip to SQLite's thread.
        .test_before_acquire(backend != Backend::Sqlite)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL for concurrent readers; busy_timeout: a writer of another process
                    // is waited for instead of failing. NORMAL: the worker's commits do not
                    // each wait for the disk (a power loss can only drop a suffix of them,
                    // and a job whose end was dropped runs again); deliveries are committed
                    // with FULL, which syncs the log up to and including them before the
                    // acknowledgement.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -8192;")
                        .await?;
                    if read_only {
                        conn.execute("PRAGMA query_only = ON;").await?;
                    }
                }
                Ok(())
            })
        })
}

/// A database URL without its password (in the user info or a `password=` parameter), for
/// messages.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &base[..scheme + 3], &base[at..])
        }
        _ => base.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_in_memory_sqlite_database_is_refused() {
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            let e = super::sqlite_file(url).unwrap_err().to_string();
            assert!(e.contains("in-memory"), "{url}: {e}");
        }
        assert_eq!(
            super::sqlite_file("sqlite://state.db?mode=rwc").unwrap(),
            std::path::PathBuf::from("state.db")
        );
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            super::redact("postgres://bot:s3cret@db:5432/cg"),
            "postgres://bot:***@db:5432/cg"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            super::redact("postgres://db/cg?user=bot&password=s3cret&sslmode=require"),
            "postgres://db/cg?user=bot&password=***&sslmode=require"
        );
        assert_eq!(
            super::redact("postgres://bot:a@b@db/cg?PASSWORD=x"),
            "postgres://bot:***@db/cg?PASSWORD=***"
        );
        assert_eq!(
            super::redact("sqlite://x.db?mode=rwc"),
            "sqlite://x.db?mode=rwc"
        );
    }

    #[test]
    fn migrations_are_kept_equivalent() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |d: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir.join(d))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("sqlite"), names("postgres"));
        for name in names("sqlite") {
            let norm = |d: &str| {
                std::fs::read_to_string(dir.join(d).join(&name))
                    .unwrap()
                    .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
                    .lines()
                    .filter(|l| !l.starts_with("-- Kept equivalent"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(
                norm("sqlite"),
                norm("postgres"),
                "{name} differs beyond the id column type"
            );
        }
    }
}
