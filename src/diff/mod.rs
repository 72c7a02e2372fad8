//! A change's diff against its target, as one forge shows it, and its fingerprint: what
//! `reset_on_push: changed_diff` compares to tell whether a push changed what was approved.
//!
//! The fingerprint is a SHA-256 over each file rendered the way `git diff --full-index` writes
//! it (file header, modes, rename lines, blob ids, and the hunks byte for byte, hunk headers with
//! their line numbers included). It is stricter than `git patch-id --verbatim`, which ignores
//! blob ids and line numbers: two diffs have the same fingerprint only when every touched path
//! has the same status, old and new path, modes, resulting blob and hunks. Commit messages,
//! titles and counts are never part of it. Whatever the forge does not show whole (a cut list,
//! a withheld patch, a binary without both blob ids, a submodule) has no fingerprint: the
//! approval resets, with the reason.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a file changed between the merge base and the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Added,
    Deleted,
    Modified,
    Renamed,
    Copied,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Added => "added",
            FileStatus::Deleted => "deleted",
            FileStatus::Modified => "modified",
            FileStatus::Renamed => "renamed",
            FileStatus::Copied => "copied",
        }
    }
}

/// Git's mode of a submodule (a gitlink): its content is another repository's commit, which
/// no diff shows.
pub const SUBMODULE_MODE: &str = "160000";

/// One touched file, as the forge shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiff {
    pub status: FileStatus,
    /// The path before (the same as `new_path` unless renamed or copied).
    pub old_path: String,
    /// The path after (the same as `old_path` for a deleted file).
    pub new_path: String,
    /// Modes as git writes them (`100644`); `None` where that side does not exist, or the
    /// forge did not say (then there is no fingerprint).
    pub old_mode: Option<String>,
    pub new_mode: Option<String>,
    /// Full blob ids where the forge gives them.
    pub old_blob: Option<String>,
    pub new_blob: Option<String>,
    /// The hunks from the first `@@`, verbatim; empty for a change without content (a pure
    /// rename or mode change, an empty file); `None` when the forge withheld them.
    pub patch: Option<String>,
    /// Git calls the file binary: no hunks, only blob ids identify the content.
    pub binary: bool,
}

impl FileDiff {
    /// The path people know the file by: the new one, or the old one of a deleted file.
    pub fn path(&self) -> &str {
        match self.status {
            FileStatus::Deleted => &self.old_path,
            _ => &self.new_path,
        }
    }

    fn has_old(&self) -> bool {
        self.status != FileStatus::Added
    }

    fn has_new(&self) -> bool {
        self.status != FileStatus::Deleted
    }
}

/// A change's diff (merge base to head) as the forge shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDiff {
    pub files: Vec<FileDiff>,
    /// Why the forge's diff is not whole (too many files, too large, timed out), when it
    /// says or its limits show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
    /// The merge base the forge compared from, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_base: Option<String>,
    /// The commits between the merge base and the head, as far as listed (only for the
    /// comment's words: never for the decision).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// Whether the forge gives every resulting blob id (GitHub); GitLab's compare gives
    /// none, so equal fingerprints are confirmed there by comparing the two heads.
    #[serde(default)]
    pub blobs_given: bool,
}

/// One file's part of a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePrint {
    pub path: String,
    pub digest: String,
}

/// What identifies a diff: its digest and each file's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub digest: String,
    pub files: Vec<FilePrint>,
}

impl Fingerprint {
    /// The first path (in path order) where two fingerprints differ: touched by one and not
    /// the other, or touched differently. `None` when they are the same.
    pub fn first_difference<'a>(&'a self, other: &'a Fingerprint) -> Option<&'a str> {
        if self.digest == other.digest {
            return None;
        }
        let mut paths: Vec<&str> = self
            .files
            .iter()
            .chain(&other.files)
            .map(|f| f.path.as_str())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        let of = |fp: &'a Fingerprint, p: &str| -> Vec<&'a str> {
            fp.files
                .iter()
                .filter(|f| f.path == p)
                .map(|f| f.digest.as_str())
                .collect()
        };
        paths
            .into_iter()
            .find(|p| of(self, p) != of(other, p))
            // Same files, different whole: the order or count of entries differs.
            .or(self.files.first().map(|f| f.path.as_str()))
    }
}

