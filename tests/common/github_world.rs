//! A fake GitHub on wiremock that keeps state: one repository `acme/platypus`, its pull
//! requests and issues, label history, reviews, team memberships, comments and statuses. It
//! answers the REST endpoints the bot uses with the shapes GitHub documents, and records
//! every call so tests can assert exactly what the bot did.
#![allow(dead_code)]

mod deploy_helpers;
mod deployments;
mod graphql;

#[allow(unused_imports)]
pub use deployments::{GhDeployment, GhEnvironment, ProtectionAnswer};

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

pub const BOT: &str = "changegate-bot";
pub const REPO: &str = "acme/platypus";

#[derive(Clone, Debug)]
pub struct GhChange {
    pub number: u64,
    pub is_pr: bool,
    pub author: String,
    pub labels: Vec<String>,
    pub head: String,
    /// The base branch (`main` unless retargeted).
    pub base: String,
    /// The commits' (author, committer) accounts; the pull request's author's by default.
    pub commits: Vec<(String, String)>,
    pub state: String,
    /// Bumped on every change, like GitHub's `updated_at`.
    pub updated: i64,
    /// Set when merged (RFC 3339).
    pub merged_at: Option<String>,
    /// The files the pull request touches: (path, previous path when renamed).
    pub files: Vec<(String, Option<String>)>,
    /// The description (`body`).
    pub body: Option<String>,
    pub title: String,
    /// The logins the issue or pull request is assigned to.
    pub assignees: Vec<String>,
}

#[derive(Default)]
pub struct GhState {
    pub changes: Vec<GhChange>,
    /// (number, event json)
    pub events: Vec<(u64, Value)>,
    pub reviews: Vec<(u64, Value)>,
    /// (team slug, login)
    pub members: Vec<(String, String)>,
    /// (id, number, body, login)
    pub comments: Vec<(u64, u64, String, String)>,
    /// People's comments' other fields, by id (created_at, updated_at, performed_via_github_app,
    /// the author's type, GraphQL's createdViaEmail and isMinimized).
    pub comment_meta: Vec<(u64, Value)>,
    /// Reactions the bot made: (comment id, content).
    pub reactions: Vec<(u64, String)>,
    pub statuses: Vec<(String, Value)>,
    /// Accounts whose id is not the default one, by current login (`None`: no account has
    /// that login, `GET /users/{login}` answers 404); a rename is a new row.
    pub accounts: Vec<(String, Option<u64>)>,
    pub calls: Vec<String>,
    /// When each call arrived (benchmarks measure latency from it).
    pub times: Vec<std::time::Instant>,
    /// The Authorization header of each call.
    pub auth: Vec<String>,
    /// GitHub App: seconds an installation token lives, and how many were minted.
    pub token_lifetime: i64,
    pub tokens_minted: u64,
    pub check_runs: Vec<Value>,
    /// Check suites GitHub created when commits were pushed: (head sha, created_at).
    pub check_suites: Vec<(String, String)>,
    /// Files on the default branch, by path.
    pub files: Vec<(String, String)>,
    /// Failures to answer before serving normally: (method and path prefix, response).
    pub failures: VecDeque<(String, ResponseTemplate)>,
    /// Added to every answer (a slow forge).
    pub delay: std::time::Duration,
    /// The fake's own base URL, for the links it writes.
    pub base: String,
    /// Conditional requests answered 304 (free on GitHub's rate limit).
    pub not_modified: u64,
    /// A primary rate limit, when the test sets one: every answer then carries GitHub's
    /// `x-ratelimit-*` headers, and a request past the limit is refused as GitHub does.
    pub rate: Option<RateWindow>,
    /// A real repository behind the compare API (`attach_repo`), and its misbehaviours.
    pub compares: super::compare_world::Compares,
    /// The repository's labels: (name, colour, description).
    pub repo_labels: Vec<(String, String, Option<String>)>,
    clock: i64,
    /// The time of the fake's first event, in seconds (2026-01-01 unless moved); each event
    /// comes a minute after the previous one.
    epoch: i64,
    /// Commits, environments, deployments (see `github_world/deployments.rs`).
    pub deploy: deployments::GhDeployState,
    /// Whether GraphQL answers the snapshot query (off: 404, a GitHub without it).
    pub graphql: bool,
    /// GraphQL queries answered (snapshots, pages, members).
    pub graphql_queries: u64,
    /// Page queries answered (`ChangegatePage…`).
    pub graphql_pages: u64,
    /// What page queries answer instead of the page, when a test sets it.
    pub bad_pages: Option<Value>,
    /// The bot's login when it is not [`BOT`] (a GitHub App's `name[bot]`).
    pub bot_login: Option<String>,
    /// Labels by node id: (node id, name now); a rename keeps the id.
    pub label_nodes: Vec<(String, String)>,
    /// When each label was last edited (GraphQL's `Label.updatedAt`), by node id; a label
    /// never edited answers [`graphql::LABELS_MADE_AT`] (made before anything happened).
    pub label_edited: Vec<(String, String)>,
}

