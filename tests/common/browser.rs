//! Headless Chromium for the page tests: Debian's `chromium` (installed by `.ci/run`), the DOM
//! it rendered and a screenshot for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser, or `None` outside CI when it is not installed (the test is then skipped,
/// loudly); in CI a missing browser fails.
pub fn chromium() -> Option<PathBuf> {
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
pub fn browse(chromium: &Path, url: &str, shot: &Path) -> String {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (30 s at most) until `check` holds.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
