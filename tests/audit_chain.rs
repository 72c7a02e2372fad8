//! The tamper-evident audit log: one hash chain per repository; `changegate audit verify`
//! finds an edited, a deleted and a reordered record (SQLite and PostgreSQL); retention
//! purges leave a checkpoint; replicas appending at once form one valid chain.

mod common;

use changegate::clock::Clock;
use changegate::store::{AuditRecord, Store};
use common::pg;
use sqlx::Executor;

async fn append(store: &Store, repo: &str, n: u64) {
    store
        .audit(&AuditRecord {
            forge: "github",
            repo,
            number: n,
            delivery_id: Some("d"),
            kind: "decision",
            rules_hash: Some("h"),
            detail: serde_json::json!({ "verdict": "pass", "n": n }),
        })
        .await
        .unwrap();
}

async fn broken(store: &Store) -> Option<String> {
    let reports = store
        .verify_audit(Some("github"), Some("acme/platypus"))
        .await
        .unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports[0].broken.clone()
}

async fn raw(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    pool.execute(sql).await.unwrap();
    pool.close().await;
}

/// Five records, then each kind of tampering on a fresh copy of the chain.
async fn tampering_is_found(fresh: impl AsyncFn() -> String) {
    for (tamper, expected) in [
        (
            "UPDATE audit SET detail = '{\"verdict\":\"fail\"}' WHERE seq = 3",
            "(#3, about acme/platypus#3) does not match its hash (edited)",
        ),
        ("DELETE FROM audit WHERE seq = 2", "#2 is missing (deleted)"),
        (
            "UPDATE audit SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3)",
            "does not follow the record before it",
        ),
        (
            "DELETE FROM audit WHERE seq = 5",
            "the newest records were deleted",
        ),
    ] {
        let url = fresh().await;
        let store = Store::open(&url).await.unwrap();
        for n in 1..=5 {
            append(&store, "acme/platypus", n).await;
        }
        append(&store, "acme/other", 9).await;
        assert_eq!(broken(&store).await, None);
        raw(&url, tamper).await;
        let why = broken(&store)
            .await
            .unwrap_or_else(|| panic!("{tamper} went unseen"));
        assert!(why.contains(expected), "{tamper}: {why}");
        // Other chains are not affected.
        let other = store.verify_audit(None, Some("acme/other")).await.unwrap();
        assert_eq!(other[0].broken, None);
    }
}

#[tokio::test]
async fn sqlite_tampering_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU32::new(0);
    let fresh = async || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("sqlite://{}", dir.path().join(format!("a{n}.db")).display())
    };
    tampering_is_found(fresh).await;
}

#[tokio::test]
async fn postgres_tampering_is_found() {
    let Some(base) = pg::base_url() else { return };
    let fresh = async || pg::fresh_schema(&base).await;
    tampering_is_found(fresh).await;
}

#[tokio::test]
async fn a_purge_leaves_a_checkpoint_and_the_chain_holds() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let clock = Clock::manual(chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap());
    let store = Store::open(&url).await.unwrap().with_clock(clock.clone());
    for n in 1..=3 {
        append(&store, "acme/platypus", n).await;
    }
    clock.advance(chrono::Duration::days(10));
    for n in 4..=5 {
        append(&store, "acme/platypus", n).await;
    }
    let removed = store.purge_older_than(5 * 86_400_000).await.unwrap();
    assert_eq!(removed, 3);
    let reports = store.verify_audit(None, None).await.unwrap();
    assert_eq!(reports[0].broken, None, "{reports:?}");
    assert_eq!(reports[0].records, 2);
    // Deleting the first remaining record is still seen.
    raw(&url, "DELETE FROM audit WHERE seq = 4").await;
    assert!(broken(&store).await.unwrap().contains("#4 is missing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_appending_at_once_form_one_chain() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    let mut tasks = tokio::task::JoinSet::new();
    for r in 0..3u64 {
        let store = Store::open(&url).await.unwrap();
        tasks.spawn(async move {
            for n in 0..40 {
                append(&store, "acme/platypus", r * 100 + n).await;
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    let store = Store::open(&url).await.unwrap();
    let reports = store.verify_audit(None, None).await.unwrap();
    assert_eq!(reports[0].broken, None, "{reports:?}");
    assert_eq!(reports[0].records, 120);
}

fn record(repo: &str, n: u64) -> AuditRecord<'_> {
    AuditRecord {
        forge: "github",
        repo,
        number: n,
        delivery_id: Some("d"),
        kind: "action",
        rules_hash: Some("h"),
        detail: serde_json::json!({ "n": n }),
    }
}

/// A job's records go in one transaction (`audit_all`, and with its completion): runs of one
/// chain's records and a switch to another, beside single appends of other replicas.
async fn records_written_together_keep_every_chain(url: &str) {
    let mut tasks = tokio::task::JoinSet::new();
    for r in 0..3u64 {
        let store = Store::open(url).await.unwrap();
        tasks.spawn(async move {
            for n in 0..15 {
                let id = r * 100 + n;
                if r == 0 {
                    append(&store, "acme/platypus", id).await;
                    continue;
                }
                let records = [
                    record("acme/platypus", id),
                    record("Acme/Platypus", id),
                    record("acme/other", id),
                ];
                if n % 2 == 0 {
                    store.audit_all(&records).await.unwrap();
                } else {
                    // A job id that is not there: the records are still written.
                    store.complete_with_audit(-1, 0, 0, &records).await.unwrap();
                }
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    let store = Store::open(url).await.unwrap();
    let mut reports = store.verify_audit(None, None).await.unwrap();
    reports.sort_by(|a, b| a.repo.cmp(&b.repo));
    assert!(reports.iter().all(|r| r.broken.is_none()), "{reports:?}");
    let counts: Vec<(&str, u64)> = reports
        .iter()
        .map(|r| (r.repo.as_str(), r.records))
        .collect();
    assert_eq!(
        counts,
        vec![("acme/other", 30), ("acme/platypus", 15 + 2 * 30)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_together_keep_every_chain_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    records_written_together_keep_every_chain(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_together_keep_every_chain_postgres() {
    let Some(base) = pg::base_url() else { return };
    let url = pg::fresh_schema(&base).await;
    records_written_together_keep_every_chain(&url).await;
}

#[test]
fn the_verify_command_names_the_broken_record() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&url).await.unwrap();
        for n in [20, 21, 22] {
            append(&store, "acme/platypus", n).await;
        }
    });
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_changegate"))
            .args(["audit", "verify", "--forge", "github"])
            .env("CHANGEGATE__DATABASE__URL", &url)
            .env("CHANGEGATE_LOG", "warn")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let ok = run();
    let out = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("github acme/platypus: ok, 3 records, head "),
        "{out}"
    );
    rt.block_on(raw(&url, "UPDATE audit SET kind = 'action' WHERE seq = 2"));
    let bad = run();
    let out = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert!(!bad.status.success());
    // The broken record is named by its position and by the change it is about.
    assert!(
        out.contains("BROKEN")
            && out.contains("(#2, about acme/platypus#21) does not match its hash (edited)"),
        "{out}"
    );
}