/// GitHub's primary rate limit: `limit` requests per window (304s are free), then 403 with
/// `x-ratelimit-remaining: 0` until `x-ratelimit-reset`.
pub struct RateWindow {
    pub limit: u64,
    pub window: std::time::Duration,
    pub used: u64,
    /// When the current window resets, in seconds since the epoch.
    pub reset: i64,
    /// Requests that arrived while nothing was left (refused).
    pub over_limit: u64,
    /// Requests that counted, in all windows.
    pub counted: u64,
}

impl RateWindow {
    pub fn new(limit: u64, window: std::time::Duration) -> Self {
        RateWindow {
            limit,
            window,
            used: 0,
            reset: 0,
            over_limit: 0,
            counted: 0,
        }
    }

    fn roll(&mut self) {
        let now = chrono::Utc::now().timestamp();
        if now >= self.reset {
            self.used = 0;
            self.reset = now + self.window.as_secs().max(1) as i64;
        }
    }

    fn headers(&self, r: ResponseTemplate) -> ResponseTemplate {
        r.insert_header("x-ratelimit-limit", self.limit.to_string().as_str())
            .insert_header(
                "x-ratelimit-remaining",
                (self.limit - self.used).to_string().as_str(),
            )
            .insert_header("x-ratelimit-used", self.used.to_string().as_str())
            .insert_header("x-ratelimit-reset", self.reset.to_string().as_str())
            .insert_header("x-ratelimit-resource", "core")
    }
}

/// Clones share the server and its state.
#[derive(Clone)]
pub struct GithubWorld {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<GhState>>,
}

/// Answers every request from the shared state.
struct Responder(Arc<Mutex<GhState>>);

pub(super) fn user(login: &str) -> Value {
    let id = login.bytes().map(u64::from).sum::<u64>();
    // REST names an App's account `name[bot]`, of type `Bot`.
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({ "login": login, "id": id, "type": kind })
}

impl GhState {
    /// The bot's own login ([`BOT`] unless a test made it an App).
    pub(super) fn bot(&self) -> String {
        self.bot_login.clone().unwrap_or_else(|| BOT.to_string())
    }

    pub(super) fn tick(&mut self) -> String {
        self.clock += 1;
        let epoch = if self.epoch == 0 {
            1_767_225_600
        } else {
            self.epoch
        };
        chrono::DateTime::from_timestamp(epoch + self.clock * 60, 0)
            .unwrap()
            .to_rfc3339()
    }

    /// The moment the fake's clock was last set (with the bot's, by tests that move both):
    /// an edit the bot may see at once, where an event's tick runs ahead of the bot's clock.
    fn moment(&self) -> String {
        let epoch = if self.epoch == 0 {
            1_767_225_600
        } else {
            self.epoch
        };
        chrono::DateTime::from_timestamp(epoch, 0)
            .unwrap()
            .to_rfc3339()
    }

    /// The fake's current time (the last event's), without moving it.
    fn now(&self) -> String {
        let epoch = if self.epoch == 0 {
            1_767_225_600
        } else {
            self.epoch
        };
        chrono::DateTime::from_timestamp(epoch + self.clock * 60, 0)
            .unwrap()
            .to_rfc3339()
    }

    /// `sha` was pushed at `at`: GitHub creates a check suite for it (one per app with
    /// checks; the fake keeps one).
    fn pushed(&mut self, sha: &str, at: String) {
        self.check_suites.push((sha.into(), at));
    }

    pub(super) fn change(&mut self, n: u64) -> Option<&mut GhChange> {
        self.changes.iter_mut().find(|c| c.number == n)
    }

    pub fn label_event(&mut self, n: u64, label: &str, added: bool, actor: &str) {
        let at = self.tick();
        if let Some(c) = self.change(n) {
            c.updated += 1;
        }
        let event = if added { "labeled" } else { "unlabeled" };
        let actor = self.account(actor);
        let node = graphql::node_of(self, label);
        self.events.push((n, json!({ "event": event, "actor": actor, "label": { "name": label, "color": "ededed", "node_id": node }, "created_at": at })));
    }

    /// The account that has `login` now, as GitHub shows a user.
    fn account(&self, login: &str) -> Value {
        match self
            .accounts
            .iter()
            .rev()
            .find(|(l, _)| l.eq_ignore_ascii_case(login))
        {
            Some((l, Some(id))) => json!({ "login": l, "id": id, "type": "User" }),
            _ => user(login),
        }
    }
}

impl GithubWorld {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state: Arc<Mutex<GhState>> = Arc::default();
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        state.lock().unwrap().base = server.uri();
        GithubWorld {
            server: Arc::new(server),
            state,
        }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Events from now on happen a minute apart from `at` (RFC 3339): the fake follows a test
    /// that moves the bot's clock.
    pub fn set_time(&self, at: &str) {
        let mut s = self.state.lock().unwrap();
        s.epoch = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp();
        s.clock = 0;
    }

