//! Issue 25 on the fake GitHub over a real repository: a peer approval under
//! `reset_on_push: changed_diff` survives a push that leaves the change's diff against `main`
//! identical (a rebase onto a `main` that changed other files, a merge of such a `main`), and
//! resets, saying why, for anything else or anything that cannot be verified.

mod common;

use common::git_repo::GitRepo;
use common::github_setup::{Setup, setup};
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

/// The shipped rules with the peer approval under `changed_diff` (or as `reset`).
fn rules(reset: &str) -> changegate::rules::Rules {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap();
    let text = text.replace(
        "reset_on_push: true          # new commits after the review reset it",
        &format!("reset_on_push: {reset}"),
    );
    assert!(text.contains(&format!("reset_on_push: {reset}")));
    changegate::rules::parse("rules.yaml", &text).expect("valid rules")
}

fn use_rules(s: &Setup, reset: &str) {
    *s.app.worker.rules.write().unwrap() = Arc::new(rules(reset));
}

struct World {
    s: Setup,
    repo: Arc<GitRepo>,
    /// The approved head.
    head: String,
}

/// #7 by alice edits line 20 of `src/auth/login.rs`; pam (peer) and mona (manager) approve
/// with labels after the head arrived: it passes, and pam's diff is recorded.
async fn approved(reset: &str) -> World {
    let s = setup().await;
    s.gh.set_time("2026-11-02T12:00:00Z");
    use_rules(&s, reset);
    let repo = Arc::new(GitRepo::new(&[
        (LOGIN, &long("login")),
        ("src/other.rs", &long("other")),
        ("README.md", "hello\n"),
    ]));
    repo.branch("feature", "main");
    repo.write(LOGIN, &edit(&long("login"), 20, "login changed"));
    let head = repo.commit("the change");
    s.gh.attach_repo(repo.clone());
    s.push("alice", &head).await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.apply_label("pam", PEER).await;
    s.apply_label("mona", MANAGER).await;
    assert_eq!(s.status_of(&head).0, "success", "{}", s.comment());
    World { s, repo, head }
}

impl World {
    /// `main` moves with `change`, and `feature` is rebased onto it; the new head.
    fn rebase(&self, change: impl Fn(&GitRepo)) -> String {
        self.repo.checkout("main");
        change(&self.repo);
        self.repo.commit("main moves");
        self.repo.checkout("feature");
        self.repo.git(&["rebase", "-q", "main"]);
        self.repo.sha("HEAD")
    }

    /// One more commit on `feature`; the new head.
    fn commit(&self, change: impl Fn(&GitRepo)) -> String {
        self.repo.checkout("feature");
        change(&self.repo);
        self.repo.commit("more")
    }

    fn compares(&self) -> usize {
        self.s
            .gh
            .calls()
            .iter()
            .filter(|c| c.contains("/compare/"))
            .count()
    }

    /// The new head is pushed by alice; the peer's approval was kept (or not).
    async fn pushed(&self, head: &str) -> (String, String) {
        self.s.push("alice", head).await;
        let status = self.s.status_of(head);
        (status.0, self.sticky())
    }

    /// The bot's sticky comment (approvers' comments may stand beside it).
    fn sticky(&self) -> String {
        self.s
            .gh
            .comments(7)
            .into_iter()
            .find(|c| c.starts_with(changegate::comment::MARKER))
            .expect("the sticky comment")
    }
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

#[tokio::test]
async fn a_rebase_onto_a_main_that_changed_other_files_keeps_the_peer_approval() {
    let w = approved("changed_diff").await;
    // The approval's diff was read once (its two representations) when it was given.
    assert_eq!(w.compares(), 2, "{:#?}", w.s.gh.calls());
    let head = w.rebase(|r| r.write("src/other.rs", &edit(&long("other"), 3, "moved on main")));
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "success", "{comment}");
    assert!(
        comment.contains(&format!(
            "kept: the change is identical to what @pam approved at `{}` (the branch was rebased onto `main`)",
            short(&w.head)
        )),
        "{comment}"
    );
    assert!(w.s.gh.labels(7).contains(&PEER.to_string()));
    // One compare per push (JSON and diff text of one URL), none for the evaluations after.
    assert_eq!(w.compares(), 4);
    w.s.apply_label("alice", "CMT::Standard").await;
    assert_eq!(w.compares(), 4, "cached by SHAs");
    // The record is in the audit log, with the fingerprint.
    let audit =
        w.s.app
            .store
            .audit_of("github", "acme/platypus", 7)
            .await
            .unwrap();
    let recorded: Vec<_> = audit.iter().filter(|(k, _)| k == "approved_diff").collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].1["head_sha"], w.head.as_str());
    assert!(recorded[0].1["fingerprint"]["digest"].is_string());
}

