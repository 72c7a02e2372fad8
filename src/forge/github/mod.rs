//! GitHub REST API through octocrab (token auth, or a GitHub App's installation tokens).
//! Requests are paths on `github.api_url`, so GitHub Enterprise (`https://HOST/api/v3`) and test
//! fakes work alike. `client.rs` holds the plumbing, `wire.rs` the answers' shapes.

mod client;
mod comments;
mod commits;
pub mod compare;
mod deployments;
pub mod graphql;
mod labels;
mod members;
mod repository;
mod snapshot;
mod wire;

pub use client::GithubClient;

use super::{ChangeRef, Comment, Forge, ForgeError};
use crate::model::{
    Change, ChangeKind, ChangedFiles, History, Label, LabelEvent, Review, StatusState, TeamRef,
    User,
};
use ::http::Method;
use client::enc;
use serde::Deserialize;
use serde_json::json;
use wire::*;

impl Forge for GithubClient {
    async fn change(&self, r: &ChangeRef) -> Result<Option<Change>, ForgeError> {
        // One query for the whole snapshot; REST when GraphQL cannot give it whole.
        if let Some(read) = self.change_by_graphql(r).await? {
            return Ok(read);
        }
        let path = match r.kind {
            ChangeKind::MergeRequest => format!("/pulls/{}", r.number),
            ChangeKind::Issue => format!("/issues/{}", r.number),
        };
        // Conditional: an unchanged change answers 304, which costs no rate limit.
        let reply = match self
            .get_conditional(&self.repo_url(r, &path), "read the change")
            .await
        {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let w: WireChange = reply.json()?;
        // `/issues/{n}` answers for pull requests too: such an answer is no issue.
        let kind = match &w.pull_request {
            Some(_) => ChangeKind::MergeRequest,
            None => r.kind,
        };
        Ok(Some(w.into_change(&r.repo, kind, r.number)))
    }

    async fn project_label_nodes(
        &self,
        r: &ChangeRef,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        if let Some(labels) = self.snapshot_part(r, |s| s.repo_labels.clone()) {
            return Ok(labels);
        }
        #[derive(Deserialize)]
        struct WireRepoLabel {
            name: String,
            node_id: Option<String>,
        }
        let url = format!("{}/repos/{}/labels", self.api, r.repo.path);
        let labels: Vec<WireRepoLabel> = self
            .list_conditional(&url, "list the repository's labels")
            .await?;
        Ok(labels
            .into_iter()
            .filter_map(|l| Some((l.name, l.node_id?)))
            .collect())
    }

    async fn issue_assignees(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        #[derive(Deserialize)]
        struct Assigned {
            #[serde(default)]
            assignees: Vec<WireUser>,
        }
        if let Some(a) = self.snapshot_part(r, |s| s.assignees.clone()) {
            return Ok(a);
        }
        let url = self.repo_url(r, &format!("/issues/{}", r.number));
        // The issue was just read: this answers 304 (free) unless it changed since.
        let a: Assigned = self
            .get_conditional(&url, "read the issue's assignees")
            .await?
            .json()?;
        Ok(a.assignees.iter().map(WireUser::user).collect())
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

    async fn open_changes_with_head(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Vec<(u64, Option<String>)>, ForgeError> {
        if let Some(pulls) = self.head_pulls_from_snapshot(repo, sha) {
            return Ok(pulls);
        }
        // The pull requests associated with a commit include those that merely contain it
        // and merged ones: only open ones whose head it is share its status.
        let url = format!(
            "{}/repos/{}/commits/{}/pulls",
            self.api,
            repo.path,
            enc(sha)
        );
        let pulls: Vec<WireChange> = self
            .list_conditional(&url, "list the pull requests of a commit")
            .await?;
        Ok(pulls
            .into_iter()
            .filter(|w| w.state.as_deref() == Some("open"))
            .filter(|w| w.head.as_ref().and_then(|h| h.sha.as_deref()) == Some(sha))
            .filter_map(|w| {
                let n = w.number.and_then(|n| u64::try_from(n).ok())?;
                Some((n, w.base.and_then(|b| b.name)))
            })
            .collect())
    }

    async fn label_events(&self, r: &ChangeRef, current: &[Label]) -> Result<History, ForgeError> {
        // GraphQL shows a label as it is named now: the worker counts its applications by
        // the label's node id (`label_node_ids`).
        if let Some(history) = self.snapshot_part(r, |s| s.history.clone()) {
            return Ok(history);
        }
        self.label_events_as_applied(r, current).await
    }

    async fn label_events_as_applied(
        &self,
        r: &ChangeRef,
        current: &[Label],
    ) -> Result<History, ForgeError> {
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
        let (events, cut) = match read {
            Err(ForgeError::NotFound(_)) => (vec![], false),
            other => other?,
        };
        let gaps = super::cut_gap(cut, events.first().and_then(|e| time(&e.created_at)));
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
            // GitHub's events keep the label's name as it was when applied.
            label_ids: vec![],
            label_node_ids: vec![],
            label_node_edited_at: vec![],
            labels,
            retargeted_at,
            gaps,
        })
    }

    async fn approvals(&self, r: &ChangeRef) -> Result<Vec<Review>, ForgeError> {
        if r.kind != ChangeKind::MergeRequest {
            return Ok(vec![]);
        }
        if let Some(reviews) = self.snapshot_part(r, |s| s.reviews.clone()) {
            return Ok(reviews);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/reviews", r.number));
        let reviews: Vec<WireReview> =
            super::empty_if_missing(self.list_conditional(&url, "read reviews").await)?;
        Ok(standing_approvals(reviews))
    }

    async fn head_pushed_at(
        &self,
        r: &ChangeRef,
        sha: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, ForgeError> {
        let read = self.snapshot_part(r, |s| s.head.clone().filter(|(head, _)| head == sha));
        if let Some((_, at)) = read.filter(|_| r.kind == ChangeKind::MergeRequest) {
            return Ok(at);
        }
        self.first_check_suite(r, sha).await
    }

    async fn commit_authors(&self, r: &ChangeRef) -> Result<Vec<User>, ForgeError> {
        if r.kind == ChangeKind::MergeRequest
            && let Some(authors) = self.snapshot_part(r, |s| s.commit_authors.clone())
        {
            return Ok(authors);
        }
        self.all_commit_authors(r).await
    }

    async fn changed_files(&self, r: &ChangeRef) -> Result<ChangedFiles, ForgeError> {
        #[derive(Deserialize)]
        struct WireFile {
            filename: String,
            previous_filename: Option<String>,
        }
        // GitHub lists at most 3,000 files of a pull request: a listing that long may be cut.
        const GITHUB_MAX_FILES: usize = 3000;
        if r.kind != ChangeKind::MergeRequest {
            return Ok(ChangedFiles::none());
        }
        if let Some(files) = self.snapshot_part(r, |s| s.files.clone()) {
            return Ok(files);
        }
        let url = self.repo_url(r, &format!("/pulls/{}/files", r.number));
        let files: Vec<WireFile> = match self.list_conditional(&url, "read changed files").await {
            Err(ForgeError::TooLong(_)) => return Ok(ChangedFiles::cut()),
            other => other?,
        };
        let complete = files.len() < GITHUB_MAX_FILES;
        let paths = files
            .into_iter()
            .flat_map(|f| std::iter::once(f.filename).chain(f.previous_filename))
            .collect();
        Ok(ChangedFiles { paths, complete })
    }

    async fn change_diff(
        &self,
        r: &ChangeRef,
        base: &str,
        head: &str,
    ) -> Result<crate::diff::ChangeDiff, ForgeError> {
        self.compare_diff(r, base, head).await
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

    async fn are_members(&self, questions: &[(TeamRef, User)]) -> Result<Vec<bool>, ForgeError> {
        self.members(questions).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<u64>, ForgeError> {
        let url = format!("{}/users/{}", self.api, enc(login));
        match self
            .call(true, Method::GET, &url, None, "find a user")
            .await
        {
            Ok(reply) => Ok(reply.json::<WireUser>()?.user().id),
            Err(ForgeError::NotFound(_)) => Ok(None),
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
            super::empty_if_missing(self.list_conditional(&url, "read comments").await)?;
        Ok(list.into_iter().filter_map(comments::comment).collect())
    }

    async fn comment(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        self.read_comment(r, source, id).await
    }

    async fn comment_origin(
        &self,
        node_id: Option<&str>,
    ) -> Result<Option<super::CommentOrigin>, ForgeError> {
        match node_id {
            Some(id) => self.origin(id).await.map(Some),
            None => Ok(None),
        }
    }

    async fn react(
        &self,
        r: &ChangeRef,
        source: crate::model::CommentSource,
        id: u64,
    ) -> Result<(), ForgeError> {
        self.react_to(r, source, id).await
    }

    async fn create_comment(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        self.snapshots.forget(r);
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
        self.snapshots.forget(r);
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
        self.snapshots.forget(r);
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
        self.snapshots.forget(r);
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
            Some("pending") => Some(StatusState::Pending),
            _ => None,
        };
        // The head's statuses as the snapshot read them (a token's verdict is a status).
        if self.app.is_none()
            && let Some(statuses) = self.snapshot_part(r, |s| {
                let (head, _) = s.head.as_ref()?;
                (head == sha).then(|| s.statuses.clone()).flatten()
            })
        {
            return Ok(statuses
                .into_iter()
                .find(|(c, _, _)| c == context)
                .and_then(|(_, st, description)| Some((state(Some(st.as_str()))?, description))));
        }
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
        more: &super::StatusLinks<'_>,
    ) -> Result<(), ForgeError> {
        self.snapshots.forget(r);
        let (state, conclusion) = match state {
            StatusState::Success => ("success", "success"),
            StatusState::Failure => ("failure", "failure"),
            StatusState::Error => ("error", "failure"),
            StatusState::Pending => ("pending", ""),
        };
        if self.app.is_some() {
            // Only this App can write its check runs: a status could be posted by anyone.
            let url = self.repo_url(r, "/check-runs");
            let mut body = json!({
                "name": context, "head_sha": sha, "status": "completed", "conclusion": conclusion,
                "output": { "title": description, "summary": more.summary },
            });
            if conclusion.is_empty() {
                // A pending check run is queued: it has no conclusion yet.
                body["status"] = json!("queued");
                if let Some(o) = body.as_object_mut() {
                    o.remove("conclusion");
                }
            }
            if let Some(url) = more.target_url {
                body["details_url"] = json!(url);
            }
            return self
                .call(true, Method::POST, &url, Some(body), "create a check run")
                .await
                .map(drop);
        }
        let url = self.repo_url(r, &format!("/statuses/{}", enc(sha)));
        let mut body = json!({ "state": state, "context": context, "description": description });
        if let Some(url) = more.target_url {
            body["target_url"] = json!(url);
        }
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
    async fn compare(
        &self,
        repo: &crate::model::Repo,
        base: &str,
        head: &str,
    ) -> Result<super::CommitRange, ForgeError> {
        self.compare_commits(repo, base, head).await
    }
    async fn changes_with_commit(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Vec<super::CommitChange>, ForgeError> {
        self.changes_containing(repo, sha).await
    }
    async fn on_branch(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
        branch: &str,
    ) -> Result<bool, ForgeError> {
        self.branch_has(repo, sha, branch).await
    }
    async fn commit_sha(
        &self,
        repo: &crate::model::Repo,
        sha: &str,
    ) -> Result<Option<String>, ForgeError> {
        self.full_sha(repo, sha).await
    }
    async fn default_branch(
        &self,
        repo: &crate::model::Repo,
    ) -> Result<Option<String>, ForgeError> {
        self.repository_default_branch(repo).await
    }
    async fn environment(
        &self,
        repo: &crate::model::Repo,
        name: &str,
    ) -> Result<Option<super::EnvironmentSettings>, ForgeError> {
        self.environment_settings(repo, name).await
    }
    async fn deployment(
        &self,
        repo: &crate::model::Repo,
        id: u64,
    ) -> Result<Option<super::ForgeDeployment>, ForgeError> {
        self.one_deployment(repo, id).await
    }
    async fn deployments(
        &self,
        repo: &crate::model::Repo,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<super::ForgeDeployment>, ForgeError> {
        self.list_deployments(repo, environment, sha).await
    }
    async fn blocked_deployments(
        &self,
        repo: &crate::model::Repo,
    ) -> Result<Vec<super::ForgeDeployment>, ForgeError> {
        self.list_blocked_deployments(repo).await
    }
    async fn answer_deployment(
        &self,
        repo: &crate::model::Repo,
        target: &super::DeploymentTarget,
        answer: super::DeploymentAnswer,
        comment: &str,
    ) -> Result<(), ForgeError> {
        self.answer(repo, target, answer, comment).await
    }
}
