//! What `changed_diff` approvals are judged on: the fingerprint recorded when each was given,
//! and the change's diff now. Records, written when the approval happens and read back; never
//! re-derived from what the forge shows later.

use super::Fingerprint;
use crate::model::User;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The diff an approval was given on, recorded when changegate first saw the approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovedDiff {
    /// The approval role's name (`approvals[].name`).
    pub role: String,
    /// How it was given: `label`, `review` (a native approval) or `comment`.
    pub via: String,
    pub by: User,
    /// When the forge says it was given (the label's application, the review's submission).
    pub given_at: DateTime<Utc>,
    /// The head it was given on, and the target branch and the target's commit compared to.
    pub head_sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_base: Option<String>,
    /// The fingerprint of that diff, or why it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ApprovedDiff {
    /// Whether this record is of the approval `role` given by `by` through `via` at `at`.
    pub fn is_of(&self, role: &str, via: &str, by: &User, at: Option<DateTime<Utc>>) -> bool {
        self.role == role
            && self.via == via
            && self.by.same_as(by) == Some(true)
            && at == Some(self.given_at)
    }
}

/// The change's diff at its current head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffNow {
    pub head_sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_base: Option<String>,
    /// Commits between the merge base and the head (for the comment's words only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// Whether the fingerprint covers the resulting blob ids (else `heads` confirms them).
    pub blobs_given: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The forge could not be read (after its retries): the problem is the forge's, not the
    /// diff's, and no approval's record is made from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unread: bool,
}

/// What differs between an approved head and the current one (the paths whose content or
/// mode differ), where the forge gives no blob ids to compare; or why it is not known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadsCompared {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Everything `changed_diff` approvals are judged on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiffFacts {
    /// The diffs approvals of this change were given on, as recorded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approved: Vec<ApprovedDiff>,
    /// The diff now; `None` when not read (no approval needed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<DiffNow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<HeadsCompared>,
}

impl DiffFacts {
    pub fn is_empty(&self) -> bool {
        self.approved.is_empty() && self.now.is_none() && self.heads.is_empty()
    }
}
