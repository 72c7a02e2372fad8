//! `changegate labels`: lists every label the rules use against the repository's, changes
//! nothing without `--apply`, and with it creates the missing ones and corrects the others.

mod common;

use common::github_world::GithubWorld;
use std::process::Command;

async fn labels(world: &GithubWorld, apply: bool) -> (i32, String, String) {
    let url = world.url();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_changegate"));
        cmd.args(["labels", "--forge", "github", "--repo", "acme/platypus"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CHANGEGATE__GITHUB__API_URL", url)
            .env("CHANGEGATE__GITHUB__TOKEN", "gh-token")
            .env("CHANGEGATE__RULES__PATH", "rules.yaml");
        if apply {
            cmd.arg("--apply");
        }
        cmd.output().expect("binary runs")
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_listed_dry_and_synced_with_apply() {
    let world = GithubWorld::start().await;
    world.state.lock().unwrap().repo_labels = vec![
        ("cmt::minor".into(), "000000".into(), None),
        (
            "bug".into(),
            "d73a4a".into(),
            Some("Something isn't working".into()),
        ),
    ];
    let wanted = changegate::label_sync::wanted(
        &changegate::rules::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules.yaml"
        )))
        .unwrap(),
    );

    let (code, out, err) = labels(&world, false).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), wanted.len(), "{out}");
    assert!(out.contains("would update\tCMT::Minor\t#"), "{out}");
    assert!(
        out.contains("would create\tPeer Approval::Approved\t#"),
        "{out}"
    );
    assert!(err.contains("--apply"), "{err}");
    let calls = world.state.lock().unwrap().calls.clone();
    assert!(
        calls.iter().all(|c| c.starts_with("GET ")),
        "a dry run only reads: {calls:?}"
    );

    let (code, out, err) = labels(&world, true).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created\tPeer Approval::Approved"), "{out}");
    assert!(out.contains("updated\tCMT::Minor"), "{out}");
    let repo = world.state.lock().unwrap().repo_labels.clone();
    let minor = repo
        .iter()
        .find(|l| l.0 == "CMT::Minor")
        .expect("renamed to the rules' case");
    assert_eq!(minor.1, changegate::label_sync::scope_color("CMT"));
    assert_eq!(minor.2.as_deref(), Some("Change classification: Minor"));
    assert!(
        repo.iter().any(|l| l.0 == "bug"),
        "other labels are left alone"
    );
    assert_eq!(repo.len(), wanted.len() + 1);

    // In sync: a second run has nothing to do.
    let (code, out, _) = labels(&world, false).await;
    assert_eq!(code, 0);
    assert!(out.lines().all(|l| l.starts_with("ok\t")), "{out}");
}

#[test]
fn labels_without_a_token_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["labels", "--forge", "gitlab", "--repo", "g/p"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CHANGEGATE__GITLAB__TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no GitLab token"));
}

/// `changegate labels --forge gitlab --repo acme/platypus [--apply]` against the fake GitLab.
async fn gitlab_labels(url: String, apply: bool) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_changegate"));
        cmd.args(["labels", "--forge", "gitlab", "--repo", "acme/platypus"]);
        if apply {
            cmd.arg("--apply");
        }
        let out = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CHANGEGATE__GITLAB__URL", url)
            .env("CHANGEGATE__GITLAB__TOKEN", "gl-token")
            .env_remove("CHANGEGATE__GITHUB__TOKEN")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gitlab_labels_are_created_and_updated_by_id_and_group_labels_left_alone() {
    use common::gitlab_world::GitlabWorld;
    let gl = GitlabWorld::start().await;
    {
        let mut s = gl.state.lock().unwrap();
        // A project label with the wrong colour, another label the rules do not use, and a
        // parent group's label the rules use (not the project's to change).
        s.project_labels = vec![(5, "CMT::Minor".into()), (7, "bug".into())];
        s.label_looks.by_id = vec![
            (5, "#000000".into(), None),
            (7, "#d73a4a".into(), Some("Something isn't working".into())),
        ];
        s.label_looks.group = vec![(6, "Financially Significant".into(), "#ff0000".into())];
    }
    let wanted = changegate::label_sync::wanted(
        &changegate::rules::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules.yaml"
        )))
        .unwrap(),
    );

    let (code, out, err) = gitlab_labels(gl.url(), true).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("updated\tCMT::Minor"), "{out}");
    assert!(out.contains("created\tPeer Approval::Approved"), "{out}");
    assert!(
        out.contains("ok\tFinancially Significant") && out.contains("parent group"),
        "{out}"
    );
    {
        let s = gl.state.lock().unwrap();
        // Updated in place, by its id: the same label, the rules' colour and description.
        let minor = s.label_looks.by_id.iter().find(|l| l.0 == 5).unwrap();
        assert_eq!(
            minor.1,
            format!("#{}", changegate::label_sync::scope_color("CMT"))
        );
        assert_eq!(minor.2.as_deref(), Some("Change classification: Minor"));
        assert!(s.project_labels.contains(&(5, "CMT::Minor".into())));
        // Every label the rules use exists now, the group's excepted; `bug` is left alone.
        assert_eq!(
            s.project_labels.len(),
            wanted.len() - 1 + 1,
            "{:?}",
            s.project_labels
        );
        assert!(
            !s.project_labels
                .iter()
                .any(|(_, n)| n == "Financially Significant"),
            "the group's label was copied into the project"
        );
        let bug = s.label_looks.by_id.iter().find(|l| l.0 == 7).unwrap();
        assert_eq!(bug.1, "#d73a4a");
        assert_eq!(s.label_looks.group[0].2, "#ff0000");
        let writes: Vec<&String> = s.calls.iter().filter(|c| !c.starts_with("GET ")).collect();
        assert!(
            writes.iter().any(|c| c.ends_with("/labels/5")),
            "updated by id: {writes:?}"
        );
        assert!(
            writes
                .iter()
                .all(|c| !c.ends_with("/labels/6") && !c.ends_with("/labels/7")),
            "{writes:?}"
        );
    }

    // In sync: a second run, with --apply, changes nothing and says so.
    let before = gl.calls().len();
    let (code, out, err) = gitlab_labels(gl.url(), true).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().all(|l| l.starts_with("ok\t")), "{out}");
    let calls = gl.calls();
    assert!(
        calls[before..].iter().all(|c| c.starts_with("GET ")),
        "a second run wrote: {:?}",
        &calls[before..]
    );
    // The fake logs the project's path decoded; on the wire it was one segment.
    let sent: Vec<String> = calls
        .iter()
        .map(|c| c.replace("/projects/acme/platypus/", "/projects/acme%2Fplatypus/"))
        .collect();
    assert!(
        sent.iter()
            .all(|c| c.contains("/projects/acme%2Fplatypus/labels")),
        "{sent:?}"
    );
    common::gitlab_contract::assert_gitlab_calls_in_contract(&sent);
}
