//! A real git repository in a temporary directory, and the answers GitHub's and GitLab's
//! compare APIs give over its commits (`GET /repos/{o}/{r}/compare/{base}...{head}` as JSON and
//! as `application/vnd.github.diff`; `GET /projects/:id/repository/compare`), built from `git`
//! itself so that the fakes and the fingerprint tests judge real diffs.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

pub struct GitRepo {
    dir: tempfile::TempDir,
}

/// One entry of `git diff --raw -z`.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub old_mode: String,
    pub new_mode: String,
    pub old_blob: String,
    pub new_blob: String,
    /// `A`, `D`, `M`, `T`, `R`, `C` (the score dropped).
    pub status: char,
    pub old_path: String,
    pub new_path: String,
}

impl GitRepo {
    /// An empty repository on `main` with one commit of `files`.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let repo = GitRepo {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "alice"]);
        repo.git(&["config", "user.email", "alice@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        for (p, text) in files {
            repo.write(p, text);
        }
        repo.commit("initial");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository; its standard output (panics on failure).
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.dir.path())
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("git writes UTF-8 here")
    }

    /// Runs git with `input` on its standard input.
    pub fn git_with_input(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("git runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("input written");
        let out = child.wait_with_output().expect("git ends");
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    pub fn write(&self, path: &str, text: &str) {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("directories");
        }
        std::fs::write(full, text).expect("file written");
    }

    pub fn remove(&self, path: &str) {
        self.git(&["rm", "-q", path]);
    }

    pub fn rename(&self, from: &str, to: &str) {
        self.git(&["mv", from, to]);
    }

    pub fn chmod_x(&self, path: &str) {
        self.git(&["update-index", "--add", "--chmod=+x", path]);
        use std::os::unix::fs::PermissionsExt;
        let full = self.dir.path().join(path);
        std::fs::set_permissions(full, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// Commits everything in the work tree; the new commit's sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.sha("HEAD")
    }

    pub fn checkout(&self, branch: &str) {
        self.git(&["checkout", "-q", branch]);
    }

    /// A new branch at `from`, checked out.
    pub fn branch(&self, name: &str, from: &str) {
        self.git(&["checkout", "-q", "-b", name, from]);
    }

    pub fn sha(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev]).trim().to_string()
    }

    pub fn merge_base(&self, a: &str, b: &str) -> String {
        self.git(&["merge-base", a, b]).trim().to_string()
    }

    /// `git diff --full-index` between two commits, renames found as GitHub and GitLab do.
    pub fn full_index_diff(&self, from: &str, to: &str) -> String {
        self.git(&["diff", "--full-index", "-M", from, to])
    }

    /// `git patch-id --verbatim` of a diff text.
    pub fn patch_id(&self, diff: &str) -> String {
        self.git_with_input(&["patch-id", "--verbatim"], diff)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    }

    /// The files that differ between two commits, as `git diff --raw` lists them.
    pub fn raw(&self, from: &str, to: &str) -> Vec<RawEntry> {
        let out = self.git(&["diff", "--raw", "-z", "-M", "--no-abbrev", from, to]);
        let mut fields = out.split('\0').filter(|f| !f.is_empty());
        let mut entries = vec![];
        while let Some(head) = fields.next() {
            let parts: Vec<&str> = head.trim_start_matches(':').split(' ').collect();
            let status = parts[4].chars().next().unwrap_or('M');
            let first = fields.next().unwrap_or("").to_string();
            let second = match status {
                'R' | 'C' => fields.next().unwrap_or("").to_string(),
                _ => first.clone(),
            };
            entries.push(RawEntry {
                old_mode: parts[0].into(),
                new_mode: parts[1].into(),
                old_blob: parts[2].into(),
                new_blob: parts[3].into(),
                status,
                old_path: first,
                new_path: second,
            });
        }
        entries
    }

    /// One file's hunks between two commits (from its first `@@`), as both forges show them;
    /// `None` for a binary file.
    pub fn hunks(&self, from: &str, to: &str, e: &RawEntry) -> Option<String> {
        let text = self.git(&["diff", "-M", from, to, "--", &e.old_path, &e.new_path]);
        if text.contains("\nBinary files ") {
            return None;
        }
        Some(match text.find("\n@@") {
            Some(at) => text[at + 1..].to_string(),
            None => String::new(),
        })
    }

    /// GitHub's compare JSON (`base...head`: from their merge base).
    pub fn github_compare_json(&self, base: &str, head: &str) -> Value {
        let mb = self.merge_base(base, head);
        let files: Vec<Value> = self
            .raw(&mb, head)
            .iter()
            .map(|e| {
                let status = match e.status {
                    'A' => "added",
                    'D' => "removed",
                    'R' => "renamed",
                    'C' => "copied",
                    'T' => "changed",
                    _ if e.old_mode != e.new_mode && e.old_blob == e.new_blob => "changed",
                    _ => "modified",
                };
                let deleted = e.status == 'D';
                let mut f = json!({
                    "sha": if deleted { &e.old_blob } else { &e.new_blob },
                    "filename": if deleted { &e.old_path } else { &e.new_path },
                    "status": status, "additions": 1, "deletions": 1, "changes": 2,
                    "blob_url": "https://github.com/acme/platypus/blob/x",
                    "raw_url": "https://github.com/acme/platypus/raw/x",
                    "contents_url": "https://api.github.com/repos/acme/platypus/contents/x",
                });
                if matches!(e.status, 'R' | 'C') {
                    f["previous_filename"] = json!(e.old_path);
                }
                // GitHub's `patch` has no final newline, and is absent when there are no hunks.
                if let Some(h) = self.hunks(&mb, head, e).filter(|h| !h.is_empty()) {
                    f["patch"] = json!(h.trim_end_matches('\n'));
                }
                f
            })
            .collect();
        json!({
            "status": "ahead", "ahead_by": 1, "behind_by": 0,
            "base_commit": { "sha": self.sha(base) },
            "merge_base_commit": { "sha": mb },
            "total_commits": self.commits(&mb, head).len(),
            "commits": self.commits(&mb, head),
            "files": files,
        })
    }

    /// GitHub's compare as `application/vnd.github.diff`: git's diff with abbreviated ids.
    pub fn github_compare_diff(&self, base: &str, head: &str) -> String {
        let mb = self.merge_base(base, head);
        self.git(&["diff", "-M", &mb, head])
    }

    /// The commits between two commits, as the compare APIs list them (oldest first), with
    /// GitHub's `author`/`committer` accounts named after git's names.
    pub fn commits(&self, from: &str, to: &str) -> Vec<Value> {
        let out = self.git(&[
            "log",
            "--reverse",
            "--format=%H %an %cn",
            &format!("{from}..{to}"),
        ]);
        out.lines()
            .filter_map(|l| {
                let mut w = l.split(' ');
                let (sha, a, c) = (w.next()?, w.next()?, w.next()?);
                let account = |n: &str| json!({ "login": n, "id": n.bytes().map(u64::from).sum::<u64>(), "type": "User" });
                Some(json!({ "sha": sha, "id": sha,
                    "commit": { "message": "work", "author": { "name": a, "email": format!("{a}@example.com") }, "committer": { "name": c, "email": format!("{c}@example.com") } },
                    "author": account(a), "committer": account(c) }))
            })
            .collect()
    }

    /// GitLab's compare (`straight=false`: from the merge base).
    pub fn gitlab_compare_json(&self, from: &str, to: &str, straight: bool) -> Value {
        let start = if straight {
            self.sha(from)
        } else {
            self.merge_base(from, to)
        };
        let mode = |m: &str| {
            if m.trim_matches('0').is_empty() {
                "0".to_string()
            } else {
                m.to_string()
            }
        };
        let diffs: Vec<Value> = self
            .raw(&start, to)
            .iter()
            .map(|e| {
                let text = match self.hunks(&start, to, e) {
                    Some(h) => h,
                    None => format!("Binary files a/{} and b/{} differ\n", e.old_path, e.new_path),
                };
                json!({
                    "old_path": e.old_path, "new_path": e.new_path,
                    "a_mode": mode(&e.old_mode), "b_mode": mode(&e.new_mode),
                    "new_file": e.status == 'A', "renamed_file": e.status == 'R', "deleted_file": e.status == 'D',
                    "generated_file": false, "too_large": false, "collapsed": false,
                    "diff": text,
                })
            })
            .collect();
        let commits = self.commits(&start, to);
        json!({
            "commit": commits.last().cloned().unwrap_or(Value::Null),
            "commits": commits,
            "diffs": diffs,
            "compare_timeout": false,
            "compare_same_ref": self.sha(&start) == self.sha(to),
            "web_url": "https://gitlab.example.com/acme/platypus/-/compare",
        })
    }
}
