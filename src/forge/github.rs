//! GitHub REST API through octocrab (token auth). Requests are built on absolute URLs from
//! `github.api_url`, so GitHub Enterprise (`https://HOST/api/v3`) and test fakes work alike.

use super::http::{Reply, RetryPolicy};
use super::{ChangeRef, Comment, Forge, ForgeError, MAX_PAGES, PER_PAGE, Page};
use crate::model::{
    Change, ChangeKind, ChangeState, Forge as ForgeKind, History, Label, LabelEvent, Review,
    StatusState, TeamRef, User,
};
use ::http::Method;
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct GithubClient {
    octo: std::sync::Arc<Octocrab>,
    api: String,
    retry: RetryPolicy,
    /// GitHub App mode: installation tokens per owner, check runs instead of statuses.
    app: Option<std::sync::Arc<super::github_app::AppAuth>>,
    /// URL → (ETag, answer) of listings, for conditional requests.
    etags:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (String, CachedReply)>>>,
}

impl GithubClient {
    pub fn new(api_url: &str, token: &str, retry: RetryPolicy) -> Result<Self, ForgeError> {
        Self::with_headers(api_url, token, retry, vec![])
    }

    /// A client that sends `headers` on every request (the contract test asks the API mock
    /// for schema-generated answers this way).
    pub fn with_headers(
        api_url: &str,
        token: &str,
        retry: RetryPolicy,
        headers: Vec<(::http::HeaderName, String)>,
    ) -> Result<Self, ForgeError> {
        let mut builder = Octocrab::builder();
        for (name, value) in headers {
            builder = builder.add_header(name, value);
        }
        // Requests go out as paths on this base: octocrab sends credentials only to
        // api.github.com or to its base URI, never to a host named in an absolute URL.
        let octo = builder
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|e| ForgeError::Refused {
                status: 0,
                message: format!("invalid github.api_url: {e}"),
            })?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(super::CONNECT_TIMEOUT))
            .set_read_timeout(Some(super::REQUEST_TIMEOUT))
            .build()
            .map_err(|e| ForgeError::Refused {
                status: 0,
                message: format!("cannot build the GitHub client: {e}"),
            })?;
        Ok(GithubClient {
            octo: std::sync::Arc::new(octo),
            api: api_url.trim_end_matches('/').to_string(),
            retry,
            app: None,
            etags: Default::default(),
        })
    }

    /// A client authenticated as a GitHub App installation (App id and RSA private key).
    pub fn app(
        api_url: &str,
        app_id: u64,
        private_key_pem: &str,
        retry: RetryPolicy,
    ) -> Result<Self, ForgeError> {
        let auth = super::github_app::AppAuth::new(
            api_url.trim_end_matches('/'),
            app_id,
            private_key_pem,
        )?;
        let mut client = Self::with_headers(api_url, "unused-in-app-mode", retry, vec![])?;
        client.app = Some(std::sync::Arc::new(auth));
        Ok(client)
    }

    /// `url` as a path on the API base (see the builder).
    fn path<'a>(&self, url: &'a str) -> &'a str {
        url.strip_prefix(&self.api).unwrap_or(url)
    }

    /// The octocrab client to send `url` with.
    async fn octo_for(&self, url: &str) -> Result<std::sync::Arc<Octocrab>, ForgeError> {
        match &self.app {
            Some(app) => app.client_for(url).await,
            None => Ok(self.octo.clone()),
        }
    }

    fn repo_url(&self, r: &ChangeRef, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.api, r.repo.path)
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ForgeError> {
        let octo = self.octo_for(url).await?;
        let path = self.path(url);
        let result = match *method {
            Method::GET => octo._get(path).await,
            Method::POST => octo._post(path, body).await,
            Method::PATCH => octo._patch(path, body).await,
            Method::DELETE => octo._delete(path, body).await,
            Method::PUT => octo._put(path, body).await,
            _ => {
                return Err(ForgeError::Refused {
                    status: 0,
                    message: format!("{method} is not a method the bot sends"),
                });
            }
        };
        let resp =
            result.map_err(|e| ForgeError::Transient(format!("{method} {}: {e}", path_of(url))))?;
        Reply::read(resp).await
    }

    /// One request with the retry policy; `what` names it in errors (no URL, no token).
    async fn call(
        &self,
        idempotent: bool,
        method: Method,
        url: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        self.retry
            .run(idempotent, || async {
                self.send(&method, url, body.as_ref())
                    .await?
                    .observe("github", what)
                    .check(what)
            })
            .await
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        self.pages(url, what, false).await
    }

    /// Every page of a listing, each page conditional (see [`Self::get_conditional`]).
    async fn list_conditional<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        self.pages(url, what, true).await
    }

    /// Every page of a listing (GitHub's `Link: rel="next"`), up to [`MAX_PAGES`]; with
    /// `conditional`, each page is asked with its last ETag.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
        conditional: bool,
    ) -> Result<Vec<T>, ForgeError> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{url}{sep}per_page={PER_PAGE}"));
        let mut out = vec![];
        let mut pages = 0;
        while let Some(page) = next.take() {
            let reply = if conditional {
                self.get_conditional(&page, what).await?
            } else {
                self.call(true, Method::GET, &page, None, what).await?
            };
            out.extend(reply.json::<Vec<T>>()?);
            pages += 1;
            // Follow only links to the configured API: the token must not go elsewhere.
            next = reply
                .header("link")
                .and_then(|l| link(l, "next"))
                .filter(|n| n.starts_with(&format!("{}/", self.api)));
            if next.is_some() && pages >= MAX_PAGES {
                // Never a silent cut: a partial listing could hide what decides.
                return Err(ForgeError::TooLong(what.to_string()));
            }
        }
        Ok(out)
    }

    /// Page `n` of a listing (conditional), with what its `Link` header says of the rest.
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        n: u32,
        what: &str,
    ) -> Result<Page<T>, ForgeError> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let reply = self
            .get_conditional(&format!("{url}{sep}per_page={PER_PAGE}&page={n}"), what)
            .await?;
        // Only links on the configured API describe this listing (as for following them).
        let links = reply.header("link").unwrap_or("");
        let on_api = |u: &String| u.starts_with(&format!("{}/", self.api));
        Ok(Page {
            items: reply.json()?,
            last: link(links, "last")
                .filter(on_api)
                .and_then(|u| page_number(&u)),
            has_next: link(links, "next").filter(on_api).is_some(),
        })
    }
}

