//! The pages in a real browser: `changegate serve` against the fake GitHub, headless Chromium
//! (Debian's `chromium`, installed by `.ci/run`) opening the link the status carries and the
//! audit page. Screenshots go to `target/screenshots/` for a person to look at.

mod common;

use common::github_setup::{H1, pr_event, setup};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AUDIT_TOKEN: &str = "audit-secret";

/// The browser, or `None` outside CI when it is not installed (the test is then skipped,
/// loudly); in CI a missing browser fails.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var("CHANGEGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Path::new(&path).exists() {
        return Some(path.into());
    }
    assert!(
        std::env::var("CI").is_err(),
        "{path} is missing: .ci/run must install Debian's chromium"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipping: install chromium (apt-get install chromium chromium-driver) to run the browser test"
    );
    None
}

/// Runs headless Chromium on `url`: the DOM as it rendered, and a screenshot at `shot`.
fn browse(chromium: &Path, url: &str, shot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1024,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stderr(Stdio::null());
    };
    let mut dump = Command::new(chromium);
    base(&mut dump);
    let out = dump
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    let mut snap = Command::new(chromium);
    base(&mut snap);
    let status = snap
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .stdout(Stdio::null())
        .status()
        .expect("chromium runs");
    assert!(
        status.success(),
        "chromium could not take a screenshot of {url}"
    );
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(db: &str, port: u16, github: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_changegate"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CHANGEGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CHANGEGATE__SERVER__PUBLIC_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("CHANGEGATE__SERVER__AUDIT_TOKEN", AUDIT_TOKEN)
        .env("CHANGEGATE__DATABASE__URL", db)
        .env("CHANGEGATE__RULES__PATH", undated_rules())
        .env("CHANGEGATE__GITHUB__TOKEN", "gh-token")
        .env("CHANGEGATE__GITHUB__API_URL", github)
        .env("CHANGEGATE__GITHUB__BOT_LOGIN", common::github_world::BOT)
        .env(
            "CHANGEGATE__GITHUB__WEBHOOK_SECRET",
            std::str::from_utf8(GITHUB_SECRET).unwrap(),
        )
        .env("CHANGEGATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts")
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_a_real_browser() {
    let Some(chromium) = chromium() else { return };
    let s = setup().await;
    s.gh.set_title(7, "Rotate keys <script>alert('pwned')</script>");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("b.db").display());
    let port = free_port();
    let mut bot = serve(&db, port, &s.gh.url());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut n = 0;
    let mut send = async |action: &str, label: Option<&str>, who: &str| {
        n += 1;
        let body = serde_json::to_vec(&pr_event(&s, 7, action, label, who)).unwrap();
        let r = client
            .post(format!("{base}/webhooks/github"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", format!("browser-{n}"))
            .header(
                "x-hub-signature-256",
                changegate::server::github::sign(GITHUB_SECRET, &body),
            )
            .body(body)
            .send()
            .await;
        r.map(|r| r.status().as_u16()).unwrap_or(0)
    };
    let start = Instant::now();
    while send("opened", None, "alice").await != 202 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // `serve` runs on the wall clock and places the head's arrival at the `opened` delivery:
    // approvals must come after it, so the fake forge's clock starts from now.
    let later = |mins| {
        (chrono::Utc::now() + chrono::Duration::minutes(mins))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    s.gh.set_time(&later(1));
    for (label, who) in [
        ("CMT::Standard", "alice"),
        ("Peer Approval::Approved", "peter"),
        ("BT Integration Manager::Approved", "mona"),
    ] {
        s.gh.add_label(7, label, who);
        assert_eq!(send("labeled", Some(label), who).await, 202);
    }
    until("a passing status with a link", || {
        s.gh.status(H1).is_some_and(|(state, _)| state == "success")
            && s.gh.status_link(H1).is_some()
    })
    .await;
    let link = s.gh.status_link(H1).unwrap();
    assert!(link.starts_with(&format!(
        "{base}/changes/github/acme/platypus/merge_request/7?token="
    )));

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dom = browse(&chromium, &link, &shots.join("details.png"));
    assert!(dom.contains("Ready to merge"), "{dom}");
    assert!(dom.contains("@peter") && dom.contains("@mona"), "{dom}");
    assert!(
        dom.contains("Rotate keys &lt;script&gt;alert('pwned')&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "forge text became markup: {dom}");

    let (path, _) = link.split_once("?token=").unwrap();
    let refused = browse(
        &chromium,
        &format!("{path}?token=1.00"),
        &shots.join("refused.png"),
    );
    assert!(refused.contains("Not found"), "{refused}");
    assert!(!refused.contains("@peter"));

    s.gh.merge(7, &later(30));
    assert_eq!(send("closed", None, "alice").await, 202);
    let merged = async || {
        client
            .get(format!("{base}/audit/github/acme/platypus?format=json"))
            .bearer_auth(AUDIT_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let start = Instant::now();
    while !merged().await.contains("\"number\": 7") && !merged().await.contains("\"number\":7") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the merge was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit = format!(
        "http://auditor:{AUDIT_TOKEN}@127.0.0.1:{port}/audit/github/acme/platypus?classification=CMT::Standard"
    );
    let dom = browse(&chromium, &audit, &shots.join("audit.png"));
    assert!(dom.contains("1 merged change."), "{dom}");
    assert!(dom.contains("peer by @peter"), "{dom}");
    let filtered = browse(
        &chromium,
        &format!(
            "http://auditor:{AUDIT_TOKEN}@127.0.0.1:{port}/audit/github/acme/platypus?classification=CMT::Minor"
        ),
        &shots.join("audit-filtered.png"),
    );
    assert!(filtered.contains("0 merged changes"), "{filtered}");
    // Without the token (a browser would ask for it): refused, saying nothing of the changes.
    let denied = client
        .get(format!("{base}/audit/github/acme/platypus"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    assert!(denied.headers().contains_key("www-authenticate"));
    assert!(!denied.text().await.unwrap().contains("@peter"));
    let _ = bot.kill();
    let _ = bot.wait();
}
