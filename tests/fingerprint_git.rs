//! The diff fingerprint against `git` itself, on real diffs made in a temporary repository:
//! what changegate renders from a forge's answer is what `git diff --full-index` writes, its
//! `git patch-id --verbatim` is git's, and two diffs share a fingerprint only when git's
//! verbatim patch ids agree too (the fingerprint is stricter: it also holds blob ids and line
//! numbers). Each case is a change approved at one head and pushed again.

mod common;

use changegate::diff::{self, ChangeDiff, FileDiff, FileStatus, Fingerprint};
use common::git_repo::{GitRepo, RawEntry};

/// A file long enough that an edit at one end leaves the other end's hunks apart.
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

/// A repository with `main` and a branch `feature` that edits line 20 of `src/auth/login.rs`:
/// the approved diff (main's tip, feature's tip).
fn approved() -> (GitRepo, String, String) {
    let repo = GitRepo::new(&[
        ("src/auth/login.rs", &long("login")),
        ("src/other.rs", &long("other")),
        ("README.md", "hello\n"),
    ]);
    let main = repo.sha("main");
    repo.branch("feature", "main");
    repo.write(
        "src/auth/login.rs",
        &edit(&long("login"), 20, "login changed"),
    );
    let head = repo.commit("the change");
    (repo, main, head)
}

/// Moves `main` forward with `change`, then rebases `feature` onto it.
fn rebase_onto_main(repo: &GitRepo, change: impl Fn(&GitRepo)) -> (String, String) {
    repo.checkout("main");
    change(repo);
    let main = repo.commit("main moves");
    repo.checkout("feature");
    repo.git(&["rebase", "-q", "main"]);
    (main, repo.sha("HEAD"))
}

/// Pushes one more commit on `feature`.
fn push(repo: &GitRepo, change: impl Fn(&GitRepo)) -> String {
    repo.checkout("feature");
    change(repo);
    repo.commit("more")
}

/// The fingerprint of GitHub's compare answer (JSON + diff text) for base...head.
fn github(repo: &GitRepo, base: &str, head: &str) -> Result<Fingerprint, String> {
    let json = serde_json::to_vec(&repo.github_compare_json(base, head)).unwrap();
    let text = repo.github_compare_diff(base, head);
    let d = changegate::forge::github::compare::from_compare(&json, &text);
    assert!(d.blobs_given);
    diff::fingerprint(&d)
}

/// The fingerprint of GitLab's compare answer (from the merge base).
fn gitlab(repo: &GitRepo, base: &str, head: &str) -> Result<Fingerprint, String> {
    let body = serde_json::to_vec(&repo.gitlab_compare_json(base, head, false)).unwrap();
    let mb = repo.merge_base(base, head);
    diff::fingerprint(&changegate::forge::gitlab::compare::from_compare(
        &body, &mb,
    ))
}

/// The diff with every blob id, from git's own listing: what the fingerprint renders when
/// nothing is missing.
fn complete(repo: &GitRepo, from: &str, to: &str) -> ChangeDiff {
    let files = repo
        .raw(from, to)
        .iter()
        .map(|e: &RawEntry| {
            let status = match e.status {
                'A' => FileStatus::Added,
                'D' => FileStatus::Deleted,
                'R' => FileStatus::Renamed,
                'C' => FileStatus::Copied,
                _ => FileStatus::Modified,
            };
            let side = |mode: &str, blob: &str| {
                (!mode.trim_matches('0').is_empty()).then(|| (mode.to_string(), blob.to_string()))
            };
            let old = side(&e.old_mode, &e.old_blob);
            let new = side(&e.new_mode, &e.new_blob);
            let hunks = repo.hunks(from, to, e);
            FileDiff {
                status,
                old_path: e.old_path.clone(),
                new_path: e.new_path.clone(),
                old_mode: old.as_ref().map(|o| o.0.clone()),
                new_mode: new.as_ref().map(|n| n.0.clone()),
                old_blob: old.map(|o| o.1),
                new_blob: new.map(|n| n.1),
                binary: hunks.is_none(),
                patch: hunks,
            }
        })
        .collect();
    ChangeDiff {
        files,
        blobs_given: true,
        ..ChangeDiff::default()
    }
}