    /// The files pull request `number` touches (a path `new<-old` is a rename).
    pub fn set_files(&self, number: u64, paths: &[&str]) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.files = paths
                .iter()
                .map(|p| match p.split_once("<-") {
                    Some((new, old)) => (new.to_string(), Some(old.to_string())),
                    None => (p.to_string(), None),
                })
                .collect();
        }
    }

    /// Sets the title of change `number`.
    pub fn set_title(&self, number: u64, title: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.title = title.into();
            c.updated += 1;
        }
    }

    /// The `target_url` of the last status posted for `sha`.
    pub fn status_link(&self, sha: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .rev()
            .find(|(h, _)| h == sha)
            .and_then(|(_, v)| v["target_url"].as_str().map(str::to_string))
    }

    /// Sets the description of change `number`.
    pub fn set_body(&self, number: u64, body: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.body = Some(body.into());
            c.updated += 1;
        }
    }

    /// Merges the pull request at `at` (RFC 3339).
    pub fn merge(&self, number: u64, at: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.state = "closed".into();
            c.merged_at = Some(at.into());
            c.updated += 1;
        }
    }

    /// A pull request by `author` with no labels, its head pushed now (a check suite).
    pub fn open_pr(&self, number: u64, author: &str, head: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.now();
        s.pushed(head, at);
        s.changes.push(GhChange {
            number,
            is_pr: true,
            author: author.into(),
            labels: vec![],
            head: head.into(),
            commits: vec![(author.into(), author.into())],
            base: "main".into(),
            state: "open".into(),
            updated: 0,
            merged_at: None,
            files: vec![("src/app.rs".into(), None)],
            body: None,
            title: "Change".into(),
            assignees: vec![],
        });
    }

    pub fn open_issue(&self, number: u64, author: &str) {
        self.state.lock().unwrap().changes.push(GhChange {
            number,
            is_pr: false,
            author: author.into(),
            labels: vec![],
            head: String::new(),
            commits: vec![],
            base: String::new(),
            state: "open".into(),
            updated: 0,
            merged_at: None,
            files: vec![("src/app.rs".into(), None)],
            body: None,
            title: "Change".into(),
            assignees: vec![],
        });
    }

    /// Assigns issue or pull request `number` to `login`.
    pub fn assign(&self, number: u64, login: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.assignees.push(login.into());
            c.updated += 1;
        }
    }

    /// Closes issue or pull request `number` (not merged).
    pub fn close(&self, number: u64) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.state = "closed".into();
            c.updated += 1;
        }
    }

    /// GraphQL answers the snapshot query from now on.
    /// The bot is the GitHub App `name`: it writes as `name[bot]` (REST), a `Bot` named
    /// `name` (GraphQL).
    pub fn bot_is_app(&self, name: &str) {
        self.state.lock().unwrap().bot_login = Some(format!("{name}[bot]"));
    }

    pub fn enable_graphql(&self) {
        self.state.lock().unwrap().graphql = true;
    }

    /// Snapshot queries GraphQL answered.
    pub fn graphql_queries(&self) -> u64 {
        self.state.lock().unwrap().graphql_queries
    }

    /// Someone with admin rights renames a label: it keeps its node id, the changes carrying
    /// it show the new name, and REST's issue events keep the name each was given under.
    pub fn rename_label(&self, from: &str, to: &str) {
        let mut s = self.state.lock().unwrap();
        let id = graphql::node_of(&mut s, from);
        for (_, name) in s.label_nodes.iter_mut() {
            if name.eq_ignore_ascii_case(from) {
                *name = to.into();
            }
        }
        let at = s.moment();
        s.label_edited.retain(|(i, _)| *i != id);
        s.label_edited.push((id, at));
        for c in s.changes.iter_mut() {
            for l in c.labels.iter_mut() {
                if l.eq_ignore_ascii_case(from) {
                    *l = to.into();
                    c.updated += 1;
                }
            }
        }
    }

    /// `actor` applies `label` (recorded in the label history with the next timestamp).
    pub fn add_label(&self, number: u64, label: &str, actor: &str) {
        let mut s = self.state.lock().unwrap();
        s.change(number).unwrap().labels.push(label.into());
        s.label_event(number, label, true, actor);
    }

    /// `actor` removes `label`.
    pub fn remove_label(&self, number: u64, label: &str, actor: &str) {
        let mut s = self.state.lock().unwrap();
        s.change(number).unwrap().labels.retain(|l| l != label);
        s.label_event(number, label, false, actor);
    }

    /// `actor` changes the pull request's base branch (GitHub records `base_ref_changed`).
    pub fn retarget(&self, number: u64, base: &str, actor: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        let c = s.change(number).unwrap();
        c.base = base.into();
        c.updated += 1;
        s.events.push((
            number,
            json!({ "event": "base_ref_changed", "actor": user(actor), "created_at": at }),
        ));
    }

    /// Someone with write access posts a status under any context.
    pub fn post_status(&self, sha: &str, state: &str, context: &str, description: &str) {
        self.state.lock().unwrap().statuses.push((
            sha.into(),
            json!({ "state": state, "context": context, "description": description }),
        ));
    }

    /// `who` pushes a commit they authored to the pull request (the head moves, GitHub
    /// creates its check suite).
    pub fn push_commit_by(&self, number: u64, head: &str, who: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.pushed(head, at);
        let c = s.change(number).unwrap();
        c.head = head.into();
        c.commits.push((who.into(), who.into()));
        c.updated += 1;
    }

    /// New commits on the pull request: the head moves, GitHub creates its check suite.
    pub fn push(&self, number: u64, head: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.pushed(head, at);
        let c = s.change(number).unwrap();
        c.head = head.into();
        c.updated += 1;
    }

    /// Issue `number` becomes a pull request from a branch whose head is `head` (GitHub's
    /// `POST /repos/{owner}/{repo}/pulls` with `issue`): its labels and history stay. The
    /// head's check suite is the one created when it was pushed, if it was.
    pub fn convert_issue(&self, number: u64, head: &str) {
        let mut s = self.state.lock().unwrap();
        let c = s.change(number).unwrap();
        c.is_pr = true;
        c.head = head.into();
        c.base = "main".into();
        c.commits = vec![(c.author.clone(), c.author.clone())];
        c.updated += 1;
    }

    /// `head` is pushed to a branch (no pull request yet): GitHub creates its check suite.
    pub fn push_branch(&self, head: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.pushed(head, at);
    }

    pub fn approve(&self, number: u64, reviewer: &str, commit: &str) {
        let mut s = self.state.lock().unwrap();
        let at = s.tick();
        s.reviews.push((number, json!({ "id": 1, "user": user(reviewer), "state": "APPROVED", "commit_id": commit, "submitted_at": at, "body": "" })));
    }

    /// Puts a real repository behind the compare API: pull request heads and base branches
    /// are then its commits and branches.
    pub fn attach_repo(&self, repo: std::sync::Arc<super::git_repo::GitRepo>) {
        self.state.lock().unwrap().compares.repo = Some(repo);
    }

    pub fn member(&self, team: &str, login: &str) {
        self.state
            .lock()
            .unwrap()
            .members
            .push((team.into(), login.into()));
    }

    /// The next call starting with `prefix` (ending in `$`: exactly that call) answers
    /// `response`; queue it again for each retry.
    pub fn fail_next(&self, prefix: &str, response: ResponseTemplate) {
        self.state
            .lock()
            .unwrap()
            .failures
            .push_back((prefix.into(), response));
    }

    pub fn labels(&self, number: u64) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .change(number)
            .unwrap()
            .labels
            .clone()
    }

    pub fn comments(&self, number: u64) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .comments
            .iter()
            .filter(|c| c.1 == number)
            .map(|c| c.2.clone())
            .collect()
    }

    /// The last status posted for `sha`: (state, description).
    pub fn status(&self, sha: &str) -> Option<(String, String)> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .rev()
            .find(|(h, _)| h == sha)
            .map(|(_, v)| {
                (
                    v["state"].as_str().unwrap_or("").to_string(),
                    v["description"].as_str().unwrap_or("").to_string(),
                )
            })
    }

    /// The last status posted for `sha` under `context`: (state, description).
    pub fn status_in(&self, sha: &str, context: &str) -> Option<(String, String)> {
        let s = self.state.lock().unwrap();
        s.statuses
            .iter()
            .rev()
            .find(|(h, v)| h == sha && v["context"] == context)
            .map(|(_, v)| {
                (
                    v["state"].as_str().unwrap_or("").to_string(),
                    v["description"].as_str().unwrap_or("").to_string(),
                )
            })
    }

    /// Sets the base branch of pull request `number` without an event (as opened).
    pub fn set_base(&self, number: u64, base: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.change(number) {
            c.base = base.into();
        }
    }

    /// Every call so far, as `METHOD /path`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls that write (anything but GET).
    /// Every call but reads (`GET`, and GraphQL queries, which are POSTs that read).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("GET ") && c != "POST /graphql" && c != "POST /api/graphql")
            .collect()
    }

    pub fn clear_calls(&self) {
        let mut s = self.state.lock().unwrap();
        s.calls.clear();
        s.times.clear();
        s.auth.clear();
    }

    /// Calls with the Authorization header each carried.
    pub fn authorized_calls(&self) -> Vec<(String, String)> {
        let s = self.state.lock().unwrap();
        s.calls
            .iter()
            .cloned()
            .zip(s.auth.iter().cloned())
            .collect()
    }

    /// Calls with the time each arrived.
    pub fn timed_calls(&self) -> Vec<(String, std::time::Instant)> {
        let s = self.state.lock().unwrap();
        s.calls
            .iter()
            .cloned()
            .zip(s.times.iter().copied())
            .collect()
    }
}

