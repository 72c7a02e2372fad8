//! The GitHub client's plumbing: octocrab on the API base (token or App installation tokens),
//! one retry policy, conditional GETs and paging that never leaves the configured API.

use super::super::http::{Reply, RetryPolicy};
use super::super::{ChangeRef, ForgeError, MAX_PAGES, PER_PAGE, Page};
use ::http::Method;
use octocrab::Octocrab;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

#[derive(Clone)]
pub struct GithubClient {
    pub(super) octo: std::sync::Arc<Octocrab>,
    pub(super) api: String,
    pub(super) retry: RetryPolicy,
    /// GitHub App mode: installation tokens per owner, check runs instead of statuses.
    pub(super) app: Option<std::sync::Arc<crate::forge::github_app::AppAuth>>,
    /// URL → (ETag, answer), for conditional requests (memory, then the store when given).
    pub(super) replies: crate::forge::replies::Replies,
    /// How metrics name the token ([`crate::forge::quota::token_label`]).
    token_label: std::sync::Arc<str>,
    /// Snapshots read through GraphQL for the evaluations under way.
    pub(super) snapshots: super::snapshot::Snapshots,
    /// GitHub Enterprise Server (an API base ending `/v3`): a client on `https://HOST/api`
    /// for GraphQL (`/api/graphql`), which the REST client cannot reach (octocrab puts every
    /// path under its base).
    graphql_octo: Option<std::sync::Arc<Octocrab>>,
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
        let api = api_url.trim_end_matches('/');
        let graphql_octo = match api.strip_suffix("/v3") {
            Some(base) => Some(std::sync::Arc::new(octocrab_on(base, token, &headers)?)),
            None => None,
        };
        let octo = octocrab_on(api, token, &headers)?;
        Ok(GithubClient {
            octo: std::sync::Arc::new(octo),
            api: api.to_string(),
            retry,
            app: None,
            replies: Default::default(),
            token_label: crate::forge::quota::token_label(token).into(),
            snapshots: Default::default(),
            graphql_octo,
        })
    }
}

/// An octocrab client on `base` with the token and extra headers.
fn octocrab_on(
    base: &str,
    token: &str,
    headers: &[(::http::HeaderName, String)],
) -> Result<Octocrab, ForgeError> {
    let mut builder = Octocrab::builder();
    for (name, value) in headers {
        builder = builder.add_header(name.clone(), value.clone());
    }
    // Requests go out as paths on this base: octocrab sends credentials only to
    // api.github.com or to its base URI, never to a host named in an absolute URL.
    builder
        .base_uri(base)
        .map_err(|e| ForgeError::Refused {
            status: 0,
            message: format!("invalid github.api_url: {e}"),
        })?
        .personal_token(token.to_string())
        .set_connect_timeout(Some(crate::forge::CONNECT_TIMEOUT))
        .set_read_timeout(Some(crate::forge::REQUEST_TIMEOUT))
        .build()
        .map_err(|e| ForgeError::Refused {
            status: 0,
            message: format!("cannot build the GitHub client: {e}"),
        })
}

impl GithubClient {
    /// A client authenticated as a GitHub App installation (App id and RSA private key).
    pub fn app(
        api_url: &str,
        app_id: u64,
        private_key_pem: &str,
        retry: RetryPolicy,
    ) -> Result<Self, ForgeError> {
        let auth = crate::forge::github_app::AppAuth::new(
            api_url.trim_end_matches('/'),
            app_id,
            private_key_pem,
        )?;
        let mut client = Self::with_headers(api_url, "unused-in-app-mode", retry, vec![])?;
        client.app = Some(std::sync::Arc::new(auth));
        if client.graphql_octo.take().is_some() {
            // Installation clients live on the REST base (their tokens are renewed there):
            // an App on GitHub Enterprise Server reads through REST.
            client.snapshots.off = true;
        }
        Ok(client)
    }

    /// Keeps the answers to conditional reads in `store` too (shared by replicas, surviving
    /// restarts), not only in this process's memory.
    pub fn with_reply_store(mut self, store: std::sync::Arc<dyn crate::forge::ReplyStore>) -> Self {
        self.replies = crate::forge::replies::Replies::with_store(store);
        self
    }

