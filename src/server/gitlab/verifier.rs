//! Checking a GitLab delivery's `X-Gitlab-Token` and HMAC signing-token headers (Standard
//! Webhooks), and computing the signature for tests and tools.

use crate::server::signature::{self, SignatureError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// What the GitLab endpoint checks, built once from settings.
#[derive(Clone, Default)]
pub struct GitlabVerifier {
    /// Plain `X-Gitlab-Token` secrets; when any is set, the header must match one.
    pub tokens: Vec<Vec<u8>>,
    /// Decoded HMAC keys of signing tokens; when any is set, `webhook-signature` must verify.
    pub signing_keys: Vec<Vec<u8>>,
    /// Accepted distance between `webhook-timestamp` and now, against replays.
    pub tolerance_secs: i64,
}

/// The delivery headers the verifier reads.
pub struct GitlabHeaders<'a> {
    pub token: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub webhook_timestamp: Option<&'a str>,
    pub webhook_signature: Option<&'a str>,
}

impl GitlabVerifier {
    /// Whether deliveries are signed (`webhook-id` is then part of what is signed).
    pub fn signs(&self) -> bool {
        !self.signing_keys.is_empty()
    }

    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty() || !self.signing_keys.is_empty()
    }

    /// What can be checked before the body is read: the token, and that a signature with a
    /// fresh timestamp is there when signing is configured.
    pub fn precheck(&self, h: &GitlabHeaders, now: i64) -> Result<(), SignatureError> {
        if !self.tokens.is_empty() {
            let token = h.token.ok_or(SignatureError::TokenMissing)?;
            if !signature::token_matches(&self.tokens, token.as_bytes()) {
                return Err(SignatureError::TokenMismatch);
            }
        }
        if !self.signing_keys.is_empty() {
            let (Some(_), Some(ts), Some(_)) =
                (h.webhook_id, h.webhook_timestamp, h.webhook_signature)
            else {
                return Err(SignatureError::Missing);
            };
            let ts: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
            if stale(now, ts, self.tolerance_secs) {
                return Err(SignatureError::Stale);
            }
        }
        Ok(())
    }

    /// Every configured mechanism must pass; several secrets per mechanism allow rotation.
    pub fn verify(&self, h: &GitlabHeaders, body: &[u8], now: i64) -> Result<(), SignatureError> {
        if !self.tokens.is_empty() {
            let token = h.token.ok_or(SignatureError::TokenMissing)?;
            if !signature::token_matches(&self.tokens, token.as_bytes()) {
                return Err(SignatureError::TokenMismatch);
            }
        }
        if !self.signing_keys.is_empty() {
            self.verify_hmac(h, body, now)?;
        }
        Ok(())
    }

    fn verify_hmac(&self, h: &GitlabHeaders, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let (Some(id), Some(ts), Some(sigs)) =
            (h.webhook_id, h.webhook_timestamp, h.webhook_signature)
        else {
            return Err(SignatureError::Missing);
        };
        let ts_num: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
        if stale(now, ts_num, self.tolerance_secs) {
            return Err(SignatureError::Stale);
        }
        let candidates: Vec<Vec<u8>> = sigs
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
        let ok = self.signing_keys.iter().any(|key| {
            candidates
                .iter()
                .any(|sig| signature::hmac_sha256_parts_matches(key, &parts, sig))
        });
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Whether the sender's `webhook-timestamp` is further than `tolerance` seconds from `now`
/// (checked: the header is anyone's to write, and one near i64's limits must not overflow).
fn stale(now: i64, ts: i64, tolerance: i64) -> bool {
    now.checked_sub(ts)
        .is_none_or(|d| d.unsigned_abs() > tolerance.unsigned_abs())
}

/// Decodes a signing token (`whsec_<base64>`) into its HMAC key.
pub fn signing_key(token: &str) -> Result<Vec<u8>, String> {
    let b64 = token.trim().strip_prefix("whsec_").unwrap_or(token.trim());
    BASE64
        .decode(b64)
        .map_err(|_| "a GitLab signing token must be `whsec_` followed by base64".to_string())
}

/// The `webhook-signature` value for a delivery (used by tests and tools).
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut msg = format!("{webhook_id}.{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    format!("v1,{}", BASE64.encode(signature::hmac_sha256(key, &msg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> GitlabVerifier {
        GitlabVerifier {
            tokens: vec![b"tok".to_vec()],
            signing_keys: vec![b"0123456789abcdef0123456789abcdef".to_vec()],
            tolerance_secs: 300,
        }
    }

    #[test]
    fn timestamps_at_the_limits_of_i64_are_stale_not_overflows() {
        let v = verifier();
        for ts in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let h = GitlabHeaders {
                token: Some("tok"),
                webhook_id: Some("msg_1"),
                webhook_timestamp: Some(&ts),
                webhook_signature: Some("v1,AAAA"),
            };
            assert_eq!(v.precheck(&h, 1000), Err(SignatureError::Stale));
            assert_eq!(v.verify(&h, b"{}", 1000), Err(SignatureError::Stale));
        }
        assert!(!stale(1000, 1300, 300) && stale(1000, 1301, 300));
    }

    #[test]
    fn both_mechanisms_are_required_when_configured() {
        let v = verifier();
        let body = b"{}";
        let sig = sign(&v.signing_keys[0], "msg_1", 1000, body);
        let ok = GitlabHeaders {
            token: Some("tok"),
            webhook_id: Some("msg_1"),
            webhook_timestamp: Some("1000"),
            webhook_signature: Some(&sig),
        };
        assert_eq!(v.verify(&ok, body, 1010), Ok(()));
        let no_sig = GitlabHeaders {
            webhook_signature: None,
            ..ok
        };
        assert_eq!(v.verify(&no_sig, body, 1010), Err(SignatureError::Missing));
    }

    #[test]
    fn hmac_rejects_replay_tampering_and_accepts_rotation_lists() {
        let v = GitlabVerifier {
            tokens: vec![],
            ..verifier()
        };
        let body = b"{\"a\":1}";
        let good = sign(&v.signing_keys[0], "id", 1000, body);
        let list = format!("v1,AAAA {good}");
        let check = |sig: &str, ts: &str, body: &[u8], now| {
            v.verify(
                &GitlabHeaders {
                    token: None,
                    webhook_id: Some("id"),
                    webhook_timestamp: Some(ts),
                    webhook_signature: Some(sig),
                },
                body,
                now,
            )
        };
        assert_eq!(check(&list, "1000", body, 1000), Ok(()));
        assert_eq!(check(&good, "1000", body, 2000), Err(SignatureError::Stale));
        assert_eq!(
            check(&good, "1000", b"{}", 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&good, "1001", body, 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("v2,xx", "1000", body, 1000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn signing_tokens_decode() {
        assert_eq!(signing_key("whsec_AAEC").unwrap(), vec![0, 1, 2]);
        assert!(signing_key("whsec_***").is_err());
    }
}
