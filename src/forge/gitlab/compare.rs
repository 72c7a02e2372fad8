//! A merge request's diff for `reset_on_push: changed_diff`, from GitLab's compare API
//! (`GET /projects/:id/repository/compare?from=…&to=…&straight=false`): paths, new/renamed/
//! deleted flags, both modes and the hunks. GitLab gives no blob ids there, so two identical
//! diffs are confirmed by comparing the two heads straight (`straight=true`): a touched path
//! among the differences is a different file. Whatever GitLab cuts has no fingerprint.

use super::GitlabClient;
use super::client::enc;
use crate::diff::{ChangeDiff, FileDiff, FileStatus};
use crate::forge::{ChangeRef, ForgeError};
use serde::Deserialize;

/// GitLab's default limit of files in a diff (`diff_max_files`): a list this long may be cut.
pub const GITLAB_COMPARE_MAX_FILES: usize = 1000;

#[derive(Deserialize)]
struct WireCompare {
    #[serde(default)]
    commits: Vec<WireCommit>,
    #[serde(default)]
    diffs: Vec<WireDiff>,
    #[serde(default)]
    compare_timeout: bool,
}

#[derive(Deserialize)]
struct WireCommit {
    id: String,
}

#[derive(Deserialize)]
struct WireDiff {
    old_path: String,
    new_path: String,
    a_mode: Option<String>,
    b_mode: Option<String>,
    #[serde(default)]
    new_file: bool,
    #[serde(default)]
    renamed_file: bool,
    #[serde(default)]
    deleted_file: bool,
    diff: Option<String>,
    #[serde(default)]
    too_large: bool,
    #[serde(default)]
    collapsed: bool,
}

impl GitlabClient {
    async fn compare(
        &self,
        r: &ChangeRef,
        from: &str,
        to: &str,
        straight: bool,
    ) -> Result<Vec<u8>, ForgeError> {
        let url = format!(
            "{}/repository/compare?from={}&to={}&straight={straight}",
            self.project(r),
            enc(from),
            enc(to)
        );
        Ok(self
            .call(true, reqwest::Method::GET, &url, None, "compare commits")
            .await?
            .body)
    }

    /// The diff from the merge base of `base` and `head` to `head`.
    pub(super) async fn compare_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<ChangeDiff, ForgeError> {
        let body = self.compare(r, base, head, false).await?;
        Ok(from_compare(&body, base))
    }

    /// The paths that differ between two commits (their trees, straight).
    pub(super) async fn compare_paths(
        &self,
        r: &ChangeRef,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, ForgeError> {
        let body = self.compare(r, from, to, true).await?;
        let wire: WireCompare = serde_json::from_slice(&body)
            .map_err(|e| ForgeError::Decode(format!("GitLab's comparison does not read: {e}")))?;
        if wire.compare_timeout || wire.diffs.len() >= GITLAB_COMPARE_MAX_FILES {
            return Err(ForgeError::TooLong("comparison of the two heads".into()));
        }
        let mut out: Vec<String> = wire
            .diffs
            .into_iter()
            .flat_map(|d| [d.old_path, d.new_path])
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The diff from GitLab's compare answer; `base` is the merge base compared from (the merge
/// request's `diff_refs.base_sha`).
pub fn from_compare(body: &[u8], base: &str) -> ChangeDiff {
    let mut diff = ChangeDiff {
        merge_base: Some(base.to_string()),
        blobs_given: false,
        ..ChangeDiff::default()
    };
    let wire: WireCompare = match serde_json::from_slice(body) {
        Ok(w) => w,
        Err(e) => {
            diff.cut = Some(format!("GitLab's comparison does not read: {e}"));
            return diff;
        }
    };
    diff.commits = wire.commits.into_iter().map(|c| c.id).collect();
    if wire.compare_timeout {
        diff.cut = Some("GitLab timed out comparing the commits".into());
        return diff;
    }
    if wire.diffs.len() >= GITLAB_COMPARE_MAX_FILES {
        diff.cut = Some(format!(
            "GitLab shows at most {GITLAB_COMPARE_MAX_FILES} files of a comparison, and this one reaches it"
        ));
        return diff;
    }
    diff.files = wire.diffs.into_iter().map(file).collect();
    diff
}

fn file(d: WireDiff) -> FileDiff {
    let status = match (d.new_file, d.deleted_file, d.renamed_file) {
        (true, _, _) => FileStatus::Added,
        (_, true, _) => FileStatus::Deleted,
        (_, _, true) => FileStatus::Renamed,
        _ => FileStatus::Modified,
    };
    // GitLab writes `0` for the side that does not exist.
    let mode = |m: Option<String>| m.filter(|m| !m.trim_matches('0').is_empty());
    let old_mode = mode(d.a_mode);
    let new_mode = mode(d.b_mode);
    // No `diff` at all, or an empty one for a file that is neither new, deleted, renamed nor
    // changed in mode (git would show hunks there): GitLab left the content out.
    let empty_modified = status == FileStatus::Modified
        && old_mode == new_mode
        && d.diff.as_deref().is_some_and(str::is_empty);
    let withheld = d.too_large || d.collapsed || d.diff.is_none() || empty_modified;
    let text = d.diff.unwrap_or_default();
    let binary = text.starts_with("Binary files ");
    FileDiff {
        status,
        old_path: d.old_path,
        new_path: d.new_path,
        old_mode,
        new_mode,
        old_blob: None,
        new_blob: None,
        patch: (!binary && !withheld).then(|| hunks(&text)),
        binary,
    }
}

/// The hunks from the first `@@` (older GitLab versions start with `---`/`+++` lines).
fn hunks(text: &str) -> String {
    match text.find("@@") {
        Some(0) | None => text.to_string(),
        Some(at) => text[at..].to_string(),
    }
}
