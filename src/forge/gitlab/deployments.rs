//! Deployments, environments and commit ranges on GitLab: the compare and merge-base APIs,
//! a commit's merge requests, environments and protected environments, deployments, and the
//! approval of a blocked deployment.

use super::GitlabClient;
use super::client::enc;
use super::wire::{WireChange, WireUser};
use crate::forge::{
    CommitChange, CommitRange, DeploymentAnswer, DeploymentTarget, EnvironmentSettings,
    ForgeDeployment, ForgeError, MAX_PAGES, RangeCommit, RangeRelation, deployments::oldest_first,
};
use crate::model::{ChangeKind, ChangeState, DeploymentState, Repo, parse_time};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// Deployments read per listing without a SHA (newest first); see the GitHub client's.
pub const DEPLOYMENTS_LISTED: usize = 30;

#[derive(Deserialize)]
struct WireCommit {
    id: Option<String>,
    /// `None` when the answer leaves it out: the range cannot then be checked for gaps.
    parent_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct WireCompare {
    #[serde(default)]
    commits: Vec<WireCommit>,
    compare_timeout: Option<bool>,
}

#[derive(Deserialize)]
struct WireEnvironmentName {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WireApprovalRule {
    required_approvals: Option<u32>,
}

#[derive(Deserialize)]
struct WireProtectedEnvironment {
    required_approval_count: Option<u32>,
    #[serde(default)]
    approval_rules: Vec<WireApprovalRule>,
}

#[derive(Deserialize)]
struct WireDeployable {
    id: Option<u64>,
}

#[derive(Deserialize)]
struct WireDeployment {
    id: Option<u64>,
    sha: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    status: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    finished_at: Option<String>,
    user: Option<WireUser>,
    environment: Option<WireEnvironmentName>,
    deployable: Option<WireDeployable>,
}

impl WireDeployment {
    fn into_deployment(self) -> Result<ForgeDeployment, ForgeError> {
        let id = self
            .id
            .ok_or_else(|| ForgeError::Decode("a deployment without an id".into()))?;
        let sha = self
            .sha
            .ok_or_else(|| ForgeError::Decode(format!("deployment {id} without a sha")))?;
        let user = self.user.as_ref().map(WireUser::user);
        let time = |t: &Option<String>| t.as_deref().and_then(parse_time);
        Ok(ForgeDeployment {
            id,
            sha,
            git_ref: self.git_ref,
            environment: self.environment.and_then(|e| e.name).unwrap_or_default(),
            creator: user.clone(),
            created_at: time(&self.created_at),
            state: self.status.as_deref().map(DeploymentState::from_forge),
            state_at: time(&self.finished_at).or(time(&self.updated_at)),
            state_creator: user,
            // An API-created deployment has no job: nothing ran it through a pipeline.
            deployable: self.deployable.and_then(|d| d.id).is_some(),
        })
    }
}

/// A commit id or a prefix of one (at least 4 hex digits): the only thing put in these
/// paths and queries as a commit (a branch name would resolve to what it holds now).
fn is_commitish(s: &str) -> bool {
    (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn same_commit(full: &str, asked: &str) -> bool {
    full.to_ascii_lowercase()
        .starts_with(&asked.to_ascii_lowercase())
}

impl GitlabClient {
    /// `GET …/repository/compare?from=base&to=head&straight=false` (the commits of head since
    /// the merge base) and `GET …/repository/merge_base` (how head relates to base).
    pub(super) async fn compare_commits(
        &self,
        repo: &Repo,
        base: &str,
        head: &str,
    ) -> Result<CommitRange, ForgeError> {
        #[derive(Deserialize)]
        struct MergeBase {
            id: Option<String>,
        }
        if !is_commitish(base) || !is_commitish(head) {
            return Err(ForgeError::NotFound("compare: not commit ids".into()));
        }
        let project = self.project_of(repo);
        let url = format!(
            "{project}/repository/compare?from={}&to={}&straight=false",
            enc(base),
            enc(head)
        );
        let c: WireCompare = self
            .call(true, Method::GET, &url, None, "compare two commits")
            .await?
            .json()?;
        let url = format!(
            "{project}/repository/merge_base?refs[]={}&refs[]={}",
            enc(base),
            enc(head)
        );
        let mb: MergeBase = self
            .call(true, Method::GET, &url, None, "read a merge base")
            .await?
            .json()?;
        let mb = mb
            .id
            .ok_or_else(|| ForgeError::Decode("a merge base without an id".into()))?;
        let mut commits = Vec::with_capacity(c.commits.len());
        let mut parents_known = true;
        for w in c.commits {
            let sha =
                w.id.ok_or_else(|| ForgeError::Decode("compare: a commit without an id".into()))?;
            // GitLab links no account to a commit here (names and e-mails only).
            parents_known &= w.parent_ids.is_some();
            commits.push(RangeCommit {
                sha,
                parents: w.parent_ids.unwrap_or_default(),
                author: None,
                committer: None,
            });
        }
        let relation = match (same_commit(&mb, base), same_commit(&mb, head)) {
            (true, true) => RangeRelation::Identical,
            (true, false) => RangeRelation::Ahead,
            (false, true) => RangeRelation::Behind,
            (false, false) => RangeRelation::Diverged,
        };
        // A timed-out or cut list (GitLab gives no count) leaves the range incomplete.
        let complete = c.compare_timeout != Some(true)
            && parents_known
            && self.range_is_whole(repo, &commits, base, head, &mb).await?;
        Ok(CommitRange {
            relation,
            commits: oldest_first(commits),
            complete,
        })
    }

    /// `GET …/repository/commits/:sha/merge_requests`: every merge request with the commit.
    pub(super) async fn changes_containing(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<CommitChange>, ForgeError> {
        #[derive(Deserialize)]
        struct Mr {
            #[serde(flatten)]
            change: WireChange,
            merge_commit_sha: Option<String>,
            squash_commit_sha: Option<String>,
        }
        if !is_commitish(sha) {
            return Ok(vec![]);
        }
        let url = format!(
            "{}/repository/commits/{}/merge_requests",
            self.project_of(repo),
            enc(sha)
        );
        let mrs: Vec<Mr> = self
            .list(&url, "list the merge requests of a commit")
            .await?;
        Ok(mrs
            .into_iter()
            .map(|m| {
                let change = m.change.into_change(repo, ChangeKind::MergeRequest);
                let landed_as = match change.state {
                    ChangeState::Merged => [m.merge_commit_sha, m.squash_commit_sha]
                        .into_iter()
                        .flatten()
                        .filter(|c| is_commitish(c))
                        .collect(),
                    _ => vec![],
                };
                CommitChange { change, landed_as }
            })
            .collect())
    }

    /// `GET …/repository/merge_base?refs[]=branch&refs[]=sha`: `sha` is on the branch when
    /// it is their merge base (an ancestor of the branch's head, or its head).
    pub(super) async fn branch_has(
        &self,
        repo: &Repo,
        sha: &str,
        branch: &str,
    ) -> Result<bool, ForgeError> {
        #[derive(Deserialize)]
        struct MergeBase {
            id: Option<String>,
        }
        if !is_commitish(sha) || !crate::forge::deployments::is_branch_name(branch) {
            return Err(ForgeError::NotFound(
                "merge base: not a commit id and a branch name".into(),
            ));
        }
        // `refs/heads/…`: a bare name would resolve to a tag of the same name first.
        let url = format!(
            "{}/repository/merge_base?refs[]={}&refs[]={}",
            self.project_of(repo),
            enc(&format!("refs/heads/{branch}")),
            enc(sha)
        );
        let mb: MergeBase = self
            .call(true, Method::GET, &url, None, "read a merge base")
            .await?
            .json()?;
        let mb = mb
            .id
            .ok_or_else(|| ForgeError::Decode("a merge base without an id".into()))?;
        Ok(mb.len() >= sha.len() && same_commit(&mb, sha))
    }

    /// `GET …/repository/commits/:sha`: the full SHA, `None` when GitLab knows no such commit.
    pub(super) async fn full_sha(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Commit {
            id: Option<String>,
        }
        if !is_commitish(sha) {
            return Ok(None);
        }
        let url = format!("{}/repository/commits/{}", self.project_of(repo), enc(sha));
        let Some(reply) = self.get_found(&url, "read a commit").await? else {
            return Ok(None);
        };
        let full = reply.json::<Commit>()?.id.unwrap_or_default();
        if !same_commit(&full, sha) || !is_commitish(&full) {
            return Err(ForgeError::Decode(format!(
                "asked for commit {sha}, GitLab answered `{full}`"
            )));
        }
        Ok(Some(full))
    }

    /// `GET …/environments?name=` (exact name), then the protected environment's approval
    /// settings (`GET …/protected_environments/:name`, Maintainer): unprotected (404) is zero
    /// approvals; not readable (403) is unknown.
    pub(super) async fn environment_settings(
        &self,
        repo: &Repo,
        name: &str,
    ) -> Result<Option<EnvironmentSettings>, ForgeError> {
        let project = self.project_of(repo);
        let url = format!("{project}/environments?name={}", enc(name));
        let listed: Vec<WireEnvironmentName> = self.list(&url, "find an environment").await?;
        let Some(found) = listed
            .into_iter()
            .filter_map(|e| e.name)
            .find(|n| n == name)
        else {
            return Ok(None);
        };
        let url = format!("{project}/protected_environments/{}", enc(name));
        let required = match self
            .call(
                true,
                Method::GET,
                &url,
                None,
                "read a protected environment",
            )
            .await
        {
            Err(ForgeError::NotFound(_)) => Some(0),
            Err(ForgeError::Refused { status: 403, .. }) => None,
            Err(e) => return Err(e),
            Ok(reply) => {
                let p: WireProtectedEnvironment = reply.json()?;
                // Approval rules replaced the single count; either may be what is set.
                let by_rules = p
                    .approval_rules
                    .iter()
                    .filter_map(|r| r.required_approvals)
                    .fold(0u32, u32::saturating_add);
                Some(by_rules.max(p.required_approval_count.unwrap_or(0)))
            }
        };
        Ok(Some(EnvironmentSettings {
            name: found,
            custom_rule_apps: vec![],
            admins_can_bypass: None,
            required_approvals: required,
        }))
    }

    /// `GET …/deployments/:id`.
    pub(super) async fn one_deployment(
        &self,
        repo: &Repo,
        id: u64,
    ) -> Result<Option<ForgeDeployment>, ForgeError> {
        let url = format!("{}/deployments/{id}", self.project_of(repo));
        match self
            .call(true, Method::GET, &url, None, "read a deployment")
            .await
        {
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
            Ok(reply) => reply.json::<WireDeployment>()?.into_deployment().map(Some),
        }
    }

    /// `GET …/deployments?environment=E&order_by=id&sort=desc`, newest first: of one SHA,
    /// every one in the newest [`MAX_PAGES`] pages (GitLab does not filter by SHA); else the
    /// newest [`DEPLOYMENTS_LISTED`].
    pub(super) async fn list_deployments(
        &self,
        repo: &Repo,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<ForgeDeployment>, ForgeError> {
        let url = format!(
            "{}/deployments?environment={}&order_by=id&sort=desc",
            self.project_of(repo),
            enc(environment)
        );
        let Some(sha) = sha else {
            let page = self
                .page::<WireDeployment>(&url, 1, "list deployments")
                .await?;
            return page
                .items
                .into_iter()
                .take(DEPLOYMENTS_LISTED)
                .map(WireDeployment::into_deployment)
                .collect();
        };
        if !is_commitish(sha) {
            return Ok(vec![]);
        }
        let mut out = vec![];
        for n in 1..=MAX_PAGES {
            let page = self
                .page::<WireDeployment>(&url, n, "list deployments")
                .await?;
            for w in page.items {
                if w.sha.as_deref().is_some_and(|s| same_commit(s, sha)) {
                    out.push(w.into_deployment()?);
                }
            }
            if !page.has_next {
                break;
            }
        }
        Ok(out)
    }

    /// `GET …/deployments?status=blocked`: deployments waiting for approval.
    pub(super) async fn list_blocked_deployments(
        &self,
        repo: &Repo,
    ) -> Result<Vec<ForgeDeployment>, ForgeError> {
        let url = format!("{}/deployments?status=blocked", self.project_of(repo));
        let listed: Vec<WireDeployment> = self.list(&url, "list blocked deployments").await?;
        listed
            .into_iter()
            .map(WireDeployment::into_deployment)
            .collect()
    }

    /// `POST …/deployments/:deployment_id/approval` `{status, comment}`; a report is no call
    /// (GitLab has no comment without a decision on a deployment).
    pub(super) async fn answer(
        &self,
        repo: &Repo,
        target: &DeploymentTarget,
        answer: DeploymentAnswer,
        comment: &str,
    ) -> Result<(), ForgeError> {
        let DeploymentTarget::GitlabDeployment { deployment_id } = target else {
            return Err(ForgeError::Refused {
                status: 0,
                message: "a GitHub workflow run cannot be answered on GitLab".into(),
            });
        };
        let status = match answer {
            DeploymentAnswer::Approve => "approved",
            DeploymentAnswer::Reject => "rejected",
            DeploymentAnswer::Report => return Ok(()),
        };
        let url = format!(
            "{}/deployments/{deployment_id}/approval",
            self.project_of(repo)
        );
        // The same answer given again changes nothing: retried on 5xx like a read.
        self.call(
            true,
            Method::POST,
            &url,
            Some(json!({ "status": status, "comment": comment })),
            "answer a blocked deployment",
        )
        .await
        .map(drop)
    }
}
