//! Operating `changegate serve`: readiness, metrics, rules reloaded without a restart.

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &std::path::Path, port: u16) -> Serve {
    serve_with(dir, port, &[])
}

fn serve_with(dir: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Serve {
    Serve(
        Command::new(env!("CARGO_BIN_EXE_changegate"))
            .arg("serve")
            .envs(env.iter().copied())
            .env("CHANGEGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "CHANGEGATE__DATABASE__URL",
                format!("sqlite://{}", dir.join("s.db").display()),
            )
            .env("CHANGEGATE__RULES__PATH", dir.join("rules.yaml"))
            .env(
                "CHANGEGATE__GITHUB__WEBHOOK_SECRET",
                std::str::from_utf8(GITHUB_SECRET).unwrap(),
            )
            .env("CHANGEGATE__LOG__JSON", "true")
            // Small enough that a refused body still fits the socket buffers (no broken pipe).
            .env("CHANGEGATE__SERVER__MAX_BODY_BYTES", "65536")
            .env("CHANGEGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts"),
    )
}

async fn until<F: AsyncFn() -> bool>(what: &str, f: F) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_metrics_and_rules_reload() {
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("rules.yaml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"),
        &rules_path,
    )
    .unwrap();
    let port = free_port();
    let mut serve = serve(dir.path(), port);
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    until("healthz", async || {
        client.get(url("/healthz")).send().await.is_ok()
    })
    .await;

    until("ready", async || {
        client
            .get(url("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false)
    })
    .await;
    let body = std::fs::read(corpus_dir().join("github/pull_request.opened.1.json")).unwrap();
    let post = |delivery: &'static str| {
        client
            .post(url("/webhooks/github"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                changegate::server::github::sign(GITHUB_SECRET, &body),
            )
            .body(body.clone())
            .send()
    };
    assert_eq!(post("m1").await.unwrap().status().as_u16(), 202);
    // Its own client: the server may close that connection early, and a pooled connection
    // closed under the next request would fail it.
    let big = reqwest::Client::new()
        .post(url("/webhooks/github"))
        .header("x-github-event", "pull_request")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await;
    // The server may answer 413 and close before the client has written the whole body.
    if let Ok(big) = big {
        assert_eq!(big.status().as_u16(), 413);
    }
    let wrong = client
        .post(url("/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "forged-1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    let metrics = async || {
        client
            .get(url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    until("the decision", async || {
        metrics()
            .await
            .contains("changegate_decisions_total{verdict=\"fail\"} 1")
    })
    .await;

    // An invalid edit is refused and counted; the last good rules stay (still ready).
    std::fs::write(&rules_path, "version: 1\nenforce: []\n").unwrap();
    until("the refusal", async || {
        metrics()
            .await
            .contains("changegate_rules_reloads_total{result=\"invalid\"}")
    })
    .await;
    assert_eq!(
        client
            .get(url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // A valid edit is picked up without a restart.
    std::fs::write(
        &rules_path,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap()
            + "\n# edited\n",
    )
    .unwrap();
    until("the reload", async || {
        metrics()
            .await
            .contains("changegate_rules_reloads_total{result=\"ok\"} 1")
    })
    .await;

    // The decision is counted before its job is marked done: wait for that too.
    until("the queue drains", async || {
        metrics().await.contains("changegate_queue_depth 0")
    })
    .await;
    let page = metrics().await;
    for name in [
        "changegate_webhooks_received_total{forge=\"github\",event=\"pull_request\",outcome=\"queued\"} 1",
        "changegate_webhooks_received_total{forge=\"github\",event=\"other\",outcome=\"unauthorized\"} 1",
        "changegate_signature_failures_total{forge=\"github\"} 1",
        "changegate_webhooks_received_total{forge=\"github\",event=\"other\",outcome=\"too_large\"} 1",
        "changegate_queue_depth 0",
        "changegate_queue_oldest_age_seconds 0",
        "changegate_job_duration_seconds_bucket{outcome=\"done\",le=\"0.01\"}",
        "changegate_job_duration_seconds_count{outcome=\"done\"}",
        "changegate_rules_reloads_total{result=\"ok\"} 1",
    ] {
        assert!(page.contains(name), "{name} missing from:\n{page}");
    }
    for name in changegate::telemetry::ALL {
        assert!(name.starts_with("changegate_"), "{name}");
    }

    // The refusal names the forge and the delivery; GitLab, not set up, is not warned about.
    serve.0.kill().unwrap();
    let mut log = String::new();
    use std::io::Read;
    serve
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let refused = log
        .lines()
        .find(|l| l.contains("webhook refused") && l.contains("forged-1"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(refused.contains(r#""forge":"github""#), "{refused}");
    assert!(
        !log.lines()
            .any(|l| l.contains(r#""level":"WARN""#) && l.contains("GitLab")),
        "{log}"
    );
}

/// Runs `serve` until it exits by itself (or 20 s pass): its exit status and stderr.
fn serve_refused(dir: &std::path::Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = serve_with(dir, free_port(), env);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn invalid_rules_at_start_refuse_the_start_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "version: 1\nenforce:\n  - kind: merge_request\nrules:\n  - name: a\n    blok: true\n  - name: b\n    requre: [x]\n",
    )
    .unwrap();
    let (code, err) = serve_refused(dir.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("rules.yaml:6:5: unknown key `blok`"), "{err}");
    assert!(
        err.contains("rules.yaml:8:5: unknown key `requre`"),
        "{err}"
    );
    assert!(err.contains("not started"), "{err}");
    assert!(
        !dir.path().join("s.db").exists(),
        "nothing was created before the refusal"
    );
}

#[test]
fn placeholder_secrets_refuse_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"),
        dir.path().join("rules.yaml"),
    )
    .unwrap();
    let (code, err) = serve_refused(
        dir.path(),
        &[("CHANGEGATE__GITLAB__WEBHOOK_SECRET", "CHANGE-ME")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("gitlab.webhook_secret") && err.contains("CHANGE-ME"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_forge_token_fails_readiness_with_the_reason() {
    let world = common::github_world::GithubWorld::start().await;
    world.fail_next(
        "GET /user",
        wiremock::ResponseTemplate::new(401)
            .set_body_json(serde_json::json!({ "message": "Bad credentials" })),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml"),
        dir.path().join("rules.yaml"),
    )
    .unwrap();
    let port = free_port();
    let url = world.url();
    let _serve = serve_with(
        dir.path(),
        port,
        &[
            ("CHANGEGATE__GITHUB__API_URL", url.as_str()),
            ("CHANGEGATE__GITHUB__TOKEN", "ghp_wrong"),
        ],
    );
    let client = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let answer = std::sync::Mutex::new(serde_json::Value::Null);
    until("the credentials check", async || {
        match client.get(&readyz).send().await {
            Ok(r) => {
                let code = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let refused =
                    code == 503 && body["forges"].as_array().is_some_and(|a| !a.is_empty());
                *answer.lock().unwrap() = body;
                refused
            }
            Err(_) => false,
        }
    })
    .await;
    let answer = answer.into_inner().unwrap();
    let reason = answer["forges"][0].as_str().unwrap();
    assert!(
        reason.contains("GitHub token was refused (401)") && reason.contains("Bad credentials"),
        "{reason}"
    );
    assert!(!reason.contains("ghp_wrong"), "no secret in the answer");
}
