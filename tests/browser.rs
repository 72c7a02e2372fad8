//! The pages in a real browser: `changegate serve` against the fake GitHub, headless Chromium
//! (Debian's `chromium`, installed by `.ci/run`) opening the link the status carries and the
//! audit page. Screenshots go to `target/screenshots/` for a person to look at.

mod common;

use common::browser::{browse, chromium, free_port, until};
use common::github_setup::{H1, H2, pr_event, setup};
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AUDIT_TOKEN: &str = "audit-secret";

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

/// A signed `pull_request` delivery to the running server: its HTTP status (0: not up yet).
async fn post(
    client: &reqwest::Client,
    base: &str,
    delivery: &str,
    event: &serde_json::Value,
) -> u16 {
    let body = serde_json::to_vec(event).unwrap();
    client
        .post(format!("{base}/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            changegate::server::github::sign(GITHUB_SECRET, &body),
        )
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The states a merged change can be in, the repository index and a deployment decision, as a
/// person sees them: a change merged while failing, an emergency merged and owing its
/// approvals, `/audit`, and `/deployments/{id}` from the audit page's link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_changes_the_index_and_a_deployment_in_a_real_browser() {
    const H3: &str = "3333333333333333333333333333333333333333";
    let Some(chromium) = chromium() else { return };
    let s = setup().await;
    s.gh.open_pr(8, "alice", H2);
    s.gh.open_pr(9, "alice", H3);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let port = free_port();
    let mut bot = serve(&db, port, &s.gh.url());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while post(
        &client,
        &base,
        "m-open-8",
        &pr_event(&s, 8, "opened", None, "alice"),
    )
    .await
        != 202
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        post(
            &client,
            &base,
            "m-open-9",
            &pr_event(&s, 9, "opened", None, "alice")
        )
        .await,
        202
    );
    let at = |mins| chrono::Utc::now() + chrono::Duration::minutes(mins);
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    s.gh.set_time(&stamp(at(1)));
    // #8: classified, never approved, merged anyway (by an admin, say).
    s.gh.add_label(8, "CMT::Standard", "alice");
    let ev = pr_event(&s, 8, "labeled", Some("CMT::Standard"), "alice");
    assert_eq!(post(&client, &base, "m-label-8", &ev).await, 202);
    until("#8 failing", || {
        s.gh.status(H2).is_some_and(|(state, _)| state == "failure")
            && s.gh.status_link(H2).is_some()
    })
    .await;
    s.gh.merge(8, &stamp(at(5)));
    let ev = pr_event(&s, 8, "closed", None, "alice");
    assert_eq!(post(&client, &base, "m-merge-8", &ev).await, 202);
    // #9: an emergency, merged at once; it owes its approvals within 24 hours of the merge.
    s.gh.add_label(9, "CMT::Emergency", "alice");
    let ev = pr_event(&s, 9, "labeled", Some("CMT::Emergency"), "alice");
    assert_eq!(post(&client, &base, "m-label-9", &ev).await, 202);
    until("#9 passing", || {
        s.gh.status(H3).is_some_and(|(state, _)| state == "success")
            && s.gh.status_link(H3).is_some()
    })
    .await;
    let merged_at = at(6);
    s.gh.merge(9, &stamp(merged_at));
    let ev = pr_event(&s, 9, "closed", None, "alice");
    assert_eq!(post(&client, &base, "m-merge-9", &ev).await, 202);
    let audit_json = async || {
        client
            .get(format!("{base}/audit/github/acme/platypus?format=json"))
            .bearer_auth(AUDIT_TOKEN)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let start = Instant::now();
    while audit_json().await.as_array().map_or(0, |a| a.len()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the merges were not recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let failing = browse(
        &chromium,
        &s.gh.status_link(H2).unwrap(),
        &shots.join("merged-failing.png"),
    );
    assert!(
        failing.contains("Merged without its approvals"),
        "{failing}"
    );
    assert!(!failing.contains("Not ready to merge</span>"), "{failing}");
    let emergency = browse(
        &chromium,
        &s.gh.status_link(H3).unwrap(),
        &shots.join("merged-emergency.png"),
    );
    let due = (merged_at + chrono::Duration::hours(24)).format("%-d %b %H:%M UTC");
    assert!(
        emergency.contains(&format!("Merged as an emergency — owes 4 by {due}")),
        "{emergency}"
    );
    assert!(
        !emergency.contains("verdict pass\">Ready to merge"),
        "{emergency}"
    );
    assert!(
        emergency.contains("Still owed: Business owner approval; Peer review;"),
        "{emergency}"
    );
    // The retrospective's label is code, not a backtick.
    assert!(
        emergency.contains("Retrospective (<code>Retrospective::Done</code>)"),
        "{emergency}"
    );

    // The index of repositories, behind the audit token.
    let index = browse(
        &chromium,
        &format!("http://auditor:{AUDIT_TOKEN}@127.0.0.1:{port}/audit"),
        &shots.join("audit-index.png"),
    );
    assert!(index.contains("Audit: repositories"), "{index}");
    assert!(
        index.contains("href=\"/audit/github/acme/platypus\">acme/platypus</a>"),
        "{index}"
    );
    // The filter for changes merged while failing keeps #8 only.
    let only_failing = browse(
        &chromium,
        &format!(
            "http://auditor:{AUDIT_TOKEN}@127.0.0.1:{port}/audit/github/acme/platypus?failing=1"
        ),
        &shots.join("audit-failing.png"),
    );
    assert!(only_failing.contains("1 merged change."), "{only_failing}");
    assert!(only_failing.contains("Decisions on #8"), "{only_failing}");
    assert!(!only_failing.contains("Decisions on #9"), "{only_failing}");

    // A deployment decision (`changegate gate`, an environment no entry governs), opened from
    // the audit page's link.
    let gate = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args([
            "gate",
            "--forge",
            "github",
            "--repo",
            "acme/platypus",
            "--sha",
            H1,
        ])
        .args(["--environment", "staging", "--ref", "main"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CHANGEGATE__DATABASE__URL", &db)
        .env("CHANGEGATE__RULES__PATH", undated_rules())
        .env("CHANGEGATE__GITHUB__TOKEN", "gh-token")
        .env("CHANGEGATE__GITHUB__API_URL", s.gh.url())
        .env("CHANGEGATE__GITHUB__BOT_LOGIN", common::github_world::BOT)
        .env("CHANGEGATE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        gate.status.success(),
        "{}",
        String::from_utf8_lossy(&gate.stderr)
    );
    let audit = browse(
        &chromium,
        &format!("http://auditor:{AUDIT_TOKEN}@127.0.0.1:{port}/audit/github/acme/platypus"),
        &shots.join("audit-with-deployment.png"),
    );
    let href = audit
        .split("href=\"/deployments/")
        .nth(1)
        .and_then(|rest| rest.split_once('"'))
        .map(|(h, _)| h.replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no deployment link: {audit}"));
    let deployment = browse(
        &chromium,
        &format!("{base}/deployments/{href}"),
        &shots.join("deployment.png"),
    );
    assert!(
        deployment.contains(&format!("Deployment of <code>{H1}</code> to staging")),
        "{deployment}"
    );
    assert!(deployment.contains(">Allowed<"), "{deployment}");
    // Its reason's code span is code, not a backtick.
    assert!(
        deployment
            .contains("no <code>deployments</code> entry governs environment <code>staging</code>"),
        "{deployment}"
    );
    let _ = bot.kill();
    let _ = bot.wait();
}
