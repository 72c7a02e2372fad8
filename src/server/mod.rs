//! The HTTP edge: one endpoint per forge that caps, verifies, parses, stores and acknowledges.

pub mod github;
pub mod gitlab;
pub mod signature;

/// A body that is not the JSON its event header promises.
#[derive(Debug, thiserror::Error)]
#[error("malformed payload: {0}")]
pub struct ParseError(#[from] serde_json::Error);
