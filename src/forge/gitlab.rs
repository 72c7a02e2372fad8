//! GitLab REST API v4 through reqwest, with its own wire types. Projects are addressed by
//! numeric id when the webhook gave one, else by URL-encoded full path.

use super::http::{Reply, RetryPolicy};
use super::{ChangeRef, Comment, Forge, ForgeError, MAX_PAGES, PER_PAGE, Page};
use crate::model::{
    Change, ChangeKind, ChangeState, Forge as ForgeKind, History, Label, LabelEvent, Review,
    StatusState, TeamRef, User,
};
use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct GitlabClient {
    http: reqwest::Client,
    api: String,
    token: String,
    retry: RetryPolicy,
    /// The least access level of a direct member who counts as a group member.
    min_access_level: u32,
}

impl GitlabClient {
    /// `base_url` is the instance (`https://gitlab.com`); the API lives under `/api/v4`.
    pub fn new(base_url: &str, token: &str, retry: RetryPolicy) -> Result<Self, ForgeError> {
        let http = reqwest::Client::builder()
            .connect_timeout(super::CONNECT_TIMEOUT)
            .timeout(super::REQUEST_TIMEOUT)
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

    fn project(&self, r: &ChangeRef) -> String {
        let id = match r.repo.id {
            Some(id) => id.to_string(),
            None => enc(r.repo.path.as_str()),
        };
        format!("{}/projects/{id}", self.api)
    }

    /// `…/merge_requests/7` or `…/issues/7`.
    fn change_url(&self, r: &ChangeRef) -> String {
        let kind = match r.kind {
            ChangeKind::MergeRequest => "merge_requests",
            ChangeKind::Issue => "issues",
        };
        format!("{}/{kind}/{}", self.project(r), r.number)
    }

    async fn send(
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

    async fn call(
        &self,
        idempotent: bool,
        method: reqwest::Method,
        url: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        self.retry
            .run(idempotent, || async {
                self.send(method.clone(), url, body.as_ref())
                    .await?
                    .observe("gitlab", what)
                    .check(what)
            })
            .await
    }

    /// Every page of a listing (GitLab's `x-next-page`), up to [`MAX_PAGES`]; a longer one is
    /// an error, never silently cut.
    async fn list<T: serde::de::DeserializeOwned>(
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
    async fn page<T: serde::de::DeserializeOwned>(
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
    async fn project_path(&self, r: &ChangeRef) -> Result<String, ForgeError> {
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

    /// GitLab's membership API takes a numeric user id; look it up when only a name is known.
    async fn user_id(&self, user: &User) -> Result<Option<u64>, ForgeError> {
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

fn path_of(url: &str) -> &str {
    url.find("/api/v4").map(|i| &url[i..]).unwrap_or(url)
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The id of something just created.
#[derive(Deserialize)]
struct CreatedId {
    id: i64,
}

#[derive(Deserialize)]
struct WireUser {
    id: Option<u64>,
    username: Option<String>,
}

impl WireUser {
    fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

#[derive(Deserialize)]
struct WireChange {
    iid: u64,
    title: Option<String>,
    description: Option<String>,
    author: Option<WireUser>,
    #[serde(default)]
    labels: Vec<String>,
    state: Option<String>,
    sha: Option<String>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    draft: Option<bool>,
    work_in_progress: Option<bool>,
    web_url: Option<String>,
    updated_at: Option<String>,
    references: Option<WireReferences>,
}

#[derive(Deserialize)]
struct WireReferences {
    /// `group/project!7` or `group/project#7`.
    full: Option<String>,
}

impl WireChange {
    /// The project's path as GitLab names it (`references.full` without the `!iid`/`#iid`).
    fn project_path(&self) -> Option<String> {
        let full = self.references.as_ref()?.full.as_deref()?;
        let end = full.rfind(['!', '#'])?;
        let path = full[..end].trim();
        (!path.is_empty()).then(|| path.to_string())
    }

    fn into_change(self, repo: &crate::model::Repo, kind: ChangeKind) -> Change {
        Change {
            forge: ForgeKind::Gitlab,
            repo: repo.clone(),
            kind,
            number: self.iid,
            title: self.title.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            author: self.author.as_ref().map(WireUser::user).unwrap_or_default(),
            labels: self.labels.iter().map(|l| Label::new(l)).collect(),
            head_sha: self.sha,
            source_branch: self.source_branch,
            target_branch: self.target_branch,
            draft: self.draft.or(self.work_in_progress).unwrap_or(false),
            state: match self.state.as_deref() {
                Some("merged") => ChangeState::Merged,
                Some("closed") => ChangeState::Closed,
                _ => ChangeState::Open,
            },
            web_url: self.web_url,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct WireLabelRef {
    name: String,
}

#[derive(Deserialize)]
struct WireLabelEvent {
    action: String,
    label: Option<WireLabelRef>,
    user: Option<WireUser>,
    created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct WireApprovals {
    #[serde(default)]
    approved_by: Vec<WireApprover>,
}

#[derive(Deserialize)]
struct WireApprover {
    user: WireUser,
    /// GitLab 17.x and later say when.
    approved_at: Option<DateTime<Utc>>,
}

/// A direct member of a group.
#[derive(Deserialize)]
struct WireMember {
    /// The account's state (`active`, `blocked`…).
    state: Option<String>,
    /// `active`, or `awaiting` for an invitation not yet accepted.
    membership_state: Option<String>,
    access_level: Option<u32>,
    /// `YYYY-MM-DD`: access ends on that day.
    expires_at: Option<chrono::NaiveDate>,
}

impl WireMember {
    /// Whether this membership makes its user an approver today.
    fn counts(&self, min_access_level: u32, today: chrono::NaiveDate) -> bool {
        self.state.as_deref() == Some("active")
            && self
                .membership_state
                .as_deref()
                .is_none_or(|s| s == "active")
            && self.access_level.is_some_and(|l| l >= min_access_level)
            && self.expires_at.is_none_or(|d| d > today)
    }
}

/// One diff version of a merge request: a push, with GitLab's own time.
#[derive(Deserialize)]
struct WireVersion {
    head_commit_sha: Option<String>,
    created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct WireNote {
    id: u64,
    body: Option<String>,
    author: Option<WireUser>,
    #[serde(default)]
    system: bool,
}

impl Forge for GitlabClient {
    async fn change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        let reply = match self
            .call(
                true,
                reqwest::Method::GET,
                &self.change_url(r),
                None,
                "read the change",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let w: WireChange = reply.json()?;
        // The payload's path is not signed by anything the project owns: the API says
        // which project this id is, and approver groups follow from that.
        let path = match w.project_path() {
            Some(p) => p,
            None => self.project_path(r).await?,
        };
        let repo = crate::model::Repo {
            path: crate::model::RepoPath::new(&path),
            id: r.repo.id,
        };
        Ok(Some(w.into_change(&repo, r.kind)))
    }

    async fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(None);
        }
        // Newest first; the first page holds the current head.
        let url = format!("{}/versions?per_page=20", self.change_url(r));
        let reply = match self
            .call(true, reqwest::Method::GET, &url, None, "read diff versions")
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        Ok(reply
            .json::<Vec<WireVersion>>()?
            .into_iter()
            .find(|v| v.head_commit_sha.as_deref() == Some(sha))
            .and_then(|v| v.created_at))
    }

    async fn repo_file(
        &self,
        repo: &crate::model::Repo,
        path: &str,
    ) -> Result<Option<super::RepoFile>, ForgeError> {
        #[derive(Deserialize)]
        struct File {
            content: String,
            blob_id: String,
        }
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        // `HEAD` is the default branch.
        let url = format!(
            "{}/repository/files/{}?ref=HEAD",
            self.project(&r),
            enc(path)
        );
        let reply = match self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the repository rules",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let f: File = reply.json()?;
        super::decode_file(&f.content, f.blob_id).map(Some)
    }

    async fn open_changes(&self, repo: &crate::model::Repo) -> Result<Vec<Change>, ForgeError> {
        let r = ChangeRef {
            repo: repo.clone(),
            kind: ChangeKind::MergeRequest,
            number: 0,
        };
        let project = self.project(&r);
        let mrs: Vec<WireChange> = self
            .list(
                &format!("{project}/merge_requests?state=opened"),
                "list open merge requests",
            )
            .await?;
        let issues: Vec<WireChange> = self
            .list(
                &format!("{project}/issues?state=opened"),
                "list open issues",
            )
            .await?;
        let mut out: Vec<Change> = mrs
            .into_iter()
            .map(|w| w.into_change(repo, ChangeKind::MergeRequest))
            .collect();
        out.extend(
            issues
                .into_iter()
                .map(|w| w.into_change(repo, ChangeKind::Issue)),
        );
        Ok(out)
    }

    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        let url = format!("{}/resource_label_events", self.change_url(r));
        let read = super::read_history(
            "label history",
            |n| self.page::<WireLabelEvent>(&url, n, "read label history"),
            |events| {
                crate::model::holds_latest(
                    current,
                    events
                        .iter()
                        .filter_map(|e| Some((e.label.as_ref()?.name.as_str(), e.action == "add"))),
                )
            },
        )
        .await;
        let events = match read {
            Err(ForgeError::NotFound(_)) => vec![],
            other => other?,
        };
        let labels = events
            .into_iter()
            .filter_map(|e| {
                Some(LabelEvent {
                    // A deleted label's events have no label: nothing to attribute.
                    label: Label::new(&e.label?.name),
                    added: e.action == "add",
                    actor: e.user.as_ref().map(WireUser::user).unwrap_or_default(),
                    at: e.created_at,
                })
            })
            .collect();
        // GitLab keeps no event for a retarget; the webhook and the bot's memory tell it.
        Ok(History {
            labels,
            retargeted_at: None,
        })
    }

    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = format!("{}/approvals", self.change_url(r));
        let reply = match self
            .call(true, reqwest::Method::GET, &url, None, "read approvals")
            .await
        {
            // GitLab Free answers 404 where Premium has merge request approvals.
            Err(ForgeError::NotFound(_)) => return Ok(vec![]),
            other => other?,
        };
        // GitLab resets approvals on push when the project says so; the ones listed stand.
        Ok(reply
            .json::<WireApprovals>()?
            .approved_by
            .into_iter()
            .map(|a| Review {
                reviewer: a.user.user(),
                approved: true,
                commit_sha: None,
                submitted_at: a.approved_at,
            })
            .collect())
    }

    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        #[derive(Deserialize)]
        struct WireCommit {
            author_email: Option<String>,
            committer_email: Option<String>,
        }
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        let url = format!("{}/commits", self.change_url(r));
        let commits: Vec<WireCommit> =
            super::empty_if_missing(self.list(&url, "read commits").await)?;
        let mut emails: Vec<String> = commits
            .into_iter()
            .flat_map(|c| [c.author_email, c.committer_email])
            .flatten()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@') && !e.ends_with("@users.noreply.gitlab.com"))
            .collect();
        emails.sort();
        emails.dedup();
        // GitLab's commits name e-mails, not accounts: an account whose public e-mail (or,
        // for an administrator's token, any e-mail) is the commit's counts.
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

    async fn is_member(&self, team: &TeamRef, user: &User) -> Result<bool, ForgeError> {
        let TeamRef::GitlabGroup { path } = team else {
            return Ok(false);
        };
        let Some(id) = self.user_id(user).await? else {
            return Ok(false);
        };
        // Direct members only: `/members/all` would count everyone who inherits access from
        // a parent group (every member of `acme` in `acme/managers`).
        let url = format!("{}/groups/{}/members/{id}", self.api, enc(path));
        match self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read group membership",
            )
            .await
        {
            Ok(reply) => Ok(reply
                .json::<WireMember>()?
                .counts(self.min_access_level, Utc::now().date_naive())),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn current_user(&self) -> Result<User, ForgeError> {
        let reply = self
            .call(
                true,
                reqwest::Method::GET,
                &format!("{}/user", self.api),
                None,
                "read the bot's account",
            )
            .await?;
        Ok(reply.json::<WireUser>()?.user())
    }

    async fn comments(&self, r: &ChangeRef) -> Result<Vec<Comment>, ForgeError> {
        let url = format!("{}/notes?sort=asc&order_by=created_at", self.change_url(r));
        let notes: Vec<WireNote> = super::empty_if_missing(self.list(&url, "read notes").await)?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(|n| Comment {
                id: n.id,
                body: n.body.unwrap_or_default(),
                author: n.author.as_ref().map(WireUser::user).unwrap_or_default(),
            })
            .collect())
    }

    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        let url = format!("{}/notes", self.change_url(r));
        self.call(
            false,
            reqwest::Method::POST,
            &url,
            Some(json!({ "body": body })),
            "create the note",
        )
        .await?
        .json::<CreatedId>()
        .map(|c| u64::try_from(c.id).unwrap_or(0))
    }

    async fn update_comment(&self, r: &ChangeRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{id}", self.change_url(r));
        self.call(
            true,
            reqwest::Method::PUT,
            &url,
            Some(json!({ "body": body })),
            "update the note",
        )
        .await
        .map(drop)
    }

    async fn add_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        let list: Vec<&str> = labels.iter().map(Label::as_str).collect();
        let body = json!({ "add_labels": list.join(",") });
        self.call(
            true,
            reqwest::Method::PUT,
            &self.change_url(r),
            Some(body),
            "add labels",
        )
        .await
        .map(drop)
    }

    async fn remove_labels(&self, r: &ChangeRef, labels: &[Label]) -> Result<(), ForgeError> {
        let list: Vec<&str> = labels.iter().map(Label::as_str).collect();
        let body = json!({ "remove_labels": list.join(",") });
        self.call(
            true,
            reqwest::Method::PUT,
            &self.change_url(r),
            Some(body),
            "remove labels",
        )
        .await
        .map(drop)
    }

    async fn set_approval(
        &self,
        r: &ChangeRef,
        sha: &str,
        approve: bool,
    ) -> Result<(), ForgeError> {
        let (path, body, what) = if approve {
            (
                "approve",
                json!({ "sha": sha }),
                "approve the merge request",
            )
        } else {
            ("unapprove", json!({}), "withdraw the approval")
        };
        let url = format!("{}/{path}", self.change_url(r));
        self.call(true, reqwest::Method::POST, &url, Some(body), what)
            .await
            .map(drop)
    }

    async fn current_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        context: &str,
    ) -> Result<Option<(StatusState, String)>, ForgeError> {
        #[derive(Deserialize)]
        struct WireStatus {
            status: Option<String>,
            name: Option<String>,
            description: Option<String>,
        }
        let url = format!(
            "{}/repository/commits/{}/statuses?name={}",
            self.project(r),
            enc(sha),
            enc(context)
        );
        let reply = match self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the commit status",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        // Newest first; GitLab lists the latest status of each name unless `all` is asked.
        Ok(reply
            .json::<Vec<WireStatus>>()?
            .into_iter()
            .find(|s| s.name.as_deref() == Some(context))
            .and_then(|s| {
                let state = match s.status.as_deref() {
                    Some("success") => StatusState::Success,
                    Some("failed") => StatusState::Failure,
                    _ => return None,
                };
                Some((state, s.description.unwrap_or_default()))
            }))
    }

    async fn set_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        state: StatusState,
        context: &str,
        description: &str,
        _summary: &str,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/statuses/{}", self.project(r), enc(sha));
        let state = match state {
            StatusState::Success => "success",
            StatusState::Failure | StatusState::Error => "failed",
        };
        let body = json!({ "state": state, "name": context, "description": description });
        match self
            .call(
                true,
                reqwest::Method::POST,
                &url,
                Some(body),
                "set the commit status",
            )
            .await
        {
            // GitLab refuses to move a status to the state it already has: the goal is reached.
            Err(ForgeError::Refused {
                status: 400,
                message,
            }) if message.contains("Cannot transition status") => Ok(()),
            other => other.map(drop),
        }
    }
}
