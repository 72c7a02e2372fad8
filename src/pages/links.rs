//! Signed, expiring links to a change's details page: whoever sees the change on the forge
//! (its status links there) can open its page; nobody can guess another change's.

use crate::model::Change;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub struct Links {
    key: Vec<u8>,
    /// How long a link works.
    ttl: chrono::Duration,
    /// Where people reach the bot (`server.public_url`), without a trailing slash.
    public_url: String,
}

/// Which change a page (and its token) is about: forge, lowercased path, kind, number.
pub fn page_path(forge: &str, repo: &str, kind: &str, number: u64) -> String {
    format!("/changes/{forge}/{}/{kind}/{number}", repo.to_lowercase())
}

impl Links {
    pub fn new(key: Vec<u8>, ttl_days: u64, public_url: &str) -> Self {
        Links {
            key,
            ttl: chrono::Duration::days(ttl_days as i64),
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, path: &str, expires: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(format!("{path}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A token for `path` that works until `now + ttl`.
    pub fn token(&self, path: &str, now: DateTime<Utc>) -> String {
        let expires = (now + self.ttl).timestamp();
        format!("{expires}.{}", self.mac(path, expires))
    }

    /// Whether `token` opens `path` at `now` (constant-time comparison).
    pub fn check(&self, path: &str, token: &str, now: DateTime<Utc>) -> bool {
        let Some((expires, mac)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        if expires < now.timestamp() {
            return false;
        }
        use subtle::ConstantTimeEq;
        self.mac(path, expires)
            .as_bytes()
            .ct_eq(mac.as_bytes())
            .into()
    }

    /// The signed URL of a change's details page.
    pub fn details_url(&self, change: &Change, now: DateTime<Utc>) -> String {
        self.url_for(
            change.forge,
            change.repo.path.as_str(),
            change.kind,
            change.number,
            now,
        )
    }

    /// The signed URL of the details page of `repo`'s change `number` (`changegate link`).
    pub fn url_for(
        &self,
        forge: crate::model::Forge,
        repo: &str,
        kind: crate::model::ChangeKind,
        number: u64,
        now: DateTime<Utc>,
    ) -> String {
        let path = page_path(forge.as_str(), repo, kind.as_str(), number);
        format!("{}{path}?token={}", self.public_url, self.token(&path, now))
    }
}

/// The page of one deployment decision.
pub fn deployment_path(id: &str) -> String {
    format!("/deployments/{id}")
}

impl Links {
    /// The signed URL of a deployment decision's details page.
    pub fn deployment_url(&self, id: &str, now: DateTime<Utc>) -> String {
        let path = deployment_path(id);
        format!("{}{path}?token={}", self.public_url, self.token(&path, now))
    }
}

/// A new random key (32 bytes, hex).
pub fn random_key() -> anyhow::Result<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf)
        .map_err(|e| anyhow::anyhow!("no randomness for the link key: {e}"))?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_one_change_and_expire() {
        let links = Links::new(b"k".to_vec(), 90, "https://cg.example.com/");
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let path = page_path("github", "Acme/Platypus", "merge_request", 7);
        assert_eq!(path, "/changes/github/acme/platypus/merge_request/7");
        let token = links.token(&path, now);
        assert!(links.check(&path, &token, now));
        assert!(links.check(&path, &token, now + chrono::Duration::days(89)));
        assert!(!links.check(&path, &token, now + chrono::Duration::days(91)));
        let other = page_path("github", "acme/platypus", "merge_request", 8);
        assert!(!links.check(&other, &token, now));
        // A later expiry cannot be written in: the MAC covers it.
        let (_, mac) = token.split_once('.').unwrap();
        let forged = format!("{}.{mac}", now.timestamp() + 10 * 365 * 86_400);
        assert!(!links.check(&path, &forged, now));
        assert!(!Links::new(b"other".to_vec(), 90, "x").check(&path, &token, now));
        for junk in ["", "x", "1.2", "abc.def"] {
            assert!(!links.check(&path, junk, now));
        }
    }
}