/// Commits as GitHub lists them: (author, committer) logins, numbered.
fn commit_list(commits: &[(String, String)]) -> Vec<Value> {
    commits
        .iter()
        .enumerate()
        .map(|(i, (a, m))| json!({ "sha": format!("{i:040x}"), "commit": { "message": "work", "author": { "name": a, "email": format!("{a}@example.com") }, "committer": { "name": m, "email": format!("{m}@example.com") } }, "author": user(a), "committer": user(m) }))
        .collect()
}

pub(super) fn json_reply(status: u16, v: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(v)
}

pub(super) fn not_found() -> ResponseTemplate {
    json_reply(
        404,
        json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest" }),
    )
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        let method = req.method.as_str().to_string();
        let call = format!(
            "{method} {}",
            percent_encoding::percent_decode_str(&path).decode_utf8_lossy()
        );
        s.calls.push(call.clone());
        s.times.push(std::time::Instant::now());
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        s.auth.push(auth);
        if let Some(i) = s
            .failures
            .iter()
            .position(|(p, _)| match p.strip_suffix('$') {
                // `…$`: that call exactly, not every call under it.
                Some(exact) => call == exact,
                None => call.starts_with(p.as_str()),
            })
        {
            return s.failures.remove(i).map(|(_, r)| r).unwrap();
        }
        let delay = s.delay;
        if let Some(rate) = &mut s.rate {
            rate.roll();
            if rate.used >= rate.limit {
                rate.over_limit += 1;
                let refused = json_reply(
                    403,
                    json!({ "message": "API rate limit exceeded for installation.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting" }),
                );
                return rate.headers(refused);
            }
        }
        let free_before = s.not_modified;
        let reply = answer(&mut s, req, &path, &method).set_delay(delay);
        let free = s.not_modified > free_before;
        match &mut s.rate {
            Some(rate) => {
                if !free {
                    rate.used += 1;
                    rate.counted += 1;
                }
                rate.headers(reply)
            }
            None => reply,
        }
    }
}

