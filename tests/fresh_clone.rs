//! A fresh clone's first hour, with the binary as a newcomer runs it: `changegate migrate`,
//! `changegate serve` in dry run with the shipped `rules.yaml` and `server.public_url`, a
//! replayed approval sequence of real webhooks (the corpus's `pull_request` delivery), then
//! `changegate link` prints a URL that Chromium opens: the change approved, marked dry run.
//!
//! Team membership cannot be asked without a forge, and the shipped rules name teams: the
//! dry run reads the fake GitHub (`dry_run = true` with a token) and writes nothing to it.

mod common;

use common::browser::{browse, chromium, free_port};
use common::github_setup::{H1, pr_event, setup};
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn changegate(env: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("CHANGEGATE_LOG", "warn")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The log without its terminal colours (`ESC [ … m`).
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_clone_replays_an_approval_and_its_link_shows_it_approved_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let s = setup().await;
    // Whoever may lift the shipped rules' quarter-close freeze, so that the outcome does not
    // depend on the day the test runs: inside the period their approvals lift it, outside it
    // they are not needed.
    s.gh.member("head-of-it", "hank");
    s.gh.member("business-exception-approvers", "bea");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let env: Vec<(&str, String)> = vec![
        (
            "CHANGEGATE__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("changegate.db").display()),
        ),
        ("CHANGEGATE__SERVER__LISTEN", format!("127.0.0.1:{port}")),
        ("CHANGEGATE__SERVER__PUBLIC_URL", public.clone()),
        (
            "CHANGEGATE__GITHUB__WEBHOOK_SECRET",
            std::str::from_utf8(GITHUB_SECRET).unwrap().to_string(),
        ),
        ("CHANGEGATE__GITHUB__TOKEN", "gh-token".into()),
        ("CHANGEGATE__GITHUB__API_URL", s.gh.url()),
        (
            "CHANGEGATE__GITHUB__BOT_LOGIN",
            common::github_world::BOT.into(),
        ),
        ("CHANGEGATE__DRY_RUN", "true".into()),
    ];

    let (code, out, err) = changegate(&env, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("applied 0001_"), "{out}");

    // `serve` from the clone's directory: the shipped rules.yaml, as a newcomer runs it.
    let log_path = dir.path().join("serve.log");
    let mut bot = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["serve", "--no-migrate"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("CHANGEGATE__RULES__PATH")
        .env("CHANGEGATE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("serve starts");
    let client = reqwest::Client::new();
    let mut n = 0;
    let mut send = async |action: &str, label: Option<&str>, who: &str| {
        n += 1;
        let body = serde_json::to_vec(&pr_event(&s, 7, action, label, who)).unwrap();
        client
            .post(format!("{public}/webhooks/github"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", format!("fresh-{n}"))
            .header(
                "x-hub-signature-256",
                changegate::server::github::sign(GITHUB_SECRET, &body),
            )
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let start = Instant::now();
    while send("opened", None, "alice").await != 202 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not come up: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The forge's label history runs on from now (serve runs on the wall clock).
    s.gh.set_time(
        &(chrono::Utc::now() + chrono::Duration::minutes(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    for (label, who) in [
        ("CMT::Standard", "alice"),
        ("Peer Approval::Approved", "peter"),
        ("BT Integration Manager::Approved", "mona"),
        ("Head of IT Exception::Approved", "hank"),
        ("Business Exception::Approved", "bea"),
    ] {
        s.gh.add_label(7, label, who);
        assert_eq!(send("labeled", Some(label), who).await, 202);
    }

    // `changegate link` prints the page's URL; it shows the change approved once the last
    // delivery is evaluated.
    let args = [
        "link",
        "--forge",
        "github",
        "--repo",
        "acme/platypus",
        "--number",
        "7",
    ];
    let (code, out, err) = changegate(&env, &args);
    assert_eq!(code, 0, "{err}");
    let url = out.trim().to_string();
    assert!(
        url.starts_with(&format!(
            "{public}/changes/github/acme/platypus/merge_request/7?token="
        )),
        "{url}"
    );
    let start = Instant::now();
    loop {
        let page = client.get(&url).send().await.unwrap().text().await.unwrap();
        if page.contains(">Ready to merge<") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never approved: {page}\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dom = browse(&chromium, &url, &shots.join("fresh-clone-approved.png"));
    assert!(dom.contains(">Ready to merge<"), "{dom}");
    assert!(dom.contains("<strong>Dry run</strong>"), "{dom}");
    assert!(dom.contains("@peter") && dom.contains("@mona"), "{dom}");

    // Nothing was written to the forge; the log says what would have been, with the link.
    assert!(s.gh.status(H1).is_none(), "a dry run set a status");
    let _ = bot.kill();
    let _ = bot.wait();
    let log = plain(&std::fs::read_to_string(&log_path).unwrap());
    assert!(log.contains("dry run: would call the forge"), "{log}");
    assert!(
        log.contains(&format!(
            "target_url={public}/changes/github/acme/platypus/merge_request/7?token="
        )),
        "{log}"
    );
}
