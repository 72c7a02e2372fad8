//! Test harness: the real router over a temporary SQLite store, signed-request builders, and
//! the payload corpus in `tests/fixtures/` (real GitHub and GitLab payloads, sources and
//! licences in its README).
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use changegate::forge::{RetryPolicy, github::GithubClient, gitlab::GitlabClient};
use changegate::rules::{self, SharedRules};
use changegate::server::{self, AppState, gitlab::GitlabVerifier};
use changegate::store::Store;
use changegate::worker::{ForgeClients, MembershipCache, Worker};
use std::time::Duration;

pub mod browser;
pub mod commit_graph;
pub mod compare_world;
pub mod deploy_hooks;
pub mod deploy_world;
pub mod git_repo;
pub mod github_comments;
pub mod github_setup;
pub mod github_world;
pub mod gitlab_checks;
pub mod gitlab_comments;
pub mod gitlab_contract;
pub mod gitlab_pipelines;
pub mod gitlab_world;
pub mod pg;
use changegate::store::Wake;
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tower::ServiceExt;

pub const GITHUB_SECRET: &[u8] = b"test-github-secret";
pub const GITLAB_TOKEN: &str = "test-gitlab-token";

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One row of `manifest.tsv`.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    pub file: String,
    pub forge: String,
    pub event_header: String,
    pub action: String,
    pub exercises: String,
    pub body: Vec<u8>,
}

pub fn corpus() -> Vec<CorpusFile> {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("corpus manifest");
    manifest
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            CorpusFile {
                file: cols[0].to_string(),
                forge: cols[1].to_string(),
                event_header: cols[2].to_string(),
                action: cols[3].to_string(),
                exercises: cols[4].to_string(),
                body: std::fs::read(dir.join(cols[0])).expect("corpus file"),
            }
        })
        .collect()
}

/// Fast retries for tests: three tries, milliseconds apart; rate-limit waits up to 2 s.
pub fn test_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        max_wait: Duration::from_secs(2),
    }
}

pub struct TestApp {
    /// Jobs this test expects to fail or retry; any other failed or retrying job fails the
    /// test when the queue is drained.
    pub expected_failures: std::sync::atomic::AtomicUsize,
    pub router: Router,
    /// The receiver's signal that work was queued (pass it to `Worker::run`).
    pub wake: Arc<Wake>,
    pub store: Store,
    pub worker: Worker,
    /// The store's and worker's clock ([`test_clock`] unless the test built the app with its
    /// own, see [`TestApp::with_forges_at`]).
    pub clock: changegate::clock::Clock,
    _dir: tempfile::TempDir,
}

/// The shipped rules, allowing repositories a `.changegate.yaml` of their own.
pub fn rules_allowing_repositories() -> SharedRules {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.yaml");
    let text = std::fs::read_to_string(path).expect("shipped rules");
    let text = format!("{text}\nrepository_rules:\n  path: .changegate.yaml\n");
    Arc::new(RwLock::new(Arc::new(
        rules::parse("rules.yaml", &text).expect("valid rules"),
    )))
}

pub fn shipped_rules() -> SharedRules {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.yaml");
    Arc::new(RwLock::new(Arc::new(
        rules::load(&path).expect("shipped rules"),
    )))
}

/// The clock of tests that do not move time: running, from a fixed day outside every blocked
/// period of the shipped rules, so that no test depends on today's date.
/// The shipped rules without their blocked periods, for tests that run the binary (on the
/// system's clock): their verdicts must not depend on today's date. A file per test process.
pub fn undated_rules() -> std::path::PathBuf {
    // Written once per test process: tests running in parallel must never read it half written.
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(write_undated_rules).clone()
}

fn write_undated_rules() -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"))
        .expect("shipped rules");
    let mut out = vec![];
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("blocked_periods:") {
            skipping = true;
            continue;
        }
        if skipping && (line.starts_with(' ') || line.is_empty()) {
            continue;
        }
        skipping = false;
        out.push(line);
    }
    let path = std::env::temp_dir().join(format!("changegate-undated-{}.yaml", std::process::id()));
    std::fs::write(&path, out.join("\n")).expect("write rules");
    changegate::rules::load(&path).expect("the undated rules are valid");
    path
}