fn answer(s: &mut GhState, req: &Request, path: &str, method: &str) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let parts: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let snapshot = body["query"]
        .as_str()
        .is_some_and(|q| q.contains("ChangegateSnapshot"));
    if method == "POST" && matches!(p.as_slice(), ["graphql"] | ["api", "graphql"]) && snapshot {
        return graphql::snapshot(s, &body);
    }
    let page = body["query"]
        .as_str()
        .is_some_and(|q| q.contains("ChangegatePage"));
    if method == "POST" && matches!(p.as_slice(), ["graphql"] | ["api", "graphql"]) && page {
        return graphql::page_of(s, &body);
    }
    let members = body["query"]
        .as_str()
        .is_some_and(|q| q.contains("ChangegateMembers"));
    if method == "POST" && matches!(p.as_slice(), ["graphql"] | ["api", "graphql"]) && members {
        return graphql::members(s, &body);
    }
    if let Some(reply) = super::github_comments::route(s, method, p.as_slice(), &body) {
        return reply;
    }
    let repo_ok = p.len() > 2 && format!("{}/{}", p[1], p[2]) == REPO;
    match (method, p.as_slice()) {
        ("GET", ["user"]) => json_reply(200, user(&s.bot())),
        // GitHub's "Get a user": the account that has the login now, or 404.
        ("GET", ["users", login]) => {
            match s
                .accounts
                .iter()
                .rev()
                .find(|(l, _)| l.eq_ignore_ascii_case(login))
            {
                Some((_, None)) => not_found(),
                _ => json_reply(200, s.account(login)),
            }
        }
        ("GET", ["app"]) => json_reply(
            200,
            json!({ "id": 1, "slug": "changegate", "name": "changegate" }),
        ),
        ("GET", ["repos", "acme", "platypus", "installation"])
        | ("GET", ["orgs", "acme", "installation"]) => {
            json_reply(200, json!({ "id": 42, "account": { "login": "acme" } }))
        }
        ("POST", ["app", "installations", "42", "access_tokens"]) => {
            s.tokens_minted += 1;
            let lifetime = if s.token_lifetime == 0 {
                3600
            } else {
                s.token_lifetime
            };
            let expires = chrono::Utc::now() + chrono::Duration::seconds(lifetime);
            json_reply(
                201,
                json!({
                    "token": format!("ghs_{}", s.tokens_minted),
                    "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "permissions": { "issues": "write", "pull_requests": "write", "checks": "write", "members": "read" },
                    "repository_selection": "all",
                }),
            )
        }
        ("GET", ["orgs", "acme", "teams", team, "memberships", login]) => {
            if s.members
                .iter()
                .any(|(t, l)| t == team && l.eq_ignore_ascii_case(login))
            {
                json_reply(
                    200,
                    json!({ "url": "x", "role": "member", "state": "active" }),
                )
            } else {
                not_found()
            }
        }
        ("GET", ["repos", _, _, "compare", spec]) if repo_ok && s.compares.repo.is_some() => {
            let header = |h: &str| req.headers.get(h).and_then(|v| v.to_str().ok());
            let (accept, tag) = (header("accept"), header("if-none-match"));
            let mut free = s.not_modified;
            let reply = super::compare_world::github(&mut s.compares, spec, accept, tag, &mut free)
                .unwrap_or_else(not_found);
            s.not_modified = free;
            reply
        }
        (_, ["repos", _, _, rest @ ..]) if repo_ok => {
            let etag = req
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let query: Vec<(String, String)> = req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            route_repo(s, method, rest, &body, etag, &query)
        }
        _ => not_found(),
    }
}

fn change_json(c: &GhChange) -> Value {
    change_json_as(c, false)
}

fn change_json_as(c: &GhChange, as_issue: bool) -> Value {
    let labels: Vec<Value> = c
        .labels
        .iter()
        .map(|l| json!({ "id": 1, "name": l, "color": "ededed", "default": false }))
        .collect();
    let updated = chrono::DateTime::from_timestamp(1_767_225_600 + c.updated * 60, 0)
        .unwrap()
        .to_rfc3339();
    let mut v = json!({
        "number": c.number, "title": c.title, "body": c.body, "user": user(&c.author), "labels": labels, "updated_at": updated,
        "state": c.state, "html_url": format!("https://github.com/{REPO}/pull/{}", c.number),
        "assignees": c.assignees.iter().map(|a| user(a)).collect::<Vec<_>>(),
    });
    if c.is_pr && as_issue {
        v["pull_request"] = json!({ "url": "x" });
    } else if c.is_pr {
        v["draft"] = json!(false);
        v["merged"] = json!(c.merged_at.is_some());
        v["merged_at"] = json!(c.merged_at);
        v["head"] = json!({ "ref": "feature", "sha": c.head });
        v["base"] = json!({ "ref": c.base, "sha": "0000000000000000000000000000000000000000" });
    }
    v
}