#[tokio::test]
async fn a_merge_of_such_a_main_into_the_branch_keeps_it() {
    let w = approved("changed_diff").await;
    w.repo.checkout("main");
    w.repo.write("README.md", "hello again\n");
    w.repo.commit("main moves");
    w.repo.checkout("feature");
    w.repo.git(&["merge", "-q", "--no-edit", "main"]);
    let head = w.repo.sha("HEAD");
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "success", "{comment}");
    assert!(
        comment.contains("(`main` was merged into the branch)"),
        "{comment}"
    );
}

#[tokio::test]
async fn anything_else_resets_it_and_names_the_file() {
    type Change = fn(&GitRepo);
    let cases: Vec<(&str, bool, Change, &str)> = vec![
        (
            "a target change to the touched file",
            true,
            |r| r.write(LOGIN, &edit(&long("login"), 39, "far below")),
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
            "a rename with an edit",
            false,
            |r| {
                r.rename("src/other.rs", "src/renamed.rs");
                r.write("src/renamed.rs", &edit(&long("other"), 1, "edited"));
            },
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
        let (state, comment) = w.pushed(&head).await;
        assert_eq!(state, "failure", "{name}: {comment}");
        assert!(
            comment.contains(&format!("reset: `{path}` differs from what @pam approved")),
            "{name}: {comment}"
        );
        assert!(!w.s.gh.labels(7).contains(&PEER.to_string()), "{name}");
    }
}

#[tokio::test]
async fn a_pure_rename_resets_it_because_git_gives_no_mode() {
    let w = approved("changed_diff").await;
    let head = w.commit(|r| r.rename("src/other.rs", "src/renamed.rs"));
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "failure", "{comment}");
    assert!(comment.contains("reset: the diff at"), "{comment}");
    assert!(
        comment.contains("the forge did not say the file mode of `src/renamed.rs`"),
        "{comment}"
    );
}

#[tokio::test]
async fn a_truncated_or_unreadable_diff_resets_it() {
    // GitHub withholds the patch of a file (too large).
    let w = approved("changed_diff").await;
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    w.s.gh
        .state
        .lock()
        .unwrap()
        .compares
        .withheld
        .push(LOGIN.into());
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "failure", "{comment}");
    assert!(
        comment.contains("did not show the diff of `src/auth/login.rs`"),
        "{comment}"
    );

    // GitHub answers 502 to every try.
    let w = approved("changed_diff").await;
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    for _ in 0..3 {
        w.s.gh.fail_next(
            "GET /repos/acme/platypus/compare",
            ResponseTemplate::new(502),
        );
    }
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "failure", "{comment}");
    assert!(
        comment.contains("the forge's diff could not be read"),
        "{comment}"
    );
}

#[tokio::test]
async fn a_retarget_resets_it() {
    let w = approved("changed_diff").await;
    w.repo.git(&["branch", "release", "main"]);
    w.s.gh.retarget(7, "release", "alice");
    w.s.deliver("edited", None, "alice", "retarget-1").await;
    let (state, _) = w.s.status_of(&w.head);
    let comment = w.s.comment();
    assert_eq!(state, "failure", "{comment}");
    assert!(comment.contains("the target branch changed"), "{comment}");
}

#[tokio::test]
async fn an_approval_from_before_a_fingerprint_was_recorded_resets() {
    // Given while the role reset on every push: changegate recorded no diff for it.
    let w = approved("true").await;
    assert_eq!(w.compares(), 0, "no compare without changed_diff");
    use_rules(&w.s, "changed_diff");
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "failure", "{comment}");
    assert!(
        comment.contains("changegate recorded no fingerprint of the diff it was given on"),
        "{comment}"
    );
}

#[tokio::test]
async fn an_approver_who_rebases_becomes_a_committer() {
    let w = approved("changed_diff").await;
    let head = w.rebase(|r| r.write("src/other.rs", "moved\n"));
    w.s.gh.push_commit_by(7, &head, "pam");
    w.s.deliver("synchronize", None, "pam", "pam-rebases").await;
    let comment = w.s.comment();
    assert_eq!(w.s.status_of(&head).0, "failure", "{comment}");
    assert!(
        comment.contains("authored commits of this change"),
        "{comment}"
    );
    assert!(
        comment.contains("becomes a committer of the new commits"),
        "{comment}"
    );
}

