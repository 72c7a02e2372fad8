//! What changegate records of comment commands: each command (accepted or refused) and each
//! approval given by one. The store keeps them; the policy and the pages read them.

use crate::model::{CommentSource, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One command line of a comment, as recorded (a typed audit record's detail too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// `approve`, `withdraw`, `request_exception`, `confirm`, `recheck`, `help`, or
    /// `invalid` for a line that is no command changegate knows.
    pub kind: String,
    /// The line as written.
    pub text: String,
    pub person: User,
    /// When the comment was written.
    pub at: DateTime<Utc>,
    pub source: CommentSource,
    pub comment_id: u64,
    /// Which command of the comment (from 0).
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub accepted: bool,
    /// Why a refused command was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An approval given by a comment command, standing until withdrawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentApproval {
    /// The approval role's name.
    pub role: String,
    pub by: User,
    /// When the comment was written.
    pub at: DateTime<Utc>,
    pub source: CommentSource,
    pub comment_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The head it approves (for roles that new commits reset; the head at the comment's time
    /// otherwise, when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// SHA-256 of the comment's text as last known from its author.
    pub body_sha: String,
    /// GitHub's GraphQL node id of the comment (to see whether it was hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// The digest a comment's text is remembered by.
pub fn body_sha(body: &str) -> String {
    hex::encode(Sha256::digest(body.replace("\r\n", "\n").as_bytes()))
}
