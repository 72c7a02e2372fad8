//! The GitLab client's plumbing: reqwest with the token, one retry policy, paging by GitLab's
//! headers, and the lookups other calls need (project path, user ids).

use super::super::http::{Reply, RetryPolicy};
use super::super::{ChangeRef, ForgeError, MAX_PAGES, PER_PAGE, Page};
use super::wire::WireUser;
use crate::model::{ChangeKind, User};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

#[derive(Clone)]
pub struct GitlabClient {
    pub(super) http: reqwest::Client,
    pub(super) api: String,
    pub(super) token: String,
    pub(super) retry: RetryPolicy,
    /// The least access level of a direct member who counts as a group member.
    pub(super) min_access_level: u32,
}

impl GitlabClient {
    /// `base_url` is the instance (`https://gitlab.com`); the API lives under `/api/v4`.
    pub fn new(base_url: &str, token: &str, retry: RetryPolicy) -> Result<Self, ForgeError> {
        let http = reqwest::Client::builder()
            .connect_timeout(crate::forge::CONNECT_TIMEOUT)
            .timeout(crate::forge::REQUEST_TIMEOUT)
            .user_agent(concat!("changegate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ForgeError::Refused {
                status: 0,
                message: format!("cannot build the GitLab client: {e}"),
            })?;
        Ok(GitlabClient {
            http,
            // Accept the instance URL (documented) or the API base people sometimes paste.
            api: format!(
                "{}/api/v4",
                base_url.trim_end_matches('/').trim_end_matches("/api/v4")
            ),
            token: token.to_string(),
            retry,
            min_access_level: 30,
        })
    }

    /// Counts group members only from this access level up (GitLab: 30 Developer).
    pub fn with_min_access_level(mut self, level: u32) -> Self {
        self.min_access_level = level;
        self
    }

    pub(super) fn project(&self, r: &ChangeRef) -> String {
        let id = match r.repo.id {
            Some(id) => id.to_string(),
            None => enc(r.repo.path.as_str()),
        };
        format!("{}/projects/{id}", self.api)
    }

    /// `…/merge_requests/7` or `…/issues/7`.
    pub(super) fn change_url(&self, r: &ChangeRef) -> String {
        let kind = match r.kind {
            ChangeKind::MergeRequest => "merge_requests",
            ChangeKind::Issue => "issues",
        };
        format!("{}/{kind}/{}", self.project(r), r.number)
    }

    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ForgeError> {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("PRIVATE-TOKEN", &self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            ForgeError::Transient(format!("{method} {}: {}", path_of(url), e.without_url()))
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| {
            ForgeError::Transient(format!("reading the reply: {}", e.without_url()))
        })?;
        Ok(Reply {
            status,
            headers,
            body: bytes.to_vec(),
        })
    }

    pub(super) async fn call(
        &self,
        idempotent: bool,
        method: reqwest::Method,
        url: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        let token = crate::forge::quota::token_label(&self.token);
        self.retry
            .run(idempotent, || async {
                crate::forge::quota::wait_if_exhausted(crate::model::Forge::Gitlab, &token)?;
                self.send(method.clone(), url, body.as_ref())
                    .await?
                    .observe("gitlab", &token, what)
                    .check(what)
            })
            .await
    }

    /// A read whose 404 means there is none (no such merge request, file, status or commit).
    pub(super) async fn get_found(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Option<Reply>, ForgeError> {
        match self.call(true, reqwest::Method::GET, url, None, what).await {
            Err(ForgeError::NotFound(_)) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Every page of a listing (GitLab's `x-next-page`), up to [`MAX_PAGES`]; a longer one is
    /// an error, never silently cut.
    pub(super) async fn list<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut out = vec![];
        let mut n = 1;
        loop {
            let mut page = self.page::<T>(url, n, what).await?;
            out.append(&mut page.items);
            if !page.has_next {
                return Ok(out);
            }
            if n >= MAX_PAGES {
                return Err(ForgeError::TooLong(what.to_string()));
            }
            n += 1;
        }
    }

    /// Page `n` of a listing, with GitLab's `x-total-pages` and `x-next-page`.
    pub(super) async fn page<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        n: u32,
        what: &str,
    ) -> Result<Page<T>, ForgeError> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let reply = self
            .call(
                true,
                reqwest::Method::GET,
                &format!("{url}{sep}per_page={PER_PAGE}&page={n}"),
                None,
                what,
            )
            .await?;
        let number = |h: &str| reply.header(h).and_then(|p| p.trim().parse::<u32>().ok());
        Ok(Page {
            items: reply.json()?,
            last: number("x-total-pages"),
            has_next: number("x-next-page").is_some_and(|next| next > n),
        })
    }

    /// The project's full path, from `GET /projects/:id`.
    pub(super) async fn project_path(&self, r: &ChangeRef) -> Result<String, ForgeError> {
        #[derive(Deserialize)]
        struct Project {
            path_with_namespace: String,
        }
        let reply = self
            .call(
                true,
                reqwest::Method::GET,
                &self.project(r),
                None,
                "read the project",
            )
            .await?;
        Ok(reply.json::<Project>()?.path_with_namespace)
    }

    /// The accounts behind commit e-mails. GitLab's commits name e-mails, not accounts: an
    /// account whose public e-mail (or, for an administrator's token, any e-mail) it is counts.
    pub(super) async fn users_by_email(
        &self,
        emails: impl Iterator<Item = String>,
    ) -> Result<Vec<User>, ForgeError> {
        let mut emails: Vec<String> = emails
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@') && !e.ends_with("@users.noreply.gitlab.com"))
            .collect();
        emails.sort();
        emails.dedup();
        let mut out: Vec<User> = vec![];
        for email in emails {
            let url = format!("{}/users?search={}", self.api, enc(&email));
            let found: Vec<WireUser> = self
                .call(
                    true,
                    reqwest::Method::GET,
                    &url,
                    None,
                    "find a commit author",
                )
                .await?
                .json()?;
            out.extend(found.iter().map(WireUser::user));
        }
        Ok(out)
    }

    /// GitLab's membership API takes a numeric user id; look it up when only a name is known.
    pub(super) async fn user_id(&self, user: &User) -> Result<Option<u64>, ForgeError> {
        if let Some(id) = user.id {
            return Ok(Some(id));
        }
        let Some(name) = &user.username else {
            return Ok(None);
        };
        let reply = self
            .call(
                true,
                reqwest::Method::GET,
                &format!("{}/users?username={}", self.api, enc(name)),
                None,
                "find a user",
            )
            .await?;
        Ok(reply.json::<Vec<WireUser>>()?.first().and_then(|u| u.id))
    }
}

pub(super) fn path_of(url: &str) -> &str {
    url.find("/api/v4").map(|i| &url[i..]).unwrap_or(url)
}

pub(super) fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}