/// git's `--full-index` diff without the similarity lines (an estimate neither forge gives
/// the same way), split per file.
fn git_sections(text: &str) -> Vec<String> {
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("similarity index") && !l.starts_with("dissimilarity index"))
        .collect();
    let mut out: Vec<String> = kept
        .split("diff --git ")
        .filter(|s| !s.is_empty())
        .map(|s| format!("diff --git {s}"))
        .collect();
    out.sort();
    out
}

/// What changegate renders for the complete diff is, file by file, git's own text, and the
/// verbatim patch id of its rendering is git's.
fn renders_as_git(repo: &GitRepo, base: &str, head: &str) {
    let mb = repo.merge_base(base, head);
    let git = repo.full_index_diff(&mb, head);
    let mut ours: Vec<String> = complete(repo, &mb, head)
        .files
        .iter()
        .map(diff::render)
        .collect();
    ours.sort();
    let sections = git_sections(&git);
    assert_eq!(
        ours, sections,
        "rendered as git diff --full-index writes it"
    );
    assert_eq!(
        repo.patch_id(&ours.concat()),
        repo.patch_id(&sections.concat()),
        "git patch-id --verbatim of changegate's rendering"
    );
}

fn git_patch_id(repo: &GitRepo, base: &str, head: &str) -> String {
    let mb = repo.merge_base(base, head);
    repo.patch_id(&repo.full_index_diff(&mb, head))
}

/// One case: the approved diff and the pushed one, and whether they count as the same.
fn judge(name: &str, repo: &GitRepo, approved: (&str, &str), now: (&str, &str), same: bool) {
    renders_as_git(repo, approved.0, approved.1);
    renders_as_git(repo, now.0, now.1);
    let a = github(repo, approved.0, approved.1).expect("approved diff fingerprinted");
    let b = github(repo, now.0, now.1).expect("new diff fingerprinted");
    assert_eq!(a == b, same, "{name}: GitHub fingerprints equal?");
    let git_same = git_patch_id(repo, approved.0, approved.1) == git_patch_id(repo, now.0, now.1);
    if same {
        assert!(
            git_same,
            "{name}: the same fingerprint but not the same patch for git"
        );
    }
    let full_a = diff::fingerprint(&complete(
        repo,
        &repo.merge_base(approved.0, approved.1),
        approved.1,
    ))
    .unwrap();
    let full_b = diff::fingerprint(&complete(repo, &repo.merge_base(now.0, now.1), now.1)).unwrap();
    assert_eq!(
        full_a == full_b,
        same,
        "{name}: complete fingerprints equal?"
    );
    let la = gitlab(repo, approved.0, approved.1).expect("GitLab approved diff");
    let lb = gitlab(repo, now.0, now.1).expect("GitLab new diff");
    if same {
        assert_eq!(la, lb, "{name}: GitLab fingerprints");
    }
}

#[test]
fn a_rebase_onto_a_main_that_changed_other_files_is_the_same_change() {
    let (repo, main, head) = approved();
    let (main2, head2) = rebase_onto_main(&repo, |r| {
        r.write("src/other.rs", &edit(&long("other"), 3, "other moved"))
    });
    assert_ne!(head, head2);
    judge("rebase", &repo, (&main, &head), (&main2, &head2), true);
}

#[test]
fn a_merge_of_such_a_main_into_the_branch_is_the_same_change() {
    let (repo, main, head) = approved();
    repo.checkout("main");
    repo.write("README.md", "hello again\n");
    let main2 = repo.commit("main moves");
    repo.checkout("feature");
    repo.git(&["merge", "-q", "--no-edit", "main"]);
    let head2 = repo.sha("HEAD");
    judge("merge", &repo, (&main, &head), (&main2, &head2), true);
}

#[test]
fn a_target_change_to_a_touched_file_is_another_change() {
    let (repo, main, head) = approved();
    // Above the hunk: its line numbers move (git's patch id, which ignores them, agrees).
    let (main2, head2) = rebase_onto_main(&repo, |r| {
        r.write(
            "src/auth/login.rs",
            &format!("new first line\n{}", long("login")),
        )
    });
    judge(
        "touched above",
        &repo,
        (&main, &head),
        (&main2, &head2),
        false,
    );
    assert_eq!(
        git_patch_id(&repo, &main, &head),
        git_patch_id(&repo, &main2, &head2)
    );
}

