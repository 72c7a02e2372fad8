//! A pull request's diff for `reset_on_push: changed_diff`, from GitHub's compare API
//! (`GET /repos/{o}/{r}/compare/{base}...{head}`), read in its two representations: the JSON
//! gives each file's full resulting blob id, status and previous name; the
//! `application/vnd.github.diff` media type gives what the JSON lacks, the file modes (and the
//! hunks, which must agree with the JSON's `patch`). Both are conditional requests on a URL of
//! commit SHAs. Whatever does not agree, or is cut, leaves the diff without a fingerprint.

use super::GithubClient;
use super::client::enc;
use crate::diff::{ChangeDiff, FileDiff, FileStatus};
use crate::forge::{ChangeRef, ForgeError};
use serde::Deserialize;

/// GitHub lists at most this many files of a comparison: a list this long may be cut.
pub const GITHUB_COMPARE_MAX_FILES: usize = 300;

/// The diff media type: a unified diff with git's extended headers.
pub const DIFF_MEDIA_TYPE: &str = "application/vnd.github.diff";

#[derive(Deserialize)]
struct WireCompare {
    merge_base_commit: Option<WireSha>,
    #[serde(default)]
    commits: Vec<WireSha>,
    files: Option<Vec<WireFile>>,
}

#[derive(Deserialize)]
struct WireSha {
    sha: String,
}

#[derive(Deserialize)]
struct WireFile {
    sha: Option<String>,
    filename: String,
    status: String,
    previous_filename: Option<String>,
    patch: Option<String>,
}

impl GithubClient {
    /// The diff between the merge base of `base` and `head`, and `head`.
    pub(super) async fn compare_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<ChangeDiff, ForgeError> {
        let url = self.repo_url(r, &format!("/compare/{}...{}", enc(base), enc(head)));
        let json = self.get_conditional(&url, "compare commits").await?;
        let text = self
            .get_conditional_as(&url, Some(DIFF_MEDIA_TYPE), "compare commits as a diff")
            .await?;
        let text = String::from_utf8(text.body)
            .map_err(|_| ForgeError::Decode("the comparison's diff is not UTF-8".into()))?;
        Ok(from_compare(&json.body, &text))
    }
}

/// The diff from the compare API's two answers (JSON and diff text): cut, with the reason,
/// where they disagree or GitHub shows less than the whole.
pub fn from_compare(json: &[u8], text: &str) -> ChangeDiff {
    let wire: WireCompare = match serde_json::from_slice(json) {
        Ok(w) => w,
        Err(e) => return cut(format!("GitHub's comparison does not read: {e}")),
    };
    let merge_base = wire.merge_base_commit.map(|c| c.sha);
    let commits = wire.commits.into_iter().map(|c| c.sha).collect();
    let mut diff = ChangeDiff {
        merge_base,
        commits,
        blobs_given: true,
        ..ChangeDiff::default()
    };
    let Some(files) = wire.files else {
        diff.cut = Some("GitHub's comparison lists no files".into());
        return diff;
    };
    if files.len() >= GITHUB_COMPARE_MAX_FILES {
        diff.cut = Some(format!(
            "GitHub lists at most {GITHUB_COMPARE_MAX_FILES} files of a comparison, and this one reaches it"
        ));
        return diff;
    }
    match join(files, text) {
        Ok(joined) => diff.files = joined,
        Err(why) => diff.cut = Some(why),
    }
    diff
}

fn cut(why: String) -> ChangeDiff {
    ChangeDiff {
        cut: Some(why),
        ..ChangeDiff::default()
    }
}

/// Each file of the JSON with its section of the diff text, one to one.
fn join(files: Vec<WireFile>, text: &str) -> Result<Vec<FileDiff>, String> {
    let mut sections = crate::diff::git_text::sections(text)?;
    if sections.len() != files.len() {
        return Err(format!(
            "GitHub's comparison lists {} files but its diff shows {}",
            files.len(),
            sections.len()
        ));
    }
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let at = sections
            .iter()
            .position(|s| s.path() == f.filename)
            .ok_or_else(|| format!("`{}` is not in GitHub's diff of the comparison", f.filename))?;
        let mut s = sections.swap_remove(at);
        check_status(&f, s.status)?;
        if f.previous_filename
            .as_deref()
            .is_some_and(|p| p != s.old_path)
        {
            return Err(format!(
                "GitHub's two answers disagree on the old name of `{}`",
                f.filename
            ));
        }
        if s.status != FileStatus::Deleted {
            let full = f
                .sha
                .clone()
                .filter(|sha| sha.len() == 40)
                .ok_or_else(|| format!("GitHub gives no blob id for `{}`", f.filename))?;
            if s.new_blob
                .as_deref()
                .is_some_and(|short| !full.starts_with(short))
            {
                return Err(format!(
                    "GitHub's two answers disagree on the blob of `{}`",
                    f.filename
                ));
            }
            s.new_blob = Some(full);
        } else {
            s.new_blob = None;
        }
        // Only the JSON's ids are full: an abbreviated one identifies nothing.
        s.old_blob = None;
        let hunks = s.patch.as_deref().unwrap_or("");
        match f.patch.as_deref() {
            Some(p) if p.trim_end_matches('\n') != hunks.trim_end_matches('\n') => {
                return Err(format!(
                    "GitHub's two answers disagree on the diff of `{}`",
                    f.filename
                ));
            }
            None if !hunks.is_empty() => s.patch = None,
            _ => {}
        }
        out.push(s);
    }
    Ok(out)
}

/// The JSON's status must name what the diff text shows.
fn check_status(f: &WireFile, status: FileStatus) -> Result<(), String> {
    let expected: &[&str] = match status {
        FileStatus::Added => &["added"],
        FileStatus::Deleted => &["removed"],
        FileStatus::Modified => &["modified", "changed"],
        FileStatus::Renamed => &["renamed"],
        FileStatus::Copied => &["copied"],
    };
    if expected.contains(&f.status.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "GitHub's two answers disagree on how `{}` changed ({} and {})",
            f.filename,
            f.status,
            status.as_str()
        ))
    }
}
