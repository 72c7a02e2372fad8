//! Rules that change without a restart: the file is watched (its modification time, every
//! couple of seconds) and reloaded on SIGHUP. A new file that does not validate is refused with
//! the same `path:line:column` messages as `changegate check`, counted, and the last good rules
//! stay in force.

use super::{Rules, SharedRules, load};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How often the file's modification time is looked at.
const POLL: Duration = Duration::from_secs(2);

pub struct RulesWatch {
    pub path: PathBuf,
    pub shared: SharedRules,
    /// True once valid rules are in force (readiness).
    pub ready: Arc<AtomicBool>,
}

impl RulesWatch {
    /// Loads the file now; true when the new rules are in force.
    pub fn reload(&self) -> bool {
        match load(&self.path) {
            Ok(new) => {
                tracing::info!(path = %self.path.display(), summary = new.summary(), hash = %new.hash, "rules loaded");
                log_warnings(&self.path, &new);
                if let Ok(mut current) = self.shared.write() {
                    *current = Arc::new(new);
                }
                self.ready.store(true, Ordering::Relaxed);
                metrics::counter!(crate::telemetry::RULES_RELOADS, "result" => "ok").increment(1);
                true
            }
            Err(problems) => {
                tracing::error!(%problems, "rules refused; the previous rules stay in force");
                metrics::counter!(crate::telemetry::RULES_RELOADS, "result" => "invalid")
                    .increment(1);
                false
            }
        }
    }

    /// Reloads whenever the file changes or SIGHUP arrives, until the process ends.
    pub async fn run(self) {
        let mut seen = modified(&self.path);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = hangup => {
                    seen = modified(&self.path);
                    self.reload();
                }
                _ = tokio::time::sleep(POLL) => {
                    let now = modified(&self.path);
                    if now != seen {
                        seen = now;
                        self.reload();
                    }
                }
            }
        }
    }
}

/// Logs what `changegate check` prints as warnings: valid rules that leave a way around.
pub fn log_warnings(path: &std::path::Path, rules: &Rules) {
    for w in &rules.warnings {
        tracing::warn!(
            path = %path.display(),
            line = w.pos.line,
            column = w.pos.column,
            "rules warning: {}",
            w.message
        );
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// What the rules say, as a short stable digest: equal for files that load to the same rules
/// (comments, layout and key order aside), different when any rule differs. The file's own hash
/// is left out for that reason, and the file's text (kept for repositories' rules) with it.
pub fn fingerprint(rules: &Rules) -> String {
    use sha2::{Digest, Sha256};
    let said = Rules {
        hash: String::new(),
        source: None,
        warnings: vec![],
        ..rules.clone()
    };
    hex::encode(Sha256::digest(format!("{said:?}").as_bytes()))
}

/// Rules that enforce nothing: in force until a valid file is loaded.
pub fn nothing() -> Rules {
    Rules {
        enforce: vec![],
        scopes: vec![],
        groups: vec![],
        approvals: vec![],
        distinct_approvers: true,
        commit_authors_are_authors: true,
        rules: vec![],
        blocked_periods: vec![],
        report_only: vec![],
        change_issue: None,
        hash: "none".into(),
        source: None,
        repository_rules: None,
        deployments: vec![],
        commands: None,
        warnings: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::RwLock;

    #[test]
    fn a_valid_file_replaces_the_rules_and_an_invalid_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yaml");
        let watch = RulesWatch {
            path: path.clone(),
            shared: Arc::new(RwLock::new(Arc::new(nothing()))),
            ready: Arc::default(),
        };
        std::fs::write(&path, "version: 1\nenforce: [{kind: issue}]\n").unwrap();
        assert!(watch.reload());
        assert!(watch.ready.load(Ordering::Relaxed));
        let good = watch.shared.read().unwrap().hash.clone();
        std::fs::write(&path, "version: 1\nenforce: [{kind: isue}]\n").unwrap();
        assert!(!watch.reload());
        assert_eq!(
            watch.shared.read().unwrap().hash,
            good,
            "the last good rules stay"
        );
        assert!(watch.ready.load(Ordering::Relaxed));
    }

    #[test]
    fn the_fingerprint_follows_the_rules_not_the_text() {
        let a = crate::rules::parse("a.yaml", "version: 1\nenforce: [{kind: issue}]\n").unwrap();
        let b = crate::rules::parse(
            "b.yaml",
            "# a comment\nversion: 1\nenforce:\n  - kind: issue\n",
        )
        .unwrap();
        let c = crate::rules::parse("c.yaml", "version: 1\nenforce: [{kind: merge_request}]\n")
            .unwrap();
        assert_ne!(a.hash, b.hash);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 64);
    }

    #[test]
    fn nothing_enforces_nothing() {
        let change = crate::model::Change {
            forge: crate::model::Forge::Github,
            repo: crate::model::Repo {
                path: crate::model::RepoPath::new("a/b"),
                id: None,
            },
            kind: crate::model::ChangeKind::MergeRequest,
            number: 1,
            title: String::new(),
            description: String::new(),
            author: Default::default(),
            labels: vec![],
            head_sha: None,
            source_branch: None,
            target_branch: None,
            target_sha: None,
            draft: false,
            state: crate::model::ChangeState::Open,
            merged_at: None,
            web_url: None,
            updated_at: None,
            comments: None,
        };
        assert!(!crate::policy::is_enforced(&nothing(), &change));
    }
}