/// The fingerprint of a diff, or why it has none (in words for the comment).
pub fn fingerprint(diff: &ChangeDiff) -> Result<Fingerprint, String> {
    if let Some(cut) = &diff.cut {
        return Err(cut.clone());
    }
    let mut files: Vec<(String, String)> = Vec::with_capacity(diff.files.len());
    for f in &diff.files {
        check(f)?;
        let mut text = render(f);
        // Where git writes no index line (a pure rename, a mode change), the resulting blob
        // still identifies the content: the old file may have changed on the target.
        if !writes_index(f)
            && let Some(blob) = &f.new_blob
        {
            text.push_str(&format!("resulting blob {blob}\n"));
        }
        files.push((f.path().to_string(), text));
    }
    files.sort();
    let mut whole = Sha256::new();
    let files = files
        .into_iter()
        .map(|(path, text)| {
            whole.update(text.as_bytes());
            FilePrint {
                path,
                digest: hex::encode(Sha256::digest(text.as_bytes())),
            }
        })
        .collect();
    Ok(Fingerprint {
        digest: hex::encode(whole.finalize()),
        files,
    })
}

/// Why a file cannot be fingerprinted, if it cannot.
fn check(f: &FileDiff) -> Result<(), String> {
    let path = crate::markdown::code(f.path());
    let modes = [f.old_mode.as_deref(), f.new_mode.as_deref()];
    if modes.contains(&Some(SUBMODULE_MODE)) {
        return Err(format!(
            "{path} is a submodule, whose content no diff shows"
        ));
    }
    if (f.has_old() && f.old_mode.is_none()) || (f.has_new() && f.new_mode.is_none()) {
        return Err(format!("the forge did not say the file mode of {path}"));
    }
    if f.binary && ((f.has_old() && f.old_blob.is_none()) || (f.has_new() && f.new_blob.is_none()))
    {
        return Err(format!(
            "{path} is a binary change the forge does not identify by both blob ids"
        ));
    }
    // Git lists a modified file without hunks only when its mode changed: an empty patch
    // with equal modes is content the forge left out.
    let empty_modified = f.status == FileStatus::Modified
        && f.patch.as_deref() == Some("")
        && f.old_mode == f.new_mode;
    if !f.binary && (f.patch.is_none() || empty_modified) {
        return Err(format!(
            "the forge did not show the diff of {path} (too large, or withheld)"
        ));
    }
    Ok(())
}

const NO_BLOB: &str = "0000000000000000000000000000000000000000";

/// Whether git writes an index line for the file: when the content changed, or for a new or
/// deleted file.
fn writes_index(f: &FileDiff) -> bool {
    f.patch.as_deref().is_some_and(|p| !p.is_empty())
        || f.binary
        || matches!(f.status, FileStatus::Added | FileStatus::Deleted)
}

/// A file as `git diff --full-index` writes it, without the similarity line (neither forge
/// gives it the same way); a blob id the forge does not give is written `unknown`.
pub fn render(f: &FileDiff) -> String {
    let mut out = format!("diff --git a/{} b/{}\n", f.old_path, f.new_path);
    let old_mode = f.old_mode.as_deref().unwrap_or("");
    let new_mode = f.new_mode.as_deref().unwrap_or("");
    match f.status {
        FileStatus::Added => out.push_str(&format!("new file mode {new_mode}\n")),
        FileStatus::Deleted => out.push_str(&format!("deleted file mode {old_mode}\n")),
        _ if old_mode != new_mode => {
            out.push_str(&format!("old mode {old_mode}\nnew mode {new_mode}\n"));
        }
        _ => {}
    }
    match f.status {
        FileStatus::Renamed => out.push_str(&format!(
            "rename from {}\nrename to {}\n",
            f.old_path, f.new_path
        )),
        FileStatus::Copied => out.push_str(&format!(
            "copy from {}\ncopy to {}\n",
            f.old_path, f.new_path
        )),
        _ => {}
    }
    let patch = f.patch.as_deref().unwrap_or("");
    if writes_index(f) {
        let blob = |side: bool, id: &Option<String>| match (side, id) {
            (false, _) => NO_BLOB.to_string(),
            (true, Some(id)) => id.clone(),
            (true, None) => "unknown".to_string(),
        };
        out.push_str(&format!(
            "index {}..{}",
            blob(f.has_old(), &f.old_blob),
            blob(f.has_new(), &f.new_blob)
        ));
        if f.status != FileStatus::Added && f.status != FileStatus::Deleted && old_mode == new_mode
        {
            out.push_str(&format!(" {new_mode}"));
        }
        out.push('\n');
    }
    let a = |p: &str| format!("a/{p}");
    let b = |p: &str| format!("b/{p}");
    let old = if f.has_old() {
        a(&f.old_path)
    } else {
        "/dev/null".into()
    };
    let new = if f.has_new() {
        b(&f.new_path)
    } else {
        "/dev/null".into()
    };
    if f.binary {
        out.push_str(&format!("Binary files {old} and {new} differ\n"));
    } else if !patch.is_empty() {
        out.push_str(&format!("--- {old}\n+++ {new}\n"));
        out.push_str(patch);
        if !patch.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests;

mod facts;
pub mod git_text;
pub use facts::{ApprovedDiff, DiffFacts, DiffNow, HeadsCompared};
