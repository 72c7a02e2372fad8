//! Issue 25 on the fake GitLab over a real repository: a peer label under
//! `reset_on_push: changed_diff` survives a push that leaves the merge request's diff against
//! `main` identical, confirmed (GitLab's diffs carry no blob ids) by comparing the two heads;
//! anything else, or anything that cannot be verified, resets it with the reason.

mod common;

use common::TestApp;
use common::git_repo::GitRepo;
use common::gitlab_world::GitlabWorld;
use std::sync::Arc;
use wiremock::ResponseTemplate;

const PEER: &str = "Peer Approval::Approved";
const MANAGER: &str = "BT Integration Manager::Approved";
const LOGIN: &str = "src/auth/login.rs";

fn long(tag: &str) -> String {
    (1..=40).map(|i| format!("{tag} line {i}\n")).collect()
}

fn edit(text: &str, line: usize, new: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                format!("{new}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn rules(reset: &str) -> changegate::rules::Rules {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap();
    let text = text.replace(
        "reset_on_push: true          # new commits after the review reset it",
        &format!("reset_on_push: {reset}"),
    );
    changegate::rules::parse("rules.yaml", &text).expect("valid rules")
}

struct World {
    app: TestApp,
    gl: GitlabWorld,
    repo: Arc<GitRepo>,
    head: String,
    deliveries: std::sync::atomic::AtomicU64,
}

/// !3 by alice edits line 20 of `src/auth/login.rs`; pam and mona approve with labels after
/// the head's diff version: it passes, and pam's diff is recorded.
async fn approved(reset: &str) -> World {
    let gl = GitlabWorld::start().await;
    for (group, who) in [
        ("acme/integrations-team", "pam"),
        ("acme/bt-integration-managers", "mona"),
    ] {
        gl.member(group, who);
    }
    gl.set_time("2026-11-02T12:00:00Z");
    let repo = Arc::new(GitRepo::new(&[
        (LOGIN, &long("login")),
        ("src/other.rs", &long("other")),
        ("README.md", "hello\n"),
    ]));
    repo.branch("feature", "main");
    repo.write(LOGIN, &edit(&long("login"), 20, "login changed"));
    let head = repo.commit("the change");
    gl.open_mr(3, "alice", &head);
    gl.attach_repo(repo.clone());
    let app = TestApp::with_forges(None, Some(&gl.url())).await;
    *app.worker.rules.write().unwrap() = Arc::new(rules(reset));
    let w = World {
        app,
        gl,
        repo,
        head,
        deliveries: Default::default(),
    };
    w.gl.add_label(3, "CMT::Standard", "alice");
    w.gl.add_label(3, PEER, "pam");
    w.gl.add_label(3, MANAGER, "mona");
    w.hook("mona", None).await;
    assert_eq!(w.status(&w.head), "success", "{}", w.note());
    w
}

impl World {
    async fn hook(&self, actor: &str, oldrev: Option<&str>) {
        let n = self
            .deliveries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = self.gl.hook_of(3, "update", actor, oldrev);
        let (status, _) = self
            .app
            .gitlab("Merge Request Hook", &format!("d{n}"), &body)
            .await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    fn status(&self, sha: &str) -> String {
        self.gl.status(sha).expect("a status").0
    }

    fn note(&self) -> String {
        self.gl.notes(3).last().cloned().expect("the bot's note")
    }

    fn rebase(&self, change: impl Fn(&GitRepo)) -> String {
        self.repo.checkout("main");
        change(&self.repo);
        self.repo.commit("main moves");
        self.repo.checkout("feature");
        self.repo.git(&["rebase", "-q", "main"]);
        self.repo.sha("HEAD")
    }

    fn commit(&self, change: impl Fn(&GitRepo)) -> String {
        self.repo.checkout("feature");
        change(&self.repo);
        self.repo.commit("more")
    }

    /// alice pushes `head`: GitLab records a diff version and sends the update hook.
    async fn pushed(&self, head: &str) -> (String, String) {
        let old = self.gl.state.lock().unwrap().changes[0].sha.clone();
        self.gl.push(3, head);
        self.hook("alice", Some(&old)).await;
        (self.status(head), self.note())
    }

    fn compares(&self) -> Vec<String> {
        self.gl
            .calls()
            .into_iter()
            .filter(|c| c.contains("/repository/compare"))
            .collect()
    }
}

#[tokio::test]
async fn gitlab_a_rebase_onto_a_main_that_changed_other_files_keeps_the_peer_label() {
    let w = approved("changed_diff").await;
    assert_eq!(
        w.compares().len(),
        1,
        "read once when the approval was given"
    );
    let head = w.rebase(|r| r.write("src/other.rs", &edit(&long("other"), 3, "moved on main")));
    let (state, note) = w.pushed(&head).await;
    assert_eq!(state, "success", "{note}");
    assert!(
        note.contains(&format!(
            "kept: the change is identical to what @pam approved at `{}` (the branch was rebased onto `main`)",
            &w.head[..7]
        )),
        "{note}"
    );
    // The merge request's diff, then the two heads compared straight (no blob ids on GitLab).
    assert_eq!(w.compares().len(), 3, "{:#?}", w.compares());
}

#[tokio::test]
async fn gitlab_a_merge_of_such_a_main_into_the_branch_keeps_it() {
    let w = approved("changed_diff").await;
    w.repo.checkout("main");
    w.repo.write("README.md", "hello again\n");
    w.repo.commit("main moves");
    w.repo.checkout("feature");
    w.repo.git(&["merge", "-q", "--no-edit", "main"]);
    let head = w.repo.sha("HEAD");
    let (state, note) = w.pushed(&head).await;
    assert_eq!(state, "success", "{note}");
    assert!(
        note.contains("(`main` was merged into the branch)"),
        "{note}"
    );
}

#[tokio::test]
async fn gitlab_anything_else_resets_it() {
    type Change = fn(&GitRepo);
    let cases: Vec<(&str, bool, Change, &str)> = vec![
        // Same hunks, same line numbers: only the two heads' comparison shows it.
        (
            "a target change to the touched file below the hunk",
            true,
            |r| r.write(LOGIN, &edit(&long("login"), 39, "far below")),
            LOGIN,
        ),
        (
            "a target change above the hunk",
            true,
            |r| r.write(LOGIN, &format!("first\n{}", long("login"))),
            LOGIN,
        ),
        (
            "one changed line",
            false,
            |r| {
                r.write(
                    LOGIN,
                    &edit(&edit(&long("login"), 20, "login changed"), 22, "and this"),
                )
            },
            LOGIN,
        ),
        (
            "whitespace only",
            false,
            |r| r.write(LOGIN, &edit(&long("login"), 20, "login changed ")),
            LOGIN,
        ),
        (
            "an extra file",
            false,
            |r| r.write("src/new.rs", "fn new() {}\n"),
            "src/new.rs",
        ),
        (
            "a mode change",
            false,
            |r| r.chmod_x("README.md"),
            "README.md",
        ),
        (
            "a rename",
            false,
            |r| r.rename("src/other.rs", "src/renamed.rs"),
            "src/renamed.rs",
        ),
    ];
    for (name, on_main, change, path) in cases {
        let w = approved("changed_diff").await;
        let head = if on_main {
            w.rebase(change)
        } else {
            w.commit(change)
        };
        let (state, note) = w.pushed(&head).await;
        assert_eq!(state, "failed", "{name}: {note}");
        assert!(
            note.contains(&format!("reset: `{path}` differs from what @pam approved")),
            "{name}: {note}"
        );
        assert!(!w.gl.labels(3).contains(&PEER.to_string()), "{name}");
    }
}

#[tokio::test]
async fn gitlab_a_truncated_or_unreadable_diff_resets_it() {
    let w = approved("changed_diff").await;
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    w.gl.state
        .lock()
        .unwrap()
        .compares
        .withheld
        .push(LOGIN.into());
    let (state, note) = w.pushed(&head).await;
    assert_eq!(state, "failed", "{note}");
    assert!(
        note.contains("did not show the diff of `src/auth/login.rs`"),
        "{note}"
    );

    let w = approved("changed_diff").await;
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    for _ in 0..3 {
        w.gl.fail_next(
            "GET /api/v4/projects/42/repository/compare",
            ResponseTemplate::new(500),
        );
    }
    let (state, note) = w.pushed(&head).await;
    assert_eq!(state, "failed", "{note}");
    assert!(
        note.contains("the forge's diff could not be read"),
        "{note}"
    );
}

#[tokio::test]
async fn gitlab_a_retarget_resets_it() {
    let w = approved("changed_diff").await;
    w.repo.git(&["branch", "release", "main"]);
    w.gl.retarget(3, "release");
    w.hook("alice", None).await;
    let note = w.note();
    assert_eq!(w.status(&w.head), "failed", "{note}");
    assert!(note.contains("the target branch changed"), "{note}");
}

#[tokio::test]
async fn gitlab_an_approval_from_before_a_fingerprint_was_recorded_resets() {
    let w = approved("true").await;
    assert!(w.compares().is_empty(), "no compare without changed_diff");
    *w.app.worker.rules.write().unwrap() = Arc::new(rules("changed_diff"));
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    let (state, note) = w.pushed(&head).await;
    assert_eq!(state, "failed", "{note}");
    assert!(
        note.contains("changegate recorded no fingerprint of the diff it was given on"),
        "{note}"
    );
}

/// [`approved`], with pam's peer approval given by a note (`/changegate approve peer`).
async fn approved_by_comment() -> World {
    let w = approved("changed_diff").await;
    w.gl.remove_label(3, PEER, "pam");
    w.hook("pam", None).await;
    assert_eq!(w.status(&w.head), "failed", "{}", w.sticky());
    let id = w.gl.post_note(3, "pam", "/changegate approve peer");
    let body = w.gl.note_hook(3, id, "create", "pam");
    let (status, _) = w.app.gitlab("Note Hook", "note-approve-peer", &body).await;
    assert_eq!(status.as_u16(), 202);
    w.app.drain().await;
    assert_eq!(w.status(&w.head), "success", "{}", w.sticky());
    w
}

impl World {
    /// The bot's sticky note on !3.
    fn sticky(&self) -> String {
        self.gl
            .notes(3)
            .into_iter()
            .find(|n| n.starts_with(changegate::comment::MARKER))
            .expect("the bot's note")
    }
}

#[tokio::test]
async fn gitlab_an_approval_by_comment_is_kept_across_a_rebase_with_the_same_diff() {
    let w = approved_by_comment().await;
    let recorded: Vec<_> = w
        .app
        .store
        .audit_of("gitlab", "acme/platypus", 3)
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, d)| k == "approved_diff" && d["via"] == "comment")
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].1["head_sha"], w.head.as_str());
    let head = w.rebase(|r| r.write("src/other.rs", &edit(&long("other"), 3, "moved on main")));
    let (state, _) = w.pushed(&head).await;
    let note = w.sticky();
    assert_eq!(state, "success", "{note}");
    assert!(
        note.contains(&format!(
            "kept: the change is identical to what @pam approved at `{}` (the branch was rebased onto `main`)",
            &w.head[..7]
        )),
        "{note}"
    );
}

#[tokio::test]
async fn gitlab_an_approval_by_comment_resets_when_the_diff_differs() {
    let w = approved_by_comment().await;
    let head = w.commit(|r| {
        r.write(
            LOGIN,
            &edit(&edit(&long("login"), 20, "login changed"), 22, "and this"),
        )
    });
    let (state, _) = w.pushed(&head).await;
    let note = w.sticky();
    assert_eq!(state, "failed", "{note}");
    assert!(
        note.contains(&format!("reset: `{LOGIN}` differs from what @pam approved")),
        "{note}"
    );
    assert!(!w.gl.labels(3).contains(&PEER.to_string()));
}
