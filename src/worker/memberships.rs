//! Approver-group membership answers from the forges, cached with a TTL: a team's membership
//! changes rarely, and every evaluation would otherwise ask again.

use crate::model::User;
use crate::rules::TeamRef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (team, user) → (member?, when the forge said so).
type Answers = HashMap<(TeamRef, String), (bool, Instant)>;

#[derive(Clone)]
pub struct MembershipCache {
    ttl: Duration,
    entries: Arc<Mutex<Answers>>,
}

fn key(team: &TeamRef, user: &User) -> Option<(TeamRef, String)> {
    let who = user
        .id
        .map(|id| format!("#{id}"))
        .or(user.username.as_ref().map(|n| n.to_lowercase()))?;
    Some((team.clone(), who))
}

impl MembershipCache {
    pub fn new(ttl: Duration) -> Self {
        MembershipCache {
            ttl,
            entries: Arc::default(),
        }
    }

    pub fn get(&self, team: &TeamRef, user: &User) -> Option<bool> {
        let k = key(team, user)?;
        let entries = self.entries.lock().ok()?;
        let (member, at) = entries.get(&k)?;
        (at.elapsed() < self.ttl).then_some(*member)
    }

    /// Forgets every answer about `user` (a recheck asks the forge again).
    pub fn forget(&self, user: &User) {
        let names: Vec<String> = user
            .id
            .map(|id| format!("#{id}"))
            .into_iter()
            .chain(user.username.as_ref().map(|n| n.to_lowercase()))
            .collect();
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(_, who), _| !names.contains(who));
        }
    }

    pub fn put(&self, team: &TeamRef, user: &User, member: bool) {
        if let (Some(k), Ok(mut entries)) = (key(team, user), self.entries.lock()) {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            entries.insert(k, (member, Instant::now()));
        }
    }
}

impl super::Worker {
    /// The account ids of the usernames the rules list as static approvers on this forge,
    /// into the snapshot: each resolved once, at the first evaluation that reads the rules
    /// naming it, and kept (the first answer stands, so that a login renamed or taken over
    /// later keeps pointing at its account). A login no account has approves nothing.
    pub(super) async fn resolve_logins<F: crate::forge::Forge>(
        &self,
        forge: &F,
        rules: &crate::rules::Rules,
        snap: &mut crate::policy::Snapshot,
    ) -> anyhow::Result<()> {
        let kind = snap.change.forge;
        let logins = static_logins(rules, kind);
        if logins.is_empty() {
            return Ok(());
        }
        let known = self.bind_logins(forge, kind, &logins).await?;
        for login in logins {
            let id = known.get(&login.to_lowercase()).copied().flatten();
            if id.is_none() {
                tracing::warn!(
                    login = %login,
                    forge = %kind,
                    "the rules list a username no account had when changegate resolved it: it approves nothing"
                );
            }
            snap.memberships.resolve(login, id);
        }
        Ok(())
    }

    /// What each of `logins` resolved to, asking the forge for those never resolved.
    async fn bind_logins<F: crate::forge::Forge>(
        &self,
        forge: &F,
        kind: crate::model::Forge,
        logins: &[&String],
    ) -> anyhow::Result<std::collections::HashMap<String, Option<u64>>> {
        let mut known = self.store.resolved_logins(kind).await?;
        for login in logins {
            if !known.contains_key(&login.to_lowercase()) {
                let id = forge.user_by_login(login).await?;
                self.store.resolve_login(kind, login, id).await?;
                // Another replica may have resolved it first: its answer stands.
                known = self.store.resolved_logins(kind).await?;
            }
        }
        Ok(known)
    }

    /// Binds the static usernames of the rules in force to their accounts on every connected
    /// forge, and again whenever the rules change (every `every`): a login is bound when the
    /// rules naming it load, not at the first change that needs it, by which time it could
    /// have changed hands.
    pub async fn bind_rules_logins(self, every: std::time::Duration) {
        let mut bound: Option<String> = None;
        loop {
            let rules = self.rules.read().map(|r| r.clone()).ok();
            if let Some(rules) = rules.filter(|r| bound.as_ref() != Some(&r.hash)) {
                let mut all = Ok(());
                for kind in [crate::model::Forge::Github, crate::model::Forge::Gitlab] {
                    let (Some(c), false) = (self.forges.get(kind), self.dry_run) else {
                        continue;
                    };
                    let logins = static_logins(&rules, kind);
                    if let Err(e) = self.bind_logins(&c.client, kind, &logins).await {
                        tracing::warn!(error = format!("{e:#}"), forge = %kind, "cannot resolve the rules' usernames yet");
                        all = Err(());
                    }
                }
                if all.is_ok() {
                    bound = Some(rules.hash.clone());
                }
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// The usernames the rules list as static approvers on `kind`, once each (case aside).
fn static_logins(rules: &crate::rules::Rules, kind: crate::model::Forge) -> Vec<&String> {
    let mut logins: Vec<&String> = rules.groups.iter().flat_map(|g| g.users(kind)).collect();
    logins.sort_by_key(|l| l.to_lowercase());
    logins.dedup_by_key(|l| l.to_lowercase());
    logins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire() {
        let team = TeamRef::GithubTeam {
            org: "acme".into(),
            slug: "peers".into(),
        };
        let cache = MembershipCache::new(Duration::from_millis(30));
        cache.put(&team, &User::named("Pam"), true);
        assert_eq!(cache.get(&team, &User::named("pam")), Some(true));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&team, &User::named("pam")), None);
    }
}