/// A number the query string gives for `key`, else `default`.
fn query_number(query: &[(String, String)], key: &str, default: usize) -> usize {
    query
        .iter()
        .find(|(q, _)| q == key)
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(default)
}

/// One page of a listing (`per_page`, `page`) with GitHub's `Link` header and an ETag.
fn paged(
    not_modified: &mut u64,
    items: Vec<Value>,
    query: &[(String, String)],
    base: &str,
    path: &str,
    if_none_match: Option<String>,
) -> ResponseTemplate {
    let per_page = query_number(query, "per_page", 30).clamp(1, 100);
    let page = query_number(query, "page", 1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link =
        |p: usize, rel: &str| format!("<{base}{path}?per_page={per_page}&page={p}>; rel=\"{rel}\"");
    let mut links = vec![];
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    let reply = listing(not_modified, chunk, if_none_match);
    if links.is_empty() {
        reply
    } else {
        reply.insert_header("link", links.join(", ").as_str())
    }
}

/// A body with an ETag; `If-None-Match` with the same tag gets 304, as on GitHub (counted in
/// `not_modified`: those answers cost no rate limit).
fn with_etag(
    not_modified: &mut u64,
    body: Value,
    if_none_match: Option<String>,
) -> ResponseTemplate {
    let tag = format!(
        "\"{:x}\"",
        body.to_string()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    );
    if if_none_match.as_deref() == Some(tag.as_str()) {
        *not_modified += 1;
        return ResponseTemplate::new(304).insert_header("etag", tag.as_str());
    }
    json_reply(200, body).insert_header("etag", tag.as_str())
}

/// A listing with an ETag (see [`with_etag`]).
fn listing(
    not_modified: &mut u64,
    items: Vec<Value>,
    if_none_match: Option<String>,
) -> ResponseTemplate {
    with_etag(not_modified, json!(items), if_none_match)
}

/// Whether a listing's `state` parameter (`open`, the default, `closed` or `all`, as GitHub
/// documents it for pull requests and issues) takes the change.
fn in_state(c: &GhChange, query: &[(String, String)]) -> bool {
    let wanted = query
        .iter()
        .find(|(k, _)| k == "state")
        .map_or("open", |(_, v)| v.as_str());
    wanted == "all" || wanted == c.state
}

fn route_repo(
    s: &mut GhState,
    method: &str,
    rest: &[&str],
    body: &Value,
    etag: Option<String>,
    query: &[(String, String)],
) -> ResponseTemplate {
    if let Some(reply) = deployments::route(s, method, rest, body, &etag, query) {
        return reply;
    }
    let num = |x: &str| x.parse::<u64>().unwrap_or(0);
    match (method, rest) {
        // The repository's labels: names compare without case, as on GitHub.
        ("GET", ["labels"]) => {
            let list: Vec<Value> = s
                .repo_labels
                .iter()
                .enumerate()
                .map(|(i, (name, color, description))| json!({ "id": 9000 + i, "node_id": "LA_x", "url": "https://api.github.com/repos/acme/platypus/labels/x", "name": name, "color": color, "default": false, "description": description }))
                .collect();
            listing(&mut s.not_modified, list, etag)
        }
        ("POST", ["labels"]) => {
            let (Some(name), Some(color)) = (body["name"].as_str(), body["color"].as_str()) else {
                return json_reply(422, json!({ "message": "Validation Failed" }));
            };
            if s.repo_labels.iter().any(|l| l.0.eq_ignore_ascii_case(name)) {
                return json_reply(
                    422,
                    json!({ "message": "Validation Failed", "errors": [{ "resource": "Label", "code": "already_exists", "field": "name" }] }),
                );
            }
            let description = body["description"].as_str().map(str::to_string);
            s.repo_labels
                .push((name.into(), color.into(), description.clone()));
            json_reply(
                201,
                json!({ "id": 9999, "node_id": "LA_x", "url": "https://api.github.com/repos/acme/platypus/labels/x", "name": name, "color": color, "default": false, "description": description }),
            )
        }
        ("PATCH", ["labels", name]) => {
            let Some(label) = s
                .repo_labels
                .iter_mut()
                .find(|l| l.0.eq_ignore_ascii_case(name))
            else {
                return not_found();
            };
            if let Some(n) = body["new_name"].as_str() {
                label.0 = n.into();
            }
            if let Some(c) = body["color"].as_str() {
                label.1 = c.into();
            }
            if let Some(d) = body["description"].as_str() {
                label.2 = Some(d.into());
            }
            let (name, color, description) = label.clone();
            json_reply(
                200,
                json!({ "id": 9000, "node_id": "LA_x", "url": "https://api.github.com/repos/acme/platypus/labels/x", "name": name, "color": color, "default": false, "description": description }),
            )
        }
        ("GET", ["pulls", n]) => match s.change(num(n)).filter(|c| c.is_pr) {
            Some(c) => {
                let mut body = change_json(c);
                // With a repository attached, `base.sha` is the base branch's tip, as GitHub
                // gives it when the pull request is read.
                if let Some(repo) = &s.compares.repo {
                    let base = body["base"]["ref"].as_str().unwrap_or("main").to_string();
                    body["base"]["sha"] = json!(repo.sha(&base));
                }
                // As GitHub counts them: the issue comments on the change.
                let n = num(n);
                body["comments"] = json!(s.comments.iter().filter(|c| c.1 == n).count());
                with_etag(&mut s.not_modified, body, etag)
            }
            None => not_found(),
        },
        // GitHub answers `/issues/{n}` for pull requests too, with a `pull_request` key.
        ("GET", ["issues", n]) => match s.change(num(n)) {
            Some(c) => {
                let mut body = change_json_as(c, true);
                // As GitHub counts them: the issue comments on the change.
                let n = num(n);
                body["comments"] = json!(s.comments.iter().filter(|c| c.1 == n).count());
                with_etag(&mut s.not_modified, body, etag)
            }
            None => not_found(),
        },
        ("GET", ["pulls"]) => listing(
            &mut s.not_modified,
            s.changes
                .iter()
                .filter(|c| c.is_pr && in_state(c, query))
                .map(|c| change_json_as(c, false))
                .collect(),
            etag,
        ),
        ("GET", ["issues"]) => listing(
            &mut s.not_modified,
            s.changes
                .iter()
                .filter(|c| in_state(c, query))
                .map(|c| change_json_as(c, true))
                .collect(),
            etag,
        ),
        ("GET", ["issues", n, "events"]) => {
            let list: Vec<Value> = s
                .events
                .iter()
                .filter(|(k, _)| *k == num(n))
                .map(|(_, v)| v.clone())
                .collect();
            let base = s.base.clone();
            paged(
                &mut s.not_modified,
                list,
                query,
                &base,
                &format!("/repos/{REPO}/issues/{n}/events"),
                etag,
            )
        }
        ("GET", ["commits", sha, "status"]) => {
            // The latest status of each context, newest first, as GitHub combines them.
            let mut seen: Vec<String> = vec![];
            let mut latest: Vec<Value> = vec![];
            for (_, v) in s.statuses.iter().rev().filter(|(h, _)| h == sha) {
                let ctx = v["context"].as_str().unwrap_or("").to_string();
                if !seen.contains(&ctx) {
                    seen.push(ctx);
                    latest.push(json!({ "state": v["state"], "context": v["context"], "description": v["description"], "target_url": null }));
                }
            }
            let state = if latest.iter().any(|v| v["state"] != "success") {
                "failure"
            } else {
                "success"
            };
            let body = json!({ "state": state, "sha": sha, "total_count": latest.len(), "statuses": latest });
            with_etag(&mut s.not_modified, body, etag)
        }
        // The pull requests associated with a commit, as GitHub lists them: open and merged
        // ones alike (here: those whose head it is).
        ("GET", ["commits", sha, "pulls"]) => listing(
            &mut s.not_modified,
            s.changes
                .iter()
                .filter(|c| c.is_pr && c.head == *sha)
                .map(|c| change_json_as(c, false))
                .collect(),
            etag,
        ),
        ("GET", ["commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = s
                .check_runs
                .iter()
                .rev()
                .filter(|v| v["head_sha"] == *sha)
                .cloned()
                .collect();
            with_etag(
                &mut s.not_modified,
                json!({ "total_count": runs.len(), "check_runs": runs }),
                etag,
            )
        }
        ("GET", ["pulls", n, "commits"]) => match s.change(num(n)).filter(|c| c.is_pr) {
            Some(c) => {
                // GitHub lists at most 250 commits of a pull request.
                let list: Vec<Value> = commit_list(&c.commits).into_iter().take(250).collect();
                let base = s.base.clone();
                paged(
                    &mut s.not_modified,
                    list,
                    query,
                    &base,
                    &format!("/repos/{REPO}/pulls/{n}/commits"),
                    etag,
                )
            }
            None => not_found(),
        },
        ("GET", ["compare", spec]) => {
            // `base...head`: the commits reachable from the head and not from the base, all
            // of them, paged (`per_page`, `page`), with `total_commits` and the merge base.
            let Some((base, head)) = spec.split_once("...") else {
                return not_found();
            };
            let Some(c) = s.changes.iter().find(|c| c.is_pr && c.head == head) else {
                return not_found();
            };
            if base != "0000000000000000000000000000000000000000" {
                return not_found();
            }
            let all = commit_list(&c.commits);
            let per_page = query_number(query, "per_page", 250).clamp(1, 250);
            let page = query_number(query, "page", 1).max(1);
            let chunk: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            json_reply(
                200,
                json!({ "status": "ahead", "ahead_by": all.len(), "behind_by": 0, "total_commits": all.len(),
                        "merge_base_commit": { "sha": base }, "base_commit": { "sha": base }, "commits": chunk, "files": [] }),
            )
        }
        ("GET", ["commits", sha, "check-suites"]) => {
            let suites: Vec<Value> = s
                .check_suites
                .iter()
                .enumerate()
                .filter(|(_, (h, _))| h == sha)
                .map(|(i, (h, at))| json!({ "id": 5000 + i, "head_sha": h, "head_branch": "feature", "status": "queued", "conclusion": null,
                                            "app": { "id": 15368, "slug": "github-actions", "name": "GitHub Actions" }, "created_at": at, "updated_at": at }))
                .collect();
            json_reply(
                200,
                json!({ "total_count": suites.len(), "check_suites": suites }),
            )
        }
        ("GET", ["pulls", n, "files"]) => match s.change(num(n)).filter(|c| c.is_pr) {
            Some(c) => {
                let list: Vec<Value> = c
                    .files
                    .iter()
                    .map(|(path, old)| {
                        let mut f = json!({ "sha": "bbcd538c8e72b8c175046e27cc8f907076331401", "filename": path, "status": if old.is_some() { "renamed" } else { "modified" }, "additions": 1, "deletions": 1, "changes": 2, "blob_url": "https://github.com/acme/platypus/blob/x", "raw_url": "https://github.com/acme/platypus/raw/x", "contents_url": "https://api.github.com/repos/acme/platypus/contents/x", "patch": "@@ -1 +1 @@" });
                        if let Some(old) = old {
                            f["previous_filename"] = json!(old);
                        }
                        f
                    })
                    .collect();
                listing(&mut s.not_modified, list, etag)
            }
            None => not_found(),
        },
        ("GET", ["pulls", n, "reviews"]) => {
            let list: Vec<Value> = s
                .reviews
                .iter()
                .filter(|(k, _)| *k == num(n))
                .map(|(_, v)| v.clone())
                .collect();
            let base = s.base.clone();
            paged(
                &mut s.not_modified,
                list,
                query,
                &base,
                &format!("/repos/{REPO}/pulls/{n}/reviews"),
                etag,
            )
        }
        ("POST", ["issues", n, "labels"]) => {
            let Some(names) = body["labels"].as_array() else {
                return json_reply(422, json!({ "message": "Invalid request." }));
            };
            for name in names.iter().filter_map(Value::as_str) {
                let c = s.change(num(n)).unwrap();
                if !c.labels.iter().any(|l| l == name) {
                    c.labels.push(name.into());
                    let bot = s.bot();
                    s.label_event(num(n), name, true, &bot);
                }
            }
            let labels = s.change(num(n)).unwrap().labels.clone();
            json_reply(
                200,
                json!(
                    labels
                        .iter()
                        .map(|l| json!({ "name": l }))
                        .collect::<Vec<_>>()
                ),
            )
        }
        ("DELETE", ["issues", n, "labels", name]) => {
            let c = s.change(num(n)).unwrap();
            if !c.labels.iter().any(|l| l == name) {
                return json_reply(404, json!({ "message": "Label does not exist" }));
            }
            c.labels.retain(|l| l != name);
            let bot = s.bot();
            s.label_event(num(n), name, false, &bot);
            json_reply(200, json!([]))
        }
        ("POST", ["statuses", sha]) => {
            let state = body["state"].as_str().unwrap_or("");
            if !["error", "failure", "pending", "success"].contains(&state)
                || body["context"].as_str().is_none()
            {
                return json_reply(422, json!({ "message": "Validation Failed" }));
            }
            s.statuses.push((sha.to_string(), body.clone()));
            json_reply(
                201,
                json!({ "id": s.statuses.len(), "state": state, "context": body["context"] }),
            )
        }
        ("GET", ["contents", path @ ..]) => {
            let path = path.join("/");
            match s.files.iter().find(|(p, _)| *p == path) {
                Some((_, text)) => {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                    // GitHub wraps the content at 60 characters.
                    let wrapped: Vec<String> = b64
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    let sha = format!(
                        "{:040x}",
                        text.len() as u128 * 7919 + text.bytes().map(u128::from).sum::<u128>()
                    );
                    json_reply(
                        200,
                        json!({ "type": "file", "encoding": "base64", "path": path, "content": wrapped.join("\n") + "\n", "sha": sha }),
                    )
                }
                None => not_found(),
            }
        }
        ("POST", ["check-runs"]) => {
            if body["head_sha"].as_str().is_none()
                || !["success", "failure"].contains(&body["conclusion"].as_str().unwrap_or(""))
            {
                return json_reply(422, json!({ "message": "Validation Failed" }));
            }
            s.check_runs.push(body.clone());
            json_reply(
                201,
                json!({ "id": s.check_runs.len(), "status": "completed" }),
            )
        }
        ("GET", ["issues", n, "comments"]) => {
            let list: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.1 == num(n))
                .map(|c| super::github_comments::comment_json(s, c))
                .collect();
            listing(&mut s.not_modified, list, etag)
        }
        ("POST", ["issues", n, "comments"]) => {
            let Some(text) = body["body"].as_str() else {
                return json_reply(422, json!({ "message": "Validation Failed" }));
            };
            let id = 1000 + s.comments.len() as u64;
            let bot = s.bot();
            s.comments.push((id, num(n), text.into(), bot.clone()));
            if let Some(c) = s.change(num(n)) {
                c.updated += 1;
            }
            json_reply(201, json!({ "id": id, "body": text, "user": user(&bot) }))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let Some(text) = body["body"].as_str() else {
                return json_reply(422, json!({ "message": "Validation Failed" }));
            };
            match s.comments.iter_mut().find(|c| c.0 == num(id)) {
                Some(c) => {
                    c.2 = text.into();
                    json_reply(200, json!({ "id": c.0, "body": text }))
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}