impl GithubClient {
    /// A GET that sends `If-None-Match` with the ETag of the last answer for the URL; a 304
    /// (which does not count against the rate limit) reuses that answer.
    async fn get_conditional(&self, url: &str, what: &str) -> Result<Reply, ForgeError> {
        let cached = self.etags.lock().ok().and_then(|c| c.get(url).cloned());
        let reply = self
            .retry
            .run(true, || async {
                let mut headers = ::http::HeaderMap::new();
                if let Some((etag, _)) = &cached
                    && let Ok(v) = etag.parse()
                {
                    headers.insert(::http::header::IF_NONE_MATCH, v);
                }
                let resp = self
                    .octo_for(url)
                    .await?
                    ._get_with_headers(self.path(url), Some(headers))
                    .await
                    .map_err(|e| ForgeError::Transient(format!("GET {}: {e}", path_of(url))))?;
                let reply = Reply::read(resp).await?.observe("github", what);
                if reply.status == 304 {
                    Ok(reply)
                } else {
                    reply.check(what)
                }
            })
            .await?;
        if reply.status == 304
            && let Some((_, old)) = cached
        {
            return Ok(Reply {
                status: 200,
                headers: old.headers.clone(),
                body: old.body.clone(),
            });
        }
        if let (Some(etag), Ok(mut c)) =
            (reply.header("etag").map(str::to_string), self.etags.lock())
        {
            c.insert(
                url.to_string(),
                (
                    etag,
                    CachedReply {
                        headers: reply.headers.clone(),
                        body: reply.body.clone(),
                    },
                ),
            );
        }
        Ok(reply)
    }
}

