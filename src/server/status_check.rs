//! GitLab's external status check (Ultimate) calls `POST /webhooks/gitlab/status-check` with
//! a merge request webhook body, signed `X-Gitlab-Signature` = hex HMAC-SHA256 of the body with
//! the check's shared secret. The signature covers the body only (no id, no time), so a
//! request is a trigger, never data: the worker reads the merge request, its head and the
//! check from the API, and answers there.

use super::signature::{self, SignatureError};

/// The route GitLab's check calls; its `external_url` is `server.public_url` + this.
pub const ROUTE: &str = crate::forge::gitlab::STATUS_CHECK_ROUTE;

/// The header GitLab signs a status check request with.
pub const HEADER: &str = "x-gitlab-signature";

/// Checks `X-Gitlab-Signature` against every configured secret (several while rotating),
/// in constant time per secret.
pub fn verify(
    secrets: &[Vec<u8>],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NotConfigured);
    }
    let presented = decode(header)?;
    // Every secret is tried, so timing does not tell which one matched.
    let ok = secrets.iter().fold(false, |acc, key| {
        acc | signature::hmac_sha256_matches(key, body, &presented)
    });
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// What can be checked before the body is read: a header of the right form.
pub fn precheck(secrets: &[Vec<u8>], header: Option<&str>) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NotConfigured);
    }
    decode(header).map(drop)
}

fn decode(header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let text = header.ok_or(SignatureError::Missing)?.trim();
    let bytes = hex::decode(text).map_err(|_| SignatureError::Malformed)?;
    if bytes.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    Ok(bytes)
}

/// The header value for `body` (tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(signature::hmac_sha256(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hex_hmac_of_the_body_with_a_configured_secret_passes() {
        let secrets = vec![b"old".to_vec(), b"new".to_vec()];
        let body = br#"{"object_kind":"merge_request"}"#;
        let good = sign(b"new", body);
        assert_eq!(verify(&secrets, Some(&good), body), Ok(()));
        assert_eq!(verify(&secrets, Some(&sign(b"old", body)), body), Ok(()));
        assert_eq!(
            verify(&secrets, Some(&sign(b"other", body)), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secrets, Some(&good), b"{}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(&secrets, None, body), Err(SignatureError::Missing));
        assert_eq!(
            verify(&secrets, Some("zz"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secrets, Some(&good[..10]), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[], Some(&good), body),
            Err(SignatureError::NotConfigured)
        );
    }
}