/// One for the whole test process, so that several apps on one database (replicas) agree.
pub fn test_clock() -> changegate::clock::Clock {
    static CLOCK: std::sync::OnceLock<changegate::clock::Clock> = std::sync::OnceLock::new();
    CLOCK
        .get_or_init(|| {
            changegate::clock::Clock::starting_at(
                chrono::DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z")
                    .expect("a time")
                    .with_timezone(&chrono::Utc),
            )
        })
        .clone()
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(configure: impl FnOnce(&mut AppState)) -> Self {
        Self::build(configure, ForgeClients::default()).await
    }

    /// The app with forge clients pointed at fakes (GitHub API base URL, GitLab base URL).
    pub async fn with_forges(github: Option<&str>, gitlab: Option<&str>) -> Self {
        Self::with_forges_at(github, gitlab, test_clock()).await
    }

    /// As [`Self::with_forges`], reading the given clock (tests move a manual one).
    pub async fn with_forges_at(
        github: Option<&str>,
        gitlab: Option<&str>,
        clock: changegate::clock::Clock,
    ) -> Self {
        let retry = test_retry();
        let gh = github.map(|u| GithubClient::new(u, "gh-token", retry.clone()).expect("client"));
        let gl = gitlab.map(|u| GitlabClient::new(u, "gl-token", retry.clone()).expect("client"));
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let mut app = Self::build_on(&url, dir, |_| {}, ForgeClients::new(gh, gl), clock).await;
        app.worker.dry_run = false;
        app
    }

    async fn build(configure: impl FnOnce(&mut AppState), forges: ForgeClients) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        Self::build_on(&url, dir, configure, forges, test_clock()).await
    }

    /// The app on the database at `url` (PostgreSQL tests), acting on the given fakes.
    pub async fn on_database(url: &str, github: Option<&str>) -> Self {
        let retry = test_retry();
        let gh = github.map(|u| GithubClient::new(u, "gh-token", retry.clone()).expect("client"));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut app =
            Self::build_on(url, dir, |_| {}, ForgeClients::new(gh, None), test_clock()).await;
        app.worker.dry_run = github.is_none();
        app
    }

    /// The app on the database at `url` (a file or PostgreSQL that outlives it: a restart is
    /// a new app on the same URL), acting on the fake GitHub, reading `clock`.
    pub async fn on_database_at(url: &str, github: &str, clock: changegate::clock::Clock) -> Self {
        let gh = GithubClient::new(github, "gh-token", test_retry()).expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut app =
            Self::build_on(url, dir, |_| {}, ForgeClients::new(Some(gh), None), clock).await;
        app.worker.dry_run = false;
        app
    }

    async fn build_on(
        url: &str,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut AppState),
        forges: ForgeClients,
        clock: changegate::clock::Clock,
    ) -> Self {
        let store = Store::open(url)
            .await
            .expect("store")
            .with_clock(clock.clone());
        let forges = forges.with_reply_store(Arc::new(store.replies(64 << 20)));
        let wake = Arc::new(Wake::new());
        let mut state = AppState {
            store: store.clone(),
            writer: changegate::store::DeliveryWriter::spawn(store.clone(), wake.clone())
                .expect("delivery writer"),
            github_secrets: Arc::new(vec![b"old-secret".to_vec(), GITHUB_SECRET.to_vec()]),
            gitlab: Arc::new(GitlabVerifier {
                tokens: vec![GITLAB_TOKEN.as_bytes().to_vec()],
                signing_keys: vec![],
                tolerance_secs: 300,
            }),
            status_check_secrets: Arc::new(vec![]),
            allow_unsigned: false,
            max_body_bytes: 1024 * 1024,
            intake: Arc::new(changegate::server::intake::BodyBudget::new(
                64 * 1024 * 1024,
                Duration::from_secs(30),
            )),
            metrics: None,
            rules_ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            forge_problems: Default::default(),
        };
        configure(&mut state);
        let worker = Worker {
            store: store.clone(),
            rules: shipped_rules(),
            forges: Arc::new(forges),
            dry_run: true,
            status_context: "changegate".into(),
            max_attempts: 3,
            memberships: MembershipCache::new(Duration::from_secs(60)),
            lease: Duration::from_secs(60),
            approval_projects: vec![],
            repo_rules: Default::default(),
            heads: Default::default(),
            received: Default::default(),
            links: None,
            quota_reserve_percent: 10,
            repositories: vec![],
            max_units_per_change_hour: 500,
            gitlab_blocks: Default::default(),
        };
        TestApp {
            expected_failures: Default::default(),
            router: server::app(state),
            wake,
            store,
            worker,
            clock,
            _dir: dir,
        }
    }

    /// Runs every runnable job, then fails the test if a job failed or is waiting to retry,
    /// beyond the ones the test said it expects ([`Self::expect_failed_jobs`]).
    pub async fn drain(&self) -> usize {
        let n = self.worker.drain().await.expect("the store answers");
        let troubled: Vec<_> = self
            .store
            .unfinished_jobs()
            .await
            .expect("the store answers")
            .into_iter()
            .filter(|j| j.state == "failed" || j.last_error.is_some())
            .collect();
        let expected = self
            .expected_failures
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            troubled.len() <= expected,
            "jobs failed or are retrying, and the test did not expect it: {troubled:#?}"
        );
        n
    }

    /// Says that `n` jobs of this test are expected to fail or wait for a retry.
    pub fn expect_failed_jobs(&self, n: usize) {
        self.expected_failures
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router answers");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn github(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> (StatusCode, serde_json::Value) {
        self.send(github_request(event, delivery, body, GITHUB_SECRET))
            .await
    }

    pub async fn gitlab(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> (StatusCode, serde_json::Value) {
        self.send(gitlab_request(event, delivery, body, GITLAB_TOKEN))
            .await
    }
}

pub fn github_request(event: &str, delivery: &str, body: &[u8], secret: &[u8]) -> Request<Body> {
    Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", server::github::sign(secret, body))
        .body(Body::from(body.to_vec()))
        .expect("request")
}

pub fn gitlab_request(event: &str, delivery: &str, body: &[u8], token: &str) -> Request<Body> {
    Request::post("/webhooks/gitlab")
        .header("content-type", "application/json")
        .header("x-gitlab-event", event)
        .header("x-gitlab-event-uuid", delivery)
        .header("x-gitlab-token", token)
        .body(Body::from(body.to_vec()))
        .expect("request")
}