/// An answer kept for conditional requests.
#[derive(Clone)]
struct CachedReply {
    headers: ::http::HeaderMap,
    body: Vec<u8>,
}

/// The URL a `Link` header gives for `rel` (`next`, `last`).
fn link(header: &str, rel: &str) -> Option<String> {
    let wanted = format!("rel=\"{rel}\"");
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains(&wanted).then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// The `page` query parameter of a URL.
fn page_number(url: &str) -> Option<u32> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|v| v.parse().ok())
}

fn path_of(url: &str) -> &str {
    url.find("/repos/")
        .or(url.find("/orgs/"))
        .map(|i| &url[i..])
        .unwrap_or(url)
}

// Wire types are lenient where the OpenAPI description is: ids are signed integers there,
// labels may be plain strings, timestamps are read if they parse.

/// The id of something just created.
#[derive(Deserialize)]
struct CreatedId {
    id: i64,
}

#[derive(Deserialize)]
struct WireUser {
    login: Option<String>,
    id: Option<i64>,
}

impl WireUser {
    fn user(&self) -> User {
        User {
            id: self.id.and_then(|i| u64::try_from(i).ok()),
            username: self.login.clone(),
        }
    }
}

#[derive(Deserialize)]
struct WireLabel {
    name: String,
}

/// An issue's label: an object, or just its name.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireLabelEntry {
    Name(String),
    Object { name: Option<String> },
}

impl WireLabelEntry {
    fn label(&self) -> Option<Label> {
        match self {
            WireLabelEntry::Name(n) => Some(Label::new(n)),
            WireLabelEntry::Object { name } => name.as_deref().map(Label::new),
        }
    }
}

fn time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Deserialize)]
struct WireRef {
    #[serde(rename = "ref")]
    name: Option<String>,
    sha: Option<String>,
}

/// A pull request or an issue as the REST API returns it.
#[derive(Deserialize)]
struct WireChange {
    number: Option<i64>,
    title: Option<String>,
    body: Option<String>,
    user: Option<WireUser>,
    #[serde(default)]
    labels: Vec<WireLabelEntry>,
    state: Option<String>,
    draft: Option<bool>,
    merged: Option<bool>,
    merged_at: Option<String>,
    head: Option<WireRef>,
    base: Option<WireRef>,
    html_url: Option<String>,
    updated_at: Option<String>,
    /// Present on issues that are pull requests.
    pull_request: Option<serde::de::IgnoredAny>,
}

