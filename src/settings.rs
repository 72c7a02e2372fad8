//! Process settings: an optional `changegate.toml`, overridden by `CHANGEGATE__SECTION__KEY`
//! environment variables. Secrets may also come from files (`…_file`), as Kubernetes mounts them.

use anyhow::{Context, Result, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};

/// Every setting, as `changegate serve --help` and README list them.
pub const SETTINGS_HELP: &str = "\
SETTINGS (changegate.toml, or environment CHANGEGATE__<SECTION>__<KEY>, which wins):
  server.listen                 address to listen on            [default: 127.0.0.1:8080]
  server.max_body_bytes         largest webhook body accepted   [default: 26214400 (25 MiB)]
  server.max_buffered_bytes     body bytes held at once, all requests [default: 67108864 (64 MiB)]
  server.read_timeout_secs      time to send a whole body       [default: 30]
  server.min_body_rate_bytes    bytes per second a body must keep arriving at, after its
                                first second; a body that stalls longer is cut [default: 65536]
  server.public_url             where people reach changegate (https://changegate.example.com):
                                statuses then link to each change's details page
  server.link_key               key signing those links (or server.link_key_file)
                                [default: a random key generated once, kept in the database]
  server.link_ttl_days          how long a details link works   [default: 90]
  server.audit_token            token for the audit pages, Bearer or HTTP basic password
                                (or server.audit_token_file) [default: unset, pages off]
  server.gate_token             Bearer token of GET /gate (deployment gate for CI jobs), valid
                                for every repository (or server.gate_token_file)
                                [default: unset; with no gate_tokens either, /gate is off]
  server.gate_tokens            tokens valid for one repository each: a table keyed by
                                forge:path (github:acme/shop, gitlab:group/project)
  rules.path                    rules file                      [default: rules.yaml]
  database.url                  state store                     [default: sqlite://changegate.db]
  github.api_url                GitHub REST API base URL        [default: https://api.github.com]
  github.token                  GitHub token (or github.token_file)
  github.webhook_secret         webhook secret(s), comma-separated in the environment
                                (or github.webhook_secret_file, one per line)
  github.bot_login              the bot's GitHub login (default: asked with GET /user)
  github.app_id                 GitHub App mode: the App id (with github.private_key[_file]);
                                installation tokens, check runs instead of statuses.
                                Webhook events: Pull request, Pull request review, Issues,
                                Issue comment; for deployment gates also Deployment protection
                                rule, Deployment, Deployment status (permissions deployments:
                                write, actions: read)
  github.reply_cache_mb         answers to conditional reads kept in the database (ETag and
                                body per URL, shared by replicas) [default: 64]
  gitlab.url                    GitLab base URL                 [default: https://gitlab.com]
  gitlab.token                  GitLab token (or gitlab.token_file)
  gitlab.webhook_secret         X-Gitlab-Token secret(s) (or gitlab.webhook_secret_file);
                                webhook triggers: merge request, issue, comment events, and
                                deployment events for deployment gates
  gitlab.signing_token          HMAC signing token(s), whsec_… (or gitlab.signing_token_file)
  gitlab.signature_tolerance_secs  accepted clock skew of signed deliveries [default: 300]
  gitlab.bot_username           the bot's GitLab username (default: asked with GET /user)
  gitlab.approval_projects      projects (globs) where the bot approves/unapproves as the verdict changes
  gitlab.min_access_level       least access level of a direct group member who approves [default: 30]
  gitlab.merge_settings_ttl_secs  how long a project's merge settings (Pipelines must succeed,
                                skipped pipelines, Status checks must succeed) are reused for an
                                evaluation that fails anyway; one that would pass reads them
                                afresh [default: 300]
  gitlab.status_checks          Ultimate: answer changegate's external status check (POST
                                /webhooks/gitlab/status-check), read it back and overwrite a
                                `passed` changegate did not give [default: false]
  gitlab.status_check_secret    the check's HMAC shared secret(s), X-Gitlab-Signature
                                (or gitlab.status_check_secret_file, one per line)
  status.context                commit status name; `{target_branch}` in it gives one verdict per
                                target branch (`changegate: {target_branch}`, recommended: then a
                                protection of main needs a verdict given for main)
                                [default: changegate]
  dry_run                       log actions instead of calling the forges
                                [default: true when no forge token is set]
  allow_unsigned                accept webhooks when no secret is configured [default: false]
  worker.concurrency            changes processed in parallel   [default: 4]
  worker.max_attempts           tries before a job is left failed [default: 6]
  worker.membership_ttl_secs    how long a team membership answer is reused [default: 300]
  worker.lease_secs             a job whose worker died is taken again after this [default: 60]
  worker.quota_reserve_percent  below this share of a forge's rate limit left, reconcile work
                                waits and webhook work goes on [default: 10]
  worker.max_units_per_change_hour  forge quota units one change may spend in an hour; past
                                it its jobs wait (status pending: waiting for API quota)
                                and other changes go on [default: 500]
  reconcile.interval_secs       seconds between reconcile passes, 0 = off [default: 900]
  reconcile.repositories        github:owner/name, gitlab:group/project (comma-separated)
  audit.retention_days          days of audit records kept, 0 = forever [default: 0]
  log.json                      log one JSON object per line [default: false]

Example: CHANGEGATE__GITHUB__WEBHOOK_SECRET=old,new CHANGEGATE__DATABASE__URL=sqlite:///var/lib/changegate/state.db";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub rules: RulesSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub github: GithubSettings,
    #[serde(default)]
    pub gitlab: GitlabSettings,
    #[serde(default)]
    pub status: StatusSettings,
    #[serde(default)]
    pub worker: WorkerSettings,
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub allow_unsigned: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    pub max_body_bytes: usize,
    /// Bytes of request bodies held at once, by all requests together (a quarter kept for
    /// bodies of webhook size); past it a request waits briefly, then gets 503.
    pub max_buffered_bytes: usize,
    /// Seconds a request has to send its whole body.
    pub read_timeout_secs: u64,
    /// Bytes per second a body must keep arriving at after its first second (a stalled
    /// sender would hold the room it took until the read timeout).
    pub min_body_rate_bytes: u64,
    /// Where people reach the bot; statuses link to details pages under it.
    pub public_url: Option<String>,
    /// Signs details-page links; unset: a key generated once and kept in the database.
    pub link_key: Option<SecretString>,
    pub link_key_file: Option<PathBuf>,
    /// Days a details link works.
    pub link_ttl_days: u64,
    /// Opens the audit pages; unset: they are off.
    pub audit_token: Option<SecretString>,
    pub audit_token_file: Option<PathBuf>,
    /// Opens `GET /gate` for every repository; unset (and no `gate_tokens`): the route is off.
    pub gate_token: Option<SecretString>,
    pub gate_token_file: Option<PathBuf>,
    /// Tokens each valid for one repository only, keyed by `forge:path` (`github:acme/shop`)
    /// or the path alone (any forge).
    pub gate_tokens: std::collections::BTreeMap<String, SecretString>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            // GitHub caps payloads at 25 MB.
            max_body_bytes: 25 * 1024 * 1024,
            max_buffered_bytes: 64 * 1024 * 1024,
            read_timeout_secs: 30,
            min_body_rate_bytes: crate::server::intake::DEFAULT_MIN_BODY_RATE,
            public_url: None,
            link_key: None,
            link_key_file: None,
            link_ttl_days: 90,
            audit_token: None,
            audit_token_file: None,
            gate_token: None,
            gate_token_file: None,
            gate_tokens: Default::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSettings {
    pub path: PathBuf,
}

impl Default for RulesSettings {
    fn default() -> Self {
        RulesSettings {
            path: "rules.yaml".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "sqlite://changegate.db".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubSettings {
    pub api_url: String,
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
    #[serde(deserialize_with = "secrets")]
    pub webhook_secret: Vec<SecretString>,
    pub webhook_secret_file: Option<PathBuf>,
    /// The bot's login; asked with `GET /user` when unset.
    pub bot_login: Option<String>,
    /// GitHub App mode: the App's id (with `private_key`); check runs instead of statuses.
    pub app_id: Option<u64>,
    /// The App's RSA private key (PEM), or `private_key_file`.
    pub private_key: Option<SecretString>,
    pub private_key_file: Option<PathBuf>,
    /// Megabytes of answers to conditional reads kept in the database.
    pub reply_cache_mb: u64,
    /// Whether a change's snapshot is read with one GraphQL query (REST when it cannot be).
    pub graphql: bool,
}

impl Default for GithubSettings {
    fn default() -> Self {
        GithubSettings {
            api_url: "https://api.github.com".into(),
            token: None,
            token_file: None,
            webhook_secret: vec![],
            webhook_secret_file: None,
            bot_login: None,
            app_id: None,
            private_key: None,
            private_key_file: None,
            reply_cache_mb: 64,
            graphql: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitlabSettings {
    pub url: String,
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
    #[serde(deserialize_with = "secrets")]
    pub webhook_secret: Vec<SecretString>,
    pub webhook_secret_file: Option<PathBuf>,
    #[serde(deserialize_with = "secrets")]
    pub signing_token: Vec<SecretString>,
    pub signing_token_file: Option<PathBuf>,
    pub signature_tolerance_secs: i64,
    /// The bot's username; asked with `GET /user` when unset.
    pub bot_username: Option<String>,
    /// Projects (path patterns, `*` wildcard) where the bot approves passing merge requests
    /// and withdraws its approval from failing ones, for an approval rule requiring the bot.
    #[serde(deserialize_with = "list")]
    pub approval_projects: Vec<String>,
    /// The least access level (GitLab's numbers: 30 Developer) a direct group member needs
    /// for the group to count them as an approver.
    pub min_access_level: u32,
    /// Seconds a project's merge settings are reused by evaluations that fail anyway; an
    /// evaluation that would pass always reads them afresh.
    pub merge_settings_ttl_secs: u64,
    /// Ultimate: answer changegate's external status check and keep it true.
    pub status_checks: bool,
    /// The external status check's shared secret(s) (`X-Gitlab-Signature`), several while
    /// rotating.
    #[serde(deserialize_with = "secrets")]
    pub status_check_secret: Vec<SecretString>,
    pub status_check_secret_file: Option<PathBuf>,
}

impl Default for GitlabSettings {
    fn default() -> Self {
        GitlabSettings {
            url: "https://gitlab.com".into(),
            token: None,
            token_file: None,
            webhook_secret: vec![],
            webhook_secret_file: None,
            signing_token: vec![],
            signing_token_file: None,
            signature_tolerance_secs: 300,
            bot_username: None,
            approval_projects: vec![],
            min_access_level: 30,
            merge_settings_ttl_secs: 300,
            status_checks: false,
            status_check_secret: vec![],
            status_check_secret_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusSettings {
    pub context: String,
}

impl Default for StatusSettings {
    fn default() -> Self {
        StatusSettings {
            context: "changegate".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub membership_ttl_secs: u64,
    pub lease_secs: u64,
    /// Below this percentage of a forge's rate limit left, reconcile work waits.
    pub quota_reserve_percent: u8,
    /// Quota units one change may spend in an hour before its jobs wait.
    pub max_units_per_change_hour: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            concurrency: 4,
            max_attempts: 6,
            membership_ttl_secs: 300,
            lease_secs: 60,
            quota_reserve_percent: 10,
            max_units_per_change_hour: 500,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileSettings {
    /// Seconds between passes; 0 turns the periodic reconcile off.
    pub interval_secs: u64,
    /// `github:owner/name` or `gitlab:group/project`. A blocked period's start and end also
    /// list these repositories' open changes (with every repository the bot has seen).
    #[serde(deserialize_with = "list")]
    pub repositories: Vec<String>,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            interval_secs: 900,
            repositories: vec![],
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// One JSON object per line instead of text.
    pub json: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Days of audit records (and finished jobs) kept; 0 keeps them forever. What the bot
    /// remembers of open changes is kept whatever their age.
    pub retention_days: u64,
}

/// A list, or a comma-separated string (how the environment gives several).
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(secrets(d)?
        .into_iter()
        .map(|s| s.expose_secret().to_string())
        .collect())
}

/// One secret, a list, or a comma-separated string (how the environment gives several).
fn secrets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let list = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(str::to_string).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(list
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(SecretString::from)
        .collect())
}

/// The examples' stand-in for a secret, compared case-insensitively.
const PLACEHOLDER: &str = "change-me";

const LIST_KEYS: [&str; 6] = [
    "gitlab.approval_projects",
    "gitlab.status_check_secret",
    "github.webhook_secret",
    "gitlab.webhook_secret",
    "gitlab.signing_token",
    "reconcile.repositories",
];

impl Settings {
    /// Loads `file` (when given, it must exist; otherwise `changegate.toml` if present) and
    /// the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let env = std::env::vars();
        Self::load_from(file, env)
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut builder = config::Config::builder();
        builder = match file {
            Some(path) => builder.add_source(config::File::from(path).required(true)),
            None => builder.add_source(config::File::with_name("changegate.toml").required(false)),
        };
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("CHANGEGATE__"))
            .collect();
        let mut environment = config::Environment::with_prefix("CHANGEGATE")
            .prefix_separator("__")
            .separator("__")
            .source(Some(vars));
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        environment = environment.list_separator(",");
        let cfg = builder
            .add_source(environment)
            .build()
            .context("cannot read settings")?;
        let mut settings: Settings = cfg.try_deserialize().context("invalid settings")?;
        settings.read_secret_files()?;
        settings.check()?;
        Ok(settings)
    }

    fn read_secret_files(&mut self) -> Result<()> {
        if let Some(p) = &self.server.link_key_file {
            self.server.link_key = Some(read_secret(p)?);
        }
        if let Some(p) = &self.server.audit_token_file {
            self.server.audit_token = Some(read_secret(p)?);
        }
        if let Some(p) = &self.server.gate_token_file {
            self.server.gate_token = Some(read_secret(p)?);
        }
        if let Some(p) = &self.github.token_file {
            self.github.token = Some(read_secret(p)?);
        }
        if let Some(p) = &self.github.private_key_file {
            self.github.private_key = Some(read_secret(p)?);
        }
        if let Some(p) = &self.gitlab.token_file {
            self.gitlab.token = Some(read_secret(p)?);
        }
        if let Some(p) = &self.github.webhook_secret_file {
            self.github.webhook_secret.extend(read_secret_lines(p)?);
        }
        if let Some(p) = &self.gitlab.webhook_secret_file {
            self.gitlab.webhook_secret.extend(read_secret_lines(p)?);
        }
        if let Some(p) = &self.gitlab.signing_token_file {
            self.gitlab.signing_token.extend(read_secret_lines(p)?);
        }
        if let Some(p) = &self.gitlab.status_check_secret_file {
            self.gitlab
                .status_check_secret
                .extend(read_secret_lines(p)?);
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        for t in &self.gitlab.signing_token {
            crate::server::gitlab::signing_key(t.expose_secret()).map_err(anyhow::Error::msg)?;
        }
        if self.github.app_id.is_some() != self.github.private_key.is_some() {
            bail!(
                "GitHub App mode needs both github.app_id and github.private_key (or private_key_file)"
            );
        }
        check_context(&self.status.context)?;
        if self.gitlab.status_checks {
            if self.server.public_url.is_none() {
                bail!(
                    "gitlab.status_checks needs server.public_url: changegate finds its own check by the URL GitLab calls"
                );
            }
            if self.gitlab.status_check_secret.is_empty() {
                bail!(
                    "gitlab.status_checks needs gitlab.status_check_secret (or _file): the check's shared secret, so that only GitLab's requests are taken"
                );
            }
        }
        if self.server.max_body_bytes == 0 {
            bail!("server.max_body_bytes must be positive");
        }
        let share = crate::server::intake::BodyBudget::large_share(self.server.max_buffered_bytes);
        if share < self.server.max_body_bytes {
            bail!(
                "server.max_buffered_bytes ({}) must leave room for one body of server.max_body_bytes ({}) after the quarter kept for small bodies: set it to at least {}",
                self.server.max_buffered_bytes,
                self.server.max_body_bytes,
                self.server.max_body_bytes.div_ceil(3) * 4
            );
        }
        if self.server.read_timeout_secs == 0 {
            bail!("server.read_timeout_secs must be at least 1");
        }
        if self.server.min_body_rate_bytes == 0 {
            bail!(
                "server.min_body_rate_bytes must be at least 1: a sender that stalls would hold the room it took"
            );
        }
        if self.worker.max_units_per_change_hour == 0 {
            bail!("worker.max_units_per_change_hour must be at least 1");
        }
        if self.worker.lease_secs < 3 {
            bail!("worker.lease_secs must be at least 3");
        }
        if self.worker.concurrency == 0 {
            bail!("worker.concurrency must be at least 1");
        }
        Ok(())
    }

    /// Why `serve` must not start: a secret still holds an example's placeholder
    /// (`CHANGE-ME`). Such a value is public (it is in the examples), so a webhook secret with
    /// it lets anyone forge deliveries, and a token with it would fail every call live.
    pub fn placeholder_refusal(&self) -> Option<String> {
        let placeholder = |v: &str| v.to_ascii_lowercase().contains(PLACEHOLDER);
        let one = |name: &'static str, v: &Option<SecretString>| {
            v.as_ref()
                .filter(|s| placeholder(s.expose_secret()))
                .map(|_| name)
        };
        let any = |name: &'static str, v: &[SecretString]| {
            v.iter()
                .any(|s| placeholder(s.expose_secret()))
                .then_some(name)
        };
        let named: Vec<&str> = [
            one("github.token", &self.github.token),
            one("github.private_key", &self.github.private_key),
            any("github.webhook_secret", &self.github.webhook_secret),
            one("gitlab.token", &self.gitlab.token),
            any("gitlab.webhook_secret", &self.gitlab.webhook_secret),
            any("gitlab.signing_token", &self.gitlab.signing_token),
            one("server.link_key", &self.server.link_key),
            one("server.audit_token", &self.server.audit_token),
            placeholder(&self.database.url).then_some("database.url"),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!named.is_empty()).then(|| {
            format!(
                "{} still hold(s) the placeholder `CHANGE-ME` from an example: set real values (a placeholder secret is public, so anyone could forge deliveries)",
                named.join(", ")
            )
        })
    }

    /// Dry run unless told otherwise, when no forge token is configured.
    pub fn is_dry_run(&self) -> bool {
        let github = self.github.token.is_some() || self.github.app_id.is_some();
        self.dry_run
            .unwrap_or(!github && self.gitlab.token.is_none())
    }
}

/// `status.context` is a name, or a name with the one placeholder it knows: any other brace
/// would be written as it stands, and a typo would give every target branch one shared verdict.
fn check_context(context: &str) -> Result<()> {
    let rest = context.replace(crate::actions::TARGET_BRANCH, "");
    if context.trim().is_empty() {
        bail!("status.context must not be empty");
    }
    if rest.contains(['{', '}']) {
        bail!(
            "status.context `{context}`: the only placeholder it may hold is `{}`",
            crate::actions::TARGET_BRANCH
        );
    }
    Ok(())
}

fn read_secret(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read secret file {}", path.display()))?;
    Ok(SecretString::from(text.trim().to_string()))
}

fn read_secret_lines(path: &Path) -> Result<Vec<SecretString>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read secret file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| SecretString::from(l.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_a_local_dry_run() {
        let s = Settings::load_from(Some(Path::new("/nonexistent.toml")), env(&[]));
        assert!(s.is_err(), "an explicit file must exist");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("c.toml");
        std::fs::write(&empty, "").unwrap();
        let s = Settings::load_from(Some(&empty), env(&[])).unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.server.max_body_bytes, 25 * 1024 * 1024);
        assert_eq!(s.github.api_url, "https://api.github.com");
        assert_eq!(s.status.context, "changegate");
        assert!(s.is_dry_run());
        assert!(!s.allow_unsigned);
    }

    #[test]
    fn environment_wins_and_lists_split_on_commas() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "dry_run = true\n[server]\nlisten = \"0.0.0.0:1\"\n[github]\nwebhook_secret = \"file-secret\"\n").unwrap();
        let secret_file = dir.path().join("gl");
        std::fs::write(&secret_file, "one\ntwo\n").unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[
                ("CHANGEGATE__SERVER__LISTEN", "127.0.0.1:9"),
                ("CHANGEGATE__GITHUB__WEBHOOK_SECRET", "old,new"),
                ("CHANGEGATE__GITHUB__TOKEN", "ghp_x"),
                (
                    "CHANGEGATE__GITLAB__WEBHOOK_SECRET_FILE",
                    secret_file.to_str().unwrap(),
                ),
                ("CHANGEGATE__DRY_RUN", "false"),
                ("CHANGEGATE__ALLOW_UNSIGNED", "true"),
                ("CHANGEGATE__SERVER__MAX_BODY_BYTES", "1024"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:9");
        assert_eq!(s.server.max_body_bytes, 1024);
        let gh: Vec<&str> = s
            .github
            .webhook_secret
            .iter()
            .map(|x| x.expose_secret())
            .collect();
        assert_eq!(gh, vec!["old", "new"]);
        let gl: Vec<&str> = s
            .gitlab
            .webhook_secret
            .iter()
            .map(|x| x.expose_secret())
            .collect();
        assert_eq!(gl, vec!["one", "two"]);
        assert!(!s.is_dry_run());
        assert!(s.allow_unsigned);
        assert!(!format!("{s:?}").contains("ghp_x"), "secrets never print");
    }

    #[test]
    fn bad_signing_tokens_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "").unwrap();
        let bad = Settings::load_from(
            Some(&file),
            env(&[("CHANGEGATE__GITLAB__SIGNING_TOKEN", "whsec_!!")]),
        );
        assert!(bad.is_err());
        std::fs::write(&file, "[server]\nlisen = \"x\"\n").unwrap();
        let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("lisen"), "{err:#}");
    }

    #[test]
    fn placeholder_secrets_are_named_and_real_ones_pass() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "").unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "CHANGE-ME\n").unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[
                ("CHANGEGATE__GITHUB__WEBHOOK_SECRET", "real,change-me"),
                ("CHANGEGATE__GITLAB__TOKEN_FILE", token.to_str().unwrap()),
                (
                    "CHANGEGATE__DATABASE__URL",
                    "postgres://changegate:CHANGE-ME@db/changegate",
                ),
            ]),
        )
        .unwrap();
        let refusal = s.placeholder_refusal().expect("refused");
        for name in ["github.webhook_secret", "gitlab.token", "database.url"] {
            assert!(refusal.contains(name), "{refusal}");
        }
        assert!(!refusal.contains("github.token"), "{refusal}");
        let fine = Settings::load_from(
            Some(&file),
            env(&[("CHANGEGATE__GITHUB__WEBHOOK_SECRET", "s3cr3t-value")]),
        )
        .unwrap();
        assert_eq!(fine.placeholder_refusal(), None);
    }

    #[test]
    fn the_status_context_knows_one_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "").unwrap();
        let load =
            |v: &str| Settings::load_from(Some(&file), env(&[("CHANGEGATE__STATUS__CONTEXT", v)]));
        let s = load("changegate: {target_branch}").unwrap();
        assert_eq!(s.status.context, "changegate: {target_branch}");
        let err = load("changegate: {target}").unwrap_err();
        assert!(format!("{err:#}").contains("only placeholder"), "{err:#}");
        assert!(load(" ").is_err());
    }
}
