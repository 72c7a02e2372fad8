//! What makes open changes be evaluated again without a webhook: the rules last in force (a
//! reload or a start with different rules evaluates every open change again), and the
//! repositories the bot knows (a blocked period's boundary lists their open changes).

use super::Store;
use crate::model::{Forge, RepoPath};
use anyhow::{Context, Result};
use sqlx::Row;

/// The rules in force last, as stored: their fingerprint and since when (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesInForce {
    pub fingerprint: String,
    pub since: i64,
}

/// The one row of the central rules.
const CENTRAL: &str = "central";

impl Store {
    /// The rules last recorded in force; `None` before any was.
    pub async fn rules_in_force(&self) -> Result<Option<RulesInForce>> {
        let row = sqlx::query("SELECT fingerprint, since FROM rules_in_force WHERE name = $1")
            .bind(CENTRAL)
            .fetch_optional(&self.reads)
            .await
            .context("cannot read the rules in force")?;
        row.map(|r| {
            Ok(RulesInForce {
                fingerprint: r.try_get(0)?,
                since: r.try_get(1)?,
            })
        })
        .transpose()
    }

    /// Records `fingerprint` as in force now, in place of `previous` (what
    /// [`Self::rules_in_force`] said): false when another replica recorded a change first.
    pub async fn record_rules_in_force(
        &self,
        previous: Option<&RulesInForce>,
        fingerprint: &str,
    ) -> Result<bool> {
        let now = self.now_ms();
        let query = match previous {
            Some(p) => sqlx::query(
                "UPDATE rules_in_force SET fingerprint = $1, since = $2
                 WHERE name = $3 AND fingerprint = $4 AND since = $5",
            )
            .bind(fingerprint.to_string())
            .bind(now)
            .bind(CENTRAL)
            .bind(p.fingerprint.clone())
            .bind(p.since),
            None => sqlx::query(
                "INSERT INTO rules_in_force (name, fingerprint, since) VALUES ($3, $1, $2)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(fingerprint.to_string())
            .bind(now)
            .bind(CENTRAL),
        };
        let done = query
            .execute(&mut *self.writer().await?)
            .await
            .context("cannot record the rules in force")?;
        Ok(done.rows_affected() == 1)
    }

    /// The repositories of `forge` whose changes the bot remembers (change memory is never
    /// purged), as their keys name them.
    pub async fn known_repositories(&self, forge: Forge) -> Result<Vec<RepoPath>> {
        let prefix = format!("{forge}:");
        let rows = sqlx::query(
            "SELECT change_key FROM change_memory WHERE substr(change_key, 1, length($1)) = $1",
        )
        .bind(prefix.clone())
        .fetch_all(&self.reads)
        .await
        .context("cannot list the repositories the bot knows")?;
        let mut out: Vec<RepoPath> = vec![];
        for r in rows {
            let key: String = r.try_get(0)?;
            if let Some(path) = repository_of(&key, &prefix)
                && !out.iter().any(|p| p.as_str() == path)
            {
                out.push(RepoPath::new(path));
            }
        }
        Ok(out)
    }
}

/// The repository path in a change key (`forge:path:kind:number`, see
/// [`crate::model::ChangeKey`]).
fn repository_of<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?;
    let (rest, _number) = rest.rsplit_once(':')?;
    let (path, _kind) = rest.rsplit_once(':')?;
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_names_its_repository() {
        assert_eq!(
            super::repository_of("github:acme/platypus:merge_request:7", "github:"),
            Some("acme/platypus")
        );
        assert_eq!(
            super::repository_of("gitlab:acme/sub/project:issue:12", "gitlab:"),
            Some("acme/sub/project")
        );
        assert_eq!(
            super::repository_of("github:period-boundaries", "github:"),
            None
        );
        assert_eq!(super::repository_of("gitlab:a/b:issue:1", "github:"), None);
    }
}