    /// Reads `clock` for how long an installation whose GraphQL could not answer reads REST
    /// only (the process's clock; tests move it).
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.snapshots.clock = clock;
        self
    }

    /// Reads through REST only, never GraphQL (`github.graphql: false`).
    pub fn without_graphql(mut self) -> Self {
        self.snapshots.off = true;
        self
    }

    /// The credential a request to `url` spends, as metrics name it: the token's fingerprint,
    /// or in App mode the installation of the URL's owner (each has a limit of its own).
    pub(super) fn token_for(&self, url: &str) -> String {
        if self.app.is_none() {
            return self.token_label.to_string();
        }
        let path = self.path(url).trim_start_matches('/');
        match path.split('/').collect::<Vec<_>>().as_slice() {
            ["repos" | "orgs", owner, ..] => format!("installation-{}", owner.to_lowercase()),
            _ => "app".into(),
        }
    }

    /// `url` as a path on the API base (see the builder).
    pub(super) fn path<'a>(&self, url: &'a str) -> &'a str {
        url.strip_prefix(&self.api).unwrap_or(url)
    }

    /// The octocrab client to send `url` with.
    pub(super) async fn octo_for(&self, url: &str) -> Result<std::sync::Arc<Octocrab>, ForgeError> {
        match &self.app {
            Some(app) => app.client_for(url).await,
            None => Ok(self.octo.clone()),
        }
    }

    /// The client and path to send a GraphQL request with, its credential that of the
    /// repository at `auth_url` (GitHub Enterprise Server: `/graphql` on `https://HOST/api`).
    pub(super) async fn graphql_route(
        &self,
        auth_url: &str,
    ) -> Result<(std::sync::Arc<Octocrab>, String), ForgeError> {
        match &self.graphql_octo {
            Some(octo) => Ok((octo.clone(), "/graphql".into())),
            None => Ok((
                self.octo_for(auth_url).await?,
                self.path(&self.graphql_url()).to_string(),
            )),
        }
    }

    pub(super) fn repo_url(&self, r: &ChangeRef, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.api, r.repo.path)
    }

    pub(super) async fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ForgeError> {
        let (octo, path) = if url == self.graphql_url() {
            self.graphql_route(url).await?
        } else {
            (self.octo_for(url).await?, self.path(url).to_string())
        };
        let path = path.as_str();
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
    pub(super) async fn call(
        &self,
        idempotent: bool,
        method: Method,
        url: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        self.retry
            .run(idempotent, || async {
                let token = self.token_for(url);
                crate::forge::quota::wait_if_exhausted(crate::model::Forge::Github, &token)?;
                self.send(&method, url, body.as_ref())
                    .await?
                    .observe("github", &token, what)
                    .check(what)
            })
            .await
    }

    /// Every page of a listing (GitHub's `Link: rel="next"`), up to [`MAX_PAGES`], each page
    /// asked with its last ETag (a 304 costs no rate limit; see [`Self::get_conditional`]).
    pub(super) async fn list_conditional<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{url}{sep}per_page={PER_PAGE}"));
        let mut out = vec![];
        let mut pages = 0;
        while let Some(page) = next.take() {
            let reply = self.get_conditional(&page, what).await?;
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
    pub(super) async fn page<T: serde::de::DeserializeOwned>(
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
    pub(super) async fn get_conditional(&self, url: &str, what: &str) -> Result<Reply, ForgeError> {
        self.get_conditional_as(url, None, what).await
    }

    /// [`Self::get_conditional`] asking for a media type (`Accept`): its answers are kept
    /// apart from the JSON ones of the same URL.
    pub(super) async fn get_conditional_as(
        &self,
        url: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        let key = match accept {
            Some(media) => format!("{url}\naccept: {media}"),
            None => url.to_string(),
        };
        let key = key.as_str();
        let cached = self.replies.get(key).await;
        let reply = self
            .retry
            .run(true, || async {
                let token = self.token_for(url);
                crate::forge::quota::wait_if_exhausted(crate::model::Forge::Github, &token)?;
                let mut headers = ::http::HeaderMap::new();
                if let Some(media) = accept.and_then(|m| m.parse().ok()) {
                    headers.insert(::http::header::ACCEPT, media);
                }
                if let Some(kept) = &cached
                    && let Ok(v) = kept.etag.parse()
                {
                    headers.insert(::http::header::IF_NONE_MATCH, v);
                }
                let resp = self
                    .octo_for(url)
                    .await?
                    ._get_with_headers(self.path(url), Some(headers))
                    .await
                    .map_err(|e| ForgeError::Transient(format!("GET {}: {e}", path_of(url))))?;
                let reply = Reply::read(resp).await?.observe("github", &token, what);
                if reply.status == 304 {
                    Ok(reply)
                } else {
                    reply.check(what)
                }
            })
            .await?;
        if reply.status == 304
            && let Some(kept) = cached
        {
            self.replies.used(key, &kept).await;
            let mut headers = reply.headers;
            match kept.link.as_deref().map(str::parse) {
                Some(Ok(link)) => {
                    headers.insert(::http::header::LINK, link);
                }
                _ => {
                    headers.remove(::http::header::LINK);
                }
            }
            return Ok(Reply {
                status: 200,
                headers,
                body: kept.body.into_bytes(),
            });
        }
        if let Some(etag) = reply.header("etag") {
            let link = reply.header("link").map(str::to_string);
            self.replies
                .put(key, etag.to_string(), link, &reply.body)
                .await;
        }
        Ok(reply)
    }
}

/// The URL a `Link` header gives for `rel` (`next`, `last`).
pub(super) fn link(header: &str, rel: &str) -> Option<String> {
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
pub(super) fn page_number(url: &str) -> Option<u32> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|v| v.parse().ok())
}

pub(super) fn path_of(url: &str) -> &str {
    url.find("/repos/")
        .or(url.find("/orgs/"))
        .map(|i| &url[i..])
        .unwrap_or(url)
}

pub(super) fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_conditional_cache_stays_bounded() {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("etag", "\"x\"")
                    .set_body_string("[]"),
            )
            .mount(&server)
            .await;
        let client = GithubClient::new(&server.uri(), "t", RetryPolicy::default()).unwrap();
        for n in 0..2005 {
            let url = format!("{}/repos/o/r/commits/{n}/status", server.uri());
            client.get_conditional(&url, "read").await.unwrap();
        }
        assert_eq!(client.replies.in_memory(), 2000);
    }

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
}