impl WireChange {
    fn into_change(self, repo: &crate::model::Repo, kind: ChangeKind, number: u64) -> Change {
        let merged = self.merged == Some(true) || self.merged_at.is_some();
        Change {
            forge: ForgeKind::Github,
            repo: repo.clone(),
            kind,
            number,
            title: self.title.unwrap_or_default(),
            description: self.body.unwrap_or_default(),
            author: self.user.as_ref().map(WireUser::user).unwrap_or_default(),
            labels: self
                .labels
                .iter()
                .filter_map(WireLabelEntry::label)
                .collect(),
            head_sha: self.head.as_ref().and_then(|h| h.sha.clone()),
            source_branch: self.head.as_ref().and_then(|h| h.name.clone()),
            target_branch: self.base.as_ref().and_then(|b| b.name.clone()),
            draft: self.draft.unwrap_or(false),
            state: match (self.state.as_deref(), merged) {
                (_, true) => ChangeState::Merged,
                (Some("closed"), _) => ChangeState::Closed,
                _ => ChangeState::Open,
            },
            web_url: self.html_url,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct WireIssueEvent {
    event: String,
    actor: Option<WireUser>,
    label: Option<WireLabel>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct WireReview {
    user: Option<WireUser>,
    state: String,
    commit_id: Option<String>,
    submitted_at: Option<String>,
}

#[derive(Deserialize)]
struct WireComment {
    id: i64,
    body: Option<String>,
    user: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireMembership {
    state: Option<String>,
}

impl Forge for GithubClient {
    async fn change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        let path = match r.kind {
            ChangeKind::MergeRequest => format!("/pulls/{}", r.number),
            ChangeKind::Issue => format!("/issues/{}", r.number),
        };
        let reply = match self
            .call(
                true,
                Method::GET,
                &self.repo_url(r, &path),
                None,
                "read the change",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let w: WireChange = reply.json()?;
        Ok(Some(w.into_change(&r.repo, r.kind, r.number)))
    }

    async fn repo_file(
        &self,
        repo: &crate::model::Repo,
        path: &str,
    ) -> Result<Option<super::RepoFile>, ForgeError> {
        #[derive(Deserialize)]
        struct Contents {
            content: Option<String>,
            sha: String,
        }
        let encoded: Vec<String> = path.split('/').map(enc).collect();
        let url = format!(
            "{}/repos/{}/contents/{}",
            self.api,
            repo.path,
            encoded.join("/")
        );
        let reply = match self
            .call(true, Method::GET, &url, None, "read the repository rules")
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let c: Contents = reply.json()?;
        super::decode_file(c.content.as_deref().unwrap_or(""), c.sha).map(Some)
    }

    async fn open_changes(&self, repo: &crate::model::Repo) -> Result<Vec<Change>, ForgeError> {
        let base = format!("{}/repos/{}", self.api, repo.path);
        let pulls: Vec<WireChange> = self
            .list_conditional(
                &format!("{base}/pulls?state=open"),
                "list open pull requests",
            )
            .await?;
        let issues: Vec<WireChange> = self
            .list_conditional(&format!("{base}/issues?state=open"), "list open issues")
            .await?;
        let to_change = |w: WireChange, kind| {
            let n = w.number.and_then(|n| u64::try_from(n).ok())?;
            Some(w.into_change(repo, kind, n))
        };
        let mut out: Vec<Change> = pulls
            .into_iter()
            .filter_map(|w| to_change(w, ChangeKind::MergeRequest))
            .collect();
        // The issues listing includes pull requests; they are listed above already.
        out.extend(
            issues
                .into_iter()
                .filter(|w| w.pull_request.is_none())
                .filter_map(|w| to_change(w, ChangeKind::Issue)),
        );
        Ok(out)
    }

    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        let url = self.repo_url(r, &format!("/issues/{}/events", r.number));
        let read = super::read_history(
            "label history",
            |n| self.page::<WireIssueEvent>(&url, n, "read label history"),
            |events| {
                crate::model::holds_latest(
                    current,
                    events.iter().filter_map(|e| {
                        let name = e.label.as_ref()?.name.as_str();
                        Some((name, e.event == "labeled"))
                    }),
                )
            },
        )
        .await;
        let events = match read {
            Err(ForgeError::NotFound(_)) => vec![],
            other => other?,
        };
        let retargeted_at = events
            .iter()
            .filter(|e| e.event == "base_ref_changed")
            .filter_map(|e| time(&e.created_at))
            .max();
        let labels = events
            .into_iter()
            .filter(|e| e.event == "labeled" || e.event == "unlabeled")
            .filter_map(|e| {
                Some(LabelEvent {
                    label: Label::new(&e.label?.name),
                    added: e.event == "labeled",
                    actor: e.actor.as_ref().map(WireUser::user).unwrap_or_default(),
                    at: time(&e.created_at),
                })
            })
            .collect();
        Ok(History {
            labels,
            retargeted_at,
        })
    }

    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/reviews", r.number));
        let reviews: Vec<WireReview> =
            super::empty_if_missing(self.list(&url, "read reviews").await)?;
        Ok(standing_approvals(reviews))
    }

    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        #[derive(Deserialize)]
        struct WireCommit {
            author: Option<WireUser>,
            committer: Option<WireUser>,
        }
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/commits", r.number));
        let commits: Vec<WireCommit> =
            super::empty_if_missing(self.list_conditional(&url, "read commits").await)?;
        let mut out: Vec<User> = vec![];
        for u in commits
            .iter()
            .flat_map(|c| [&c.author, &c.committer])
            .flatten()
            .map(WireUser::user)
        {
            // `web-flow` commits what people do in GitHub's web interface: not a person.
            let web_flow = u.username.as_deref() == Some("web-flow");
            if !web_flow && !out.iter().any(|o| o.same_as(&u) == Some(true)) {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn is_member(&self, team: &TeamRef, user: &User) -> Result<bool, ForgeError> {
        let (TeamRef::GithubTeam { org, slug }, Some(login)) = (team, user.username.as_deref())
        else {
            return Ok(false);
        };
        let url = format!(
            "{}/orgs/{}/teams/{}/memberships/{}",
            self.api,
            enc(org),
            enc(slug),
            enc(login)
        );
        match self
            .call(true, Method::GET, &url, None, "read team membership")
            .await
        {
            Ok(reply) => Ok(reply.json::<WireMembership>()?.state.as_deref() == Some("active")),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn current_user(&self) -> Result<User, ForgeError> {
        if let Some(app) = &self.app {
            return app.bot().await;
        }
        let reply = self
            .call(
                true,
                Method::GET,
                &format!("{}/user", self.api),
                None,
                "read the bot's account",
            )
            .await?;
        Ok(reply.json::<WireUser>()?.user())
    }

    async fn comments(&self, r: &ChangeRef) -> Result<Vec<Comment>, ForgeError> {
        let url = self.repo_url(r, &format!("/issues/{}/comments", r.number));
        let list: Vec<WireComment> =
            super::empty_if_missing(self.list(&url, "read comments").await)?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                Some(Comment {
                    id: u64::try_from(c.id).ok()?,
                    body: c.body.unwrap_or_default(),
                    author: c.user.as_ref().map(WireUser::user).unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        let url = self.repo_url(r, &format!("/issues/{}/comments", r.number));
        self.call(
            false,
            Method::POST,
            &url,
            Some(json!({ "body": body })),
            "create the comment",
        )
        .await?
        .json::<CreatedId>()
        .map(|c| u64::try_from(c.id).unwrap_or(0))
    }

    async fn update_comment(&self, r: &ChangeRef, id: u64, body: &str) -> Result<(), ForgeError> {
        // PATCH, as the API documents (octocrab's update_comment sends POST).
        let url = self.repo_url(r, &format!("/issues/comments/{id}"));
        self.call(
            true,
            Method::PATCH,
            &url,
            Some(json!({ "body": body })),
            "update the comment",
        )
        .await
        .map(drop)
    }

    async fn add_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        let url = self.repo_url(r, &format!("/issues/{}/labels", r.number));
        let names: Vec<&str> = labels.iter().map(Label::as_str).collect();
        self.call(
            true,
            Method::POST,
            &url,
            Some(json!({ "labels": names })),
            "add labels",
        )
        .await
        .map(drop)
    }

    async fn remove_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        for label in labels {
            let url = self.repo_url(
                r,
                &format!("/issues/{}/labels/{}", r.number, enc(label.as_str())),
            );
            match self
                .call(true, Method::DELETE, &url, None, "remove a label")
                .await
            {
                // Already gone: the goal is reached.
                Ok(_) | Err(ForgeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn current_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        context: &str,
    ) -> Result<Option<(StatusState, String)>, ForgeError> {
        #[derive(Deserialize)]
        struct Combined {
            #[serde(default)]
            statuses: Vec<WireStatus>,
        }
        #[derive(Deserialize)]
        struct WireStatus {
            state: Option<String>,
            context: Option<String>,
            description: Option<String>,
        }
        #[derive(Deserialize)]
        struct CheckRuns {
            #[serde(default)]
            check_runs: Vec<WireCheckRun>,
        }
        #[derive(Deserialize)]
        struct WireCheckRun {
            conclusion: Option<String>,
            output: Option<WireOutput>,
        }
        #[derive(Deserialize)]
        struct WireOutput {
            title: Option<String>,
        }
        let state = |s: Option<&str>| match s {
            Some("success") => Some(StatusState::Success),
            Some("failure") => Some(StatusState::Failure),
            Some("error") => Some(StatusState::Error),
            _ => None,
        };
        if self.app.is_some() {
            let url = self.repo_url(
                r,
                &format!(
                    "/commits/{}/check-runs?check_name={}&filter=latest",
                    enc(sha),
                    enc(context)
                ),
            );
            let runs: CheckRuns = match self.get_conditional(&url, "read the check run").await {
                Err(ForgeError::NotFound(_)) => return Ok(None),
                other => other?.json()?,
            };
            return Ok(runs.check_runs.into_iter().next().and_then(|c| {
                let title = c.output.and_then(|o| o.title).unwrap_or_default();
                Some((state(c.conclusion.as_deref())?, title))
            }));
        }
        // The combined status lists the latest status of each context (a 304 is free).
        let url = self.repo_url(r, &format!("/commits/{}/status?per_page=100", enc(sha)));
        // None known: the verdict is written.
        let combined: Combined = match self.get_conditional(&url, "read the commit status").await {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?.json()?,
        };
        Ok(combined
            .statuses
            .into_iter()
            .find(|s| s.context.as_deref() == Some(context))
            .and_then(|s| {
                Some((
                    state(s.state.as_deref())?,
                    s.description.unwrap_or_default(),
                ))
            }))
    }

    async fn set_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        state: StatusState,
        context: &str,
        description: &str,
        summary: &str,
    ) -> Result<(), ForgeError> {
        let (state, conclusion) = match state {
            StatusState::Success => ("success", "success"),
            StatusState::Failure => ("failure", "failure"),
            StatusState::Error => ("error", "failure"),
        };
        if self.app.is_some() {
            // Only this App can write its check runs: a status could be posted by anyone.
            let url = self.repo_url(r, "/check-runs");
            let body = json!({
                "name": context, "head_sha": sha, "status": "completed", "conclusion": conclusion,
                "output": { "title": description, "summary": summary },
            });
            return self
                .call(true, Method::POST, &url, Some(body), "create a check run")
                .await
                .map(drop);
        }
        let url = self.repo_url(r, &format!("/statuses/{}", enc(sha)));
        let body = json!({ "state": state, "context": context, "description": description });
        self.call(
            true,
            Method::POST,
            &url,
            Some(body),
            "set the commit status",
        )
        .await
        .map(drop)
    }
}

/// Each reviewer's latest decisive review; approvals among them stand.
fn standing_approvals(reviews: Vec<WireReview>) -> Vec<Review> {
    let mut latest: Vec<(User, WireReview)> = vec![];
    for r in reviews {
        // A comment-only review does not change a reviewer's verdict.
        if !matches!(
            r.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            continue;
        }
        let user = r.user.as_ref().map(WireUser::user).unwrap_or_default();
        latest.retain(|(u, _)| u.same_as(&user) != Some(true));
        latest.push((user, r));
    }
    latest
        .into_iter()
        .filter(|(_, r)| r.state == "APPROVED")
        .map(|(user, r)| Review {
            reviewer: user,
            approved: true,
            commit_sha: r.commit_id,
            submitted_at: time(&r.submitted_at),
        })
        .collect()
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let h = r#"<https://api.github.com/repos/o/r/issues/1/events?page=2>; rel="next", <https://api.github.com/repos/o/r/issues/1/events?page=5>; rel="last""#;
        assert_eq!(
            link(h, "next").as_deref(),
            Some("https://api.github.com/repos/o/r/issues/1/events?page=2")
        );
        assert_eq!(link(h, "last").as_deref().and_then(page_number), Some(5));
        assert_eq!(link(r#"<x>; rel="prev""#, "next"), None);
    }

    #[test]
    fn latest_decisive_review_wins() {
        let review = |login: &str, state: &str| WireReview {
            user: Some(WireUser {
                login: Some(login.into()),
                id: None,
            }),
            state: state.into(),
            commit_id: Some("abc".into()),
            submitted_at: None,
        };
        let standing = standing_approvals(vec![
            review("pam", "APPROVED"),
            review("pam", "COMMENTED"),
            review("bob", "APPROVED"),
            review("bob", "CHANGES_REQUESTED"),
            review("eve", "DISMISSED"),
        ]);
        let who: Vec<_> = standing
            .iter()
            .map(|r| r.reviewer.username.clone().unwrap())
            .collect();
        assert_eq!(who, vec!["pam"]);
    }
}
