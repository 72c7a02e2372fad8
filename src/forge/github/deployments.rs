//! Deployments, environments and commit ranges on GitHub: the compare API, a commit's pull
//! requests, environments and their custom protection rules, deployments with their
//! statuses, and the answer to a custom deployment protection rule.

use super::GithubClient;
use super::client::enc;
use super::wire::{WireChange, WireUser, time};
use crate::forge::{
    CommitChange, CommitRange, DeploymentAnswer, DeploymentTarget, EnvironmentSettings,
    ForgeDeployment, ForgeError, MAX_PAGES, PER_PAGE, RangeCommit, RangeRelation,
};
use crate::model::{ChangeKind, DeploymentState, Repo};
use ::http::Method;
use serde::Deserialize;
use serde_json::json;

/// Deployments read per listing without a SHA (newest first): enough to find the recent
/// ones, each needing a call for its statuses. Older ones are not seen (the gate then lacks
/// evidence, which denies; it never allows on what it did not read).
pub const DEPLOYMENTS_LISTED: usize = 30;

#[derive(Deserialize)]
struct WireParent {
    sha: Option<String>,
}

#[derive(Deserialize)]
struct WireRangeCommit {
    sha: Option<String>,
    #[serde(default)]
    parents: Vec<WireParent>,
    author: Option<WireUser>,
    committer: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireCompare {
    status: Option<String>,
    total_commits: Option<i64>,
    #[serde(default)]
    commits: Vec<WireRangeCommit>,
}

#[derive(Deserialize)]
struct WireDeployment {
    id: Option<i64>,
    sha: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    environment: Option<String>,
    creator: Option<WireUser>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct WireDeploymentStatus {
    id: Option<i64>,
    state: Option<String>,
    creator: Option<WireUser>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct WireEnvironment {
    name: Option<String>,
    can_admins_bypass: Option<bool>,
}

#[derive(Deserialize)]
struct WireApp {
    slug: Option<String>,
}

#[derive(Deserialize)]
struct WireCustomRule {
    enabled: Option<bool>,
    app: Option<WireApp>,
}

#[derive(Deserialize)]
struct WireCustomRules {
    #[serde(default)]
    custom_deployment_protection_rules: Vec<WireCustomRule>,
}

/// A commit id or a prefix of one (at least 4 hex digits): the only thing put in these paths
/// as a commit (a branch name would resolve to whatever the branch holds now).
fn is_commitish(s: &str) -> bool {
    (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn repo_base(api: &str, repo: &Repo) -> String {
    format!("{api}/repos/{}", repo.path)
}

impl GithubClient {
    /// `GET /repos/{o}/{r}/compare/{base}...{head}`, paged until `total_commits` are read.
    pub(super) async fn compare_commits(
        &self,
        repo: &Repo,
        base: &str,
        head: &str,
    ) -> Result<CommitRange, ForgeError> {
        const WHAT: &str = "compare two commits";
        if !is_commitish(base) || !is_commitish(head) {
            return Err(ForgeError::NotFound(format!("{WHAT}: not commit ids")));
        }
        let url = format!("{}/compare/{base}...{head}", repo_base(&self.api, repo));
        let mut relation = None;
        let mut commits: Vec<RangeCommit> = vec![];
        let mut total = 0;
        for page in 1..=MAX_PAGES {
            let reply = self
                .get_conditional(&format!("{url}?per_page={PER_PAGE}&page={page}"), WHAT)
                .await?;
            let c: WireCompare = reply.json()?;
            let status = c.status.as_deref().unwrap_or("");
            let Some(rel) = RangeRelation::from_github(status) else {
                return Err(ForgeError::Decode(format!("{WHAT}: status `{status}`")));
            };
            relation.get_or_insert(rel);
            // Without a count the range cannot be known whole: what was read is all there is.
            let Some(count) = c.total_commits.and_then(|n| usize::try_from(n).ok()) else {
                total = usize::MAX;
                break;
            };
            total = count;
            let empty = c.commits.is_empty();
            for w in c.commits {
                let sha = w
                    .sha
                    .ok_or_else(|| ForgeError::Decode(format!("{WHAT}: a commit without sha")))?;
                commits.push(RangeCommit {
                    sha,
                    parents: w.parents.into_iter().filter_map(|p| p.sha).collect(),
                    author: w.author.as_ref().map(WireUser::user),
                    committer: w.committer.as_ref().map(WireUser::user),
                });
            }
            if commits.len() >= total || empty {
                break;
            }
        }
        Ok(CommitRange {
            relation: relation.unwrap_or(RangeRelation::Diverged),
            complete: commits.len() >= total,
            commits: crate::forge::deployments::oldest_first(commits),
        })
    }

    /// `GET /repos/{o}/{r}/commits/{sha}/pulls`: every pull request containing the commit,
    /// open, closed or merged.
    pub(super) async fn changes_containing(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<CommitChange>, ForgeError> {
        #[derive(Deserialize)]
        struct Pull {
            #[serde(flatten)]
            change: WireChange,
            merge_commit_sha: Option<String>,
        }
        if !is_commitish(sha) {
            return Ok(vec![]);
        }
        let url = format!("{}/commits/{}/pulls", repo_base(&self.api, repo), enc(sha));
        let pulls: Vec<Pull> = self
            .list_conditional(&url, "list the pull requests of a commit")
            .await?;
        Ok(pulls
            .into_iter()
            .filter_map(|p| {
                let n = p.change.number.and_then(|n| u64::try_from(n).ok())?;
                let change = p.change.into_change(repo, ChangeKind::MergeRequest, n);
                // GitHub names what a merged pull request landed as only once it merged.
                let landed_as = match change.state {
                    crate::model::ChangeState::Merged => p
                        .merge_commit_sha
                        .filter(|m| is_commitish(m))
                        .into_iter()
                        .collect(),
                    _ => vec![],
                };
                Some(CommitChange { change, landed_as })
            })
            .collect())
    }

    /// `GET /repos/{o}/{r}/compare/{branch}...{sha}`: `sha` is on the branch when the branch's
    /// head is it or descends from it (`behind` or `identical`: head `sha` has nothing the
    /// branch has not).
    pub(super) async fn branch_has(
        &self,
        repo: &Repo,
        sha: &str,
        branch: &str,
    ) -> Result<bool, ForgeError> {
        const WHAT: &str = "compare a commit with a branch";
        if !is_commitish(sha) || !crate::forge::deployments::is_branch_name(branch) {
            return Err(ForgeError::NotFound(format!(
                "{WHAT}: not a commit id and a branch name"
            )));
        }
        let url = format!(
            "{}/compare/{branch}...{sha}?per_page=1",
            repo_base(&self.api, repo)
        );
        let c: WireCompare = self.get_conditional(&url, WHAT).await?.json()?;
        let status = c.status.as_deref().unwrap_or("");
        match RangeRelation::from_github(status) {
            Some(RangeRelation::Behind | RangeRelation::Identical) => Ok(true),
            Some(RangeRelation::Ahead | RangeRelation::Diverged) => Ok(false),
            None => Err(ForgeError::Decode(format!("{WHAT}: status `{status}`"))),
        }
    }

    /// `GET /repos/{o}/{r}/commits/{ref}`: the full SHA, `None` when GitHub knows no such
    /// commit (404, or 422 "No commit found").
    pub(super) async fn full_sha(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Commit {
            sha: Option<String>,
        }
        if !is_commitish(sha) {
            return Ok(None);
        }
        let url = format!("{}/commits/{}", repo_base(&self.api, repo), enc(sha));
        let reply = match self.get_conditional(&url, "read a commit").await {
            Err(ForgeError::NotFound(_)) | Err(ForgeError::Refused { status: 422, .. }) => {
                return Ok(None);
            }
            other => other?,
        };
        let full = reply.json::<Commit>()?.sha.unwrap_or_default();
        // The answer must be the commit asked for.
        if !full
            .to_ascii_lowercase()
            .starts_with(&sha.to_ascii_lowercase())
            || !is_commitish(&full)
        {
            return Err(ForgeError::Decode(format!(
                "asked for commit {sha}, GitHub answered `{full}`"
            )));
        }
        Ok(Some(full))
    }

    /// `GET /repos/{o}/{r}/environments/{name}` and its custom deployment protection rules
    /// (`…/deployment_protection_rules`, Actions: read).
    pub(super) async fn environment_settings(
        &self,
        repo: &Repo,
        name: &str,
    ) -> Result<Option<EnvironmentSettings>, ForgeError> {
        let url = format!("{}/environments/{}", repo_base(&self.api, repo), enc(name));
        let env: WireEnvironment = match self.get_conditional(&url, "read an environment").await {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?.json()?,
        };
        let rules: WireCustomRules = self
            .get_conditional(
                &format!("{url}/deployment_protection_rules"),
                "read an environment's protection rules",
            )
            .await?
            .json()?;
        Ok(Some(EnvironmentSettings {
            name: env.name.unwrap_or_else(|| name.to_string()),
            custom_rule_apps: rules
                .custom_deployment_protection_rules
                .into_iter()
                .filter(|r| r.enabled != Some(false))
                .filter_map(|r| r.app.and_then(|a| a.slug))
                .collect(),
            admins_can_bypass: env.can_admins_bypass,
            required_approvals: None,
        }))
    }

    /// `GET /repos/{o}/{r}/deployments/{id}` and its statuses.
    pub(super) async fn one_deployment(
        &self,
        repo: &Repo,
        id: u64,
    ) -> Result<Option<ForgeDeployment>, ForgeError> {
        let url = format!("{}/deployments/{id}", repo_base(&self.api, repo));
        let w: WireDeployment = match self.get_conditional(&url, "read a deployment").await {
            Err(ForgeError::NotFound(_)) => return Ok(None),
            other => other?.json()?,
        };
        self.with_latest_status(repo, w).await.map(Some)
    }

    /// `GET /repos/{o}/{r}/deployments?environment=E[&sha=S]`, newest first: with a SHA all
    /// of them, else the newest [`DEPLOYMENTS_LISTED`]; each with its latest status.
    pub(super) async fn list_deployments(
        &self,
        repo: &Repo,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<ForgeDeployment>, ForgeError> {
        let mut url = format!(
            "{}/deployments?environment={}",
            repo_base(&self.api, repo),
            enc(environment)
        );
        let listed: Vec<WireDeployment> = match sha {
            Some(sha) if !is_commitish(sha) => return Ok(vec![]),
            Some(sha) => {
                url.push_str(&format!("&sha={}", enc(sha)));
                self.list_conditional(&url, "list deployments").await?
            }
            None => {
                let page = self.page(&url, 1, "list deployments").await?;
                page.items.into_iter().take(DEPLOYMENTS_LISTED).collect()
            }
        };
        let mut out = Vec::with_capacity(listed.len());
        for w in listed {
            out.push(self.with_latest_status(repo, w).await?);
        }
        Ok(out)
    }

    /// A deployment with its newest status (`GET …/deployments/{id}/statuses`).
    async fn with_latest_status(
        &self,
        repo: &Repo,
        w: WireDeployment,
    ) -> Result<ForgeDeployment, ForgeError> {
        let id =
            w.id.and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| ForgeError::Decode("a deployment without an id".into()))?;
        let sha = w
            .sha
            .ok_or_else(|| ForgeError::Decode(format!("deployment {id} without a sha")))?;
        let url = format!("{}/deployments/{id}/statuses", repo_base(&self.api, repo));
        let statuses: Vec<WireDeploymentStatus> = self
            .list_conditional(&url, "list deployment statuses")
            .await?;
        // Newest by time, then by id (statuses made in the same second).
        let latest = statuses
            .into_iter()
            .max_by_key(|s| (time(&s.updated_at).or(time(&s.created_at)), s.id));
        Ok(ForgeDeployment {
            id,
            sha,
            git_ref: w.git_ref,
            environment: w.environment.unwrap_or_default(),
            creator: w.creator.as_ref().map(WireUser::user),
            created_at: time(&w.created_at),
            state: latest
                .as_ref()
                .and_then(|s| s.state.as_deref())
                .map(DeploymentState::from_forge),
            state_at: latest
                .as_ref()
                .and_then(|s| time(&s.updated_at).or(time(&s.created_at))),
            state_creator: latest
                .as_ref()
                .and_then(|s| s.creator.as_ref())
                .map(WireUser::user),
            deployable: true,
        })
    }

    /// GitHub asks by webhook (`deployment_protection_rule`); nothing is listed blocked.
    pub(super) async fn list_blocked_deployments(
        &self,
        _repo: &Repo,
    ) -> Result<Vec<ForgeDeployment>, ForgeError> {
        Ok(vec![])
    }

    /// `POST /repos/{o}/{r}/actions/runs/{run_id}/deployment_protection_rule`: approved or
    /// rejected with a comment, or (a report) a comment alone while the run keeps waiting.
    /// The URL is built here from the repository and run id, never taken from a payload.
    pub(super) async fn answer(
        &self,
        repo: &Repo,
        target: &DeploymentTarget,
        answer: DeploymentAnswer,
        comment: &str,
    ) -> Result<(), ForgeError> {
        let DeploymentTarget::GithubRun {
            run_id,
            environment,
        } = target
        else {
            return Err(ForgeError::Refused {
                status: 0,
                message: "a GitLab deployment cannot be answered on GitHub".into(),
            });
        };
        let url = format!(
            "{}/actions/runs/{run_id}/deployment_protection_rule",
            repo_base(&self.api, repo)
        );
        let mut body = json!({ "environment_name": environment, "comment": comment });
        match answer {
            DeploymentAnswer::Approve => body["state"] = json!("approved"),
            DeploymentAnswer::Reject => body["state"] = json!("rejected"),
            DeploymentAnswer::Report => {}
        }
        // The same answer given again changes nothing: retried on 5xx like a read.
        self.call(
            true,
            Method::POST,
            &url,
            Some(body),
            "answer a deployment protection rule",
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commit_ids_go_into_commit_paths() {
        assert!(is_commitish("f95f852"));
        assert!(is_commitish("f95f852bd8fca8fcc58a9a2d6c842781e32a215e"));
        for bad in ["main", "abc", "../x", "f95f852 ", ""] {
            assert!(!is_commitish(bad), "{bad}");
        }
    }
}