#[test]
fn a_target_change_far_below_the_hunk_changes_the_resulting_blob() {
    let (repo, main, head) = approved();
    let (main2, head2) = rebase_onto_main(&repo, |r| {
        r.write("src/auth/login.rs", &edit(&long("login"), 39, "far below"))
    });
    judge(
        "touched below",
        &repo,
        (&main, &head),
        (&main2, &head2),
        false,
    );
    // GitLab shows no blob ids: its hunks are the same, and the straight comparison of the
    // two heads (what the worker reads then) names the file.
    assert_eq!(gitlab(&repo, &main, &head), gitlab(&repo, &main2, &head2));
    let between = repo.raw(&head, &head2);
    assert!(between.iter().any(|e| e.new_path == "src/auth/login.rs"));
}

#[test]
fn one_changed_line_whitespace_an_extra_file_a_rename_and_a_mode_change_are_other_changes() {
    type Push = fn(&GitRepo);
    let cases: Vec<(&str, Push)> = vec![
        ("one line", |r| {
            r.write(
                "src/auth/login.rs",
                &edit(&edit(&long("login"), 20, "login changed"), 21, "and this"),
            )
        }),
        ("whitespace", |r| {
            r.write(
                "src/auth/login.rs",
                &edit(&long("login"), 20, "login changed "),
            )
        }),
        ("extra file", |r| r.write("src/new.rs", "fn new() {}\n")),
        ("rename", |r| r.rename("src/other.rs", "src/renamed.rs")),
        ("rename with an edit", |r| {
            r.rename("src/other.rs", "src/renamed.rs");
            r.write("src/renamed.rs", &edit(&long("other"), 1, "edited"));
        }),
        ("mode", |r| r.chmod_x("README.md")),
        ("deleted", |r| r.remove("README.md")),
        ("binary", |r| r.write("logo.bin", "\u{0}\u{1}\u{2}binary")),
    ];
    for (name, change) in cases {
        let (repo, main, head) = approved();
        let head2 = push(&repo, change);
        let git_differs = git_patch_id(&repo, &main, &head) != git_patch_id(&repo, &main, &head2);
        assert!(git_differs, "{name}: git sees another patch");
        renders_as_git(&repo, &main, &head2);
        let before = github(&repo, &main, &head).unwrap();
        match github(&repo, &main, &head2) {
            Ok(after) => {
                assert_ne!(before, after, "{name}");
                assert!(before.first_difference(&after).is_some());
            }
            // A pure rename carries no mode in git's diff: no fingerprint, the approval resets.
            Err(why) => assert!(
                matches!(name, "rename") && why.contains("file mode"),
                "{name}: {why}"
            ),
        }
        match gitlab(&repo, &main, &head2) {
            Ok(after) => assert_ne!(
                gitlab(&repo, &main, &head).unwrap(),
                after,
                "{name} on GitLab"
            ),
            // GitLab gives no blob ids: a binary change has no fingerprint there.
            Err(why) => assert!(name == "binary" && why.contains("binary"), "{name}: {why}"),
        }
    }
}

#[test]
fn the_file_that_differs_is_named() {
    let (repo, main, head) = approved();
    let head2 = push(&repo, |r| {
        r.write(
            "src/auth/login.rs",
            &edit(&edit(&long("login"), 20, "login changed"), 5, "sneaky"),
        )
    });
    let before = github(&repo, &main, &head).unwrap();
    let after = github(&repo, &main, &head2).unwrap();
    assert_eq!(before.first_difference(&after), Some("src/auth/login.rs"));
}

#[test]
fn a_diff_whose_two_answers_disagree_has_no_fingerprint() {
    let (repo, main, head) = approved();
    let mut json = repo.github_compare_json(&main, &head);
    json["files"][0]["patch"] = serde_json::json!("@@ -20 +20 @@\n-x\n+y");
    let body = serde_json::to_vec(&json).unwrap();
    let d = changegate::forge::github::compare::from_compare(
        &body,
        &repo.github_compare_diff(&main, &head),
    );
    let why = diff::fingerprint(&d).unwrap_err();
    assert!(why.contains("disagree"), "{why}");
    // A file GitHub shows without its patch (too large) has none either.
    let mut json = repo.github_compare_json(&main, &head);
    json["files"][0].as_object_mut().unwrap().remove("patch");
    let body = serde_json::to_vec(&json).unwrap();
    let d = changegate::forge::github::compare::from_compare(
        &body,
        &repo.github_compare_diff(&main, &head),
    );
    assert!(
        diff::fingerprint(&d)
            .unwrap_err()
            .contains("did not show the diff")
    );
}
