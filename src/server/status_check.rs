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

/// How long the same signed body counts as one request: the signature has no time in it, so
/// a body captured once can be sent again; within the window it is a duplicate delivery.
pub const REPLAY_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The delivery id of a request: the body's SHA-256 and the replay window it arrived in, so
/// a replayed body queues nothing more until the window ends (and then only a trigger, which
/// reads everything from the API).
pub fn delivery_id(body: &[u8], now_ms: i64) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(body));
    let window = now_ms.div_euclid(REPLAY_WINDOW_MS);
    format!("status-check:{digest}:{window}")
}

/// The header value for `body` (tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(signature::hmac_sha256(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_body_in_one_window_is_one_delivery() {
        let body = br#"{"object_kind":"merge_request"}"#;
        let at = 5 * REPLAY_WINDOW_MS + 1;
        assert_eq!(delivery_id(body, at), delivery_id(body, at + 1000));
        assert_ne!(delivery_id(body, at), delivery_id(b"{}", at));
        assert_ne!(
            delivery_id(body, at),
            delivery_id(body, at + REPLAY_WINDOW_MS)
        );
    }

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
