//! Constant-time checks shared by both forges' receivers.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header malformed")]
    Malformed,
    #[error("signature does not match any configured secret")]
    Mismatch,
    #[error("signature timestamp outside the accepted window")]
    Stale,
    #[error("X-Gitlab-Token header missing")]
    TokenMissing,
    #[error("X-Gitlab-Token does not match any configured token (gitlab.webhook_secret)")]
    TokenMismatch,
    #[error("no webhook secret is configured for this forge and unsigned webhooks are not allowed")]
    NotConfigured,
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // new_from_slice accepts any key length for HMAC; the error arm cannot occur.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Constant-time comparison of an HMAC-SHA256 over `parts` (concatenated) with `expected`.
pub fn hmac_sha256_parts_matches(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(expected).is_ok()
}

pub fn hmac_sha256_matches(key: &[u8], message: &[u8], expected: &[u8]) -> bool {
    hmac_sha256_parts_matches(key, &[message], expected)
}

/// Constant-time equality of a presented token with any of the configured ones.
pub fn token_matches(configured: &[Vec<u8>], presented: &[u8]) -> bool {
    // Fold over every secret so timing does not reveal which one matched.
    configured.iter().fold(false, |acc, secret| {
        acc | bool::from(secret.ct_eq(presented))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let configured = vec![b"one".to_vec(), b"two".to_vec()];
        assert!(token_matches(&configured, b"two"));
        assert!(!token_matches(&configured, b"tw"));
        assert!(!token_matches(&configured, b""));
        assert!(!token_matches(&[], b"two"));
    }

    #[test]
    fn hmac_matches_known_vector() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_sha256_parts_matches(
            b"Jefe",
            &[b"what do ya ", b"want for nothing?"],
            &mac
        ));
    }
}