#[tokio::test]
async fn a_native_review_on_an_older_commit_counts_on_the_same_terms() {
    let s = setup().await;
    s.gh.set_time("2026-11-02T12:00:00Z");
    use_rules(&s, "changed_diff");
    let repo = Arc::new(GitRepo::new(&[
        (LOGIN, &long("login")),
        ("src/other.rs", &long("other")),
    ]));
    repo.branch("feature", "main");
    repo.write(LOGIN, &edit(&long("login"), 20, "login changed"));
    let head = repo.commit("the change");
    s.gh.attach_repo(repo.clone());
    s.push("alice", &head).await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.approve("pam").await;
    s.apply_label("mona", MANAGER).await;
    assert_eq!(s.status_of(&head).0, "success", "{}", s.comment());
    // Rebased onto a main that changed another file: pam's review on the old commit counts.
    repo.checkout("main");
    repo.write("src/other.rs", "moved\n");
    repo.commit("main moves");
    repo.checkout("feature");
    repo.git(&["rebase", "-q", "main"]);
    let rebased = repo.sha("HEAD");
    s.push("alice", &rebased).await;
    assert_eq!(s.status_of(&rebased).0, "success", "{}", s.comment());
    // One more line: it does not.
    repo.write(
        LOGIN,
        &edit(&edit(&long("login"), 20, "login changed"), 30, "more"),
    );
    let changed = repo.commit("more");
    s.push("alice", &changed).await;
    assert_eq!(s.status_of(&changed).0, "failure", "{}", s.comment());
}

/// [`approved`], with pam's peer approval given by comment (`/changegate approve peer`).
async fn approved_by_comment() -> World {
    let s = setup().await;
    s.gh.set_time("2026-11-02T12:00:00Z");
    use_rules(&s, "changed_diff");
    let repo = Arc::new(GitRepo::new(&[
        (LOGIN, &long("login")),
        ("src/other.rs", &long("other")),
        ("README.md", "hello\n"),
    ]));
    repo.branch("feature", "main");
    repo.write(LOGIN, &edit(&long("login"), 20, "login changed"));
    let head = repo.commit("the change");
    s.gh.attach_repo(repo.clone());
    s.push("alice", &head).await;
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.gh.set_time("2026-11-02T12:05:00Z");
    s.say("pam", "/changegate approve peer").await;
    s.apply_label("mona", MANAGER).await;
    let w = World { s, repo, head };
    assert_eq!(w.s.status_of(&w.head).0, "success", "{}", w.sticky());
    w
}

#[tokio::test]
async fn an_approval_by_comment_is_kept_across_a_rebase_with_the_same_diff() {
    let w = approved_by_comment().await;
    // The comment approval's diff was read once (its two representations) and recorded.
    assert_eq!(w.compares(), 2, "{:#?}", w.s.gh.calls());
    let audit =
        w.s.app
            .store
            .audit_of("github", "acme/platypus", 7)
            .await
            .unwrap();
    let recorded: Vec<_> = audit.iter().filter(|(k, _)| k == "approved_diff").collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].1["via"], "comment");
    assert_eq!(recorded[0].1["head_sha"], w.head.as_str());
    let head = w.rebase(|r| r.write("src/other.rs", &edit(&long("other"), 3, "moved on main")));
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "success", "{comment}");
    assert!(
        comment.contains(&format!(
            "kept: the change is identical to what @pam approved at `{}` (the branch was rebased onto `main`)",
            short(&w.head)
        )),
        "{comment}"
    );
    assert!(w.s.gh.labels(7).contains(&PEER.to_string()));
}

#[tokio::test]
async fn an_approval_by_comment_resets_when_the_diff_differs() {
    let w = approved_by_comment().await;
    let head = w.commit(|r| {
        r.write(
            LOGIN,
            &edit(&edit(&long("login"), 20, "login changed"), 22, "and this"),
        )
    });
    let (state, comment) = w.pushed(&head).await;
    assert_eq!(state, "failure", "{comment}");
    assert!(
        comment.contains(&format!("reset: `{LOGIN}` differs from what @pam approved")),
        "{comment}"
    );
    assert!(!w.s.gh.labels(7).contains(&PEER.to_string()));
}
