//! The GitLab calls behind its blocks: the project's merge settings, the merge request's
//! pipelines, and the external status checks (Ultimate) with their answers (the statuses under
//! the bot's name: `statuses.rs`). GitLab-only nouns, read by `worker::gitlab_blocks`.

use super::{ChangeRef, ForgeError, GitlabClient};
use crate::model::Repo;
use serde::Deserialize;
use serde_json::json;

/// The route GitLab's external status check calls on changegate; the check's `external_url`
/// is `server.public_url` followed by it.
pub const STATUS_CHECK_ROUTE: &str = "/webhooks/gitlab/status-check";

/// A project's merge settings that decide whether a block holds; `None` where GitLab did not
/// say (a token that may not read them, an instance without the feature).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeSettings {
    /// "Pipelines must succeed".
    pub only_allow_merge_if_pipeline_succeeds: Option<bool>,
    /// "Skipped pipelines are considered successful".
    pub allow_merge_on_skipped_pipeline: Option<bool>,
    /// "Status checks must succeed" (Ultimate).
    pub only_allow_merge_if_all_status_checks_passed: Option<bool>,
}

/// A pipeline of a merge request, newest first as GitLab lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct MrPipeline {
    pub id: u64,
    pub sha: String,
    pub git_ref: Option<String>,
    /// The project it runs in (a fork's merge request may run its pipelines in the fork).
    pub project_id: Option<u64>,
}

/// An external status check of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalCheck {
    pub id: u64,
    pub name: String,
    pub external_url: String,
    /// The protected branches it is scoped to; empty: every branch.
    pub branches: Vec<String>,
}

/// A status check's state on a merge request (`passed`, `failed`, `pending`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub id: u64,
    pub status: String,
}

impl GitlabClient {
    pub(super) fn project_of(&self, repo: &Repo) -> String {
        self.project(&ChangeRef {
            repo: repo.clone(),
            kind: crate::model::ChangeKind::MergeRequest,
            number: 0,
        })
    }

    /// `GET /projects/:id`: the merge settings.
    pub async fn merge_settings(&self, repo: &Repo) -> Result<MergeSettings, ForgeError> {
        #[derive(Deserialize)]
        struct Project {
            only_allow_merge_if_pipeline_succeeds: Option<bool>,
            allow_merge_on_skipped_pipeline: Option<bool>,
            only_allow_merge_if_all_status_checks_passed: Option<bool>,
        }
        let url = self.project_of(repo);
        let p: Project = self
            .call(
                true,
                reqwest::Method::GET,
                &url,
                None,
                "read the merge settings",
            )
            .await?
            .json()?;
        Ok(MergeSettings {
            only_allow_merge_if_pipeline_succeeds: p.only_allow_merge_if_pipeline_succeeds,
            allow_merge_on_skipped_pipeline: p.allow_merge_on_skipped_pipeline,
            only_allow_merge_if_all_status_checks_passed: p
                .only_allow_merge_if_all_status_checks_passed,
        })
    }

    /// `GET /projects/:id/merge_requests/:iid/pipelines`, first page (newest first): the
    /// newest is the one "Pipelines must succeed" reads.
    pub async fn mr_pipelines(&self, r: &ChangeRef) -> Result<Vec<MrPipeline>, ForgeError> {
        #[derive(Deserialize)]
        struct Wire {
            id: u64,
            sha: Option<String>,
            #[serde(rename = "ref")]
            git_ref: Option<String>,
            project_id: Option<u64>,
        }
        let url = format!("{}/pipelines", self.change_url(r));
        let page = match self.page::<Wire>(&url, 1, "list the pipelines").await {
            Err(ForgeError::NotFound(_)) => return Ok(vec![]),
            other => other?,
        };
        Ok(page
            .items
            .into_iter()
            .map(|p| MrPipeline {
                id: p.id,
                sha: p.sha.unwrap_or_default(),
                git_ref: p.git_ref,
                project_id: p.project_id,
            })
            .collect())
    }

    /// `GET /projects/:id/external_status_checks`.
    pub async fn external_checks(&self, repo: &Repo) -> Result<Vec<ExternalCheck>, ForgeError> {
        #[derive(Deserialize)]
        struct Branch {
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Wire {
            id: u64,
            name: Option<String>,
            external_url: Option<String>,
            #[serde(default)]
            protected_branches: Vec<Branch>,
        }
        let url = format!("{}/external_status_checks", self.project_of(repo));
        let list: Vec<Wire> = super::super::empty_if_missing(
            self.list(&url, "list the external status checks").await,
        )?;
        Ok(list
            .into_iter()
            .map(|c| ExternalCheck {
                id: c.id,
                name: c.name.unwrap_or_default(),
                external_url: c.external_url.unwrap_or_default(),
                branches: c
                    .protected_branches
                    .into_iter()
                    .filter_map(|b| b.name)
                    .collect(),
            })
            .collect())
    }

    /// `GET /projects/:id/merge_requests/:iid/status_checks`: each check's state for the head.
    pub async fn mr_status_checks(&self, r: &ChangeRef) -> Result<Vec<CheckResult>, ForgeError> {
        #[derive(Deserialize)]
        struct Wire {
            id: u64,
            status: Option<String>,
        }
        let url = format!("{}/status_checks", self.change_url(r));
        let list: Vec<Wire> =
            super::super::empty_if_missing(self.list(&url, "read the status checks").await)?;
        Ok(list
            .into_iter()
            .map(|c| CheckResult {
                id: c.id,
                status: c.status.unwrap_or_default(),
            })
            .collect())
    }

    /// `POST /projects/:id/merge_requests/:iid/status_check_responses`. GitLab answers 409
    /// when `sha` is no longer the head (`ForgeError::Refused { status: 409 }`).
    pub async fn answer_status_check(
        &self,
        r: &ChangeRef,
        sha: &str,
        check: u64,
        passed: bool,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/status_check_responses", self.change_url(r));
        let body = json!({
            "sha": sha,
            "external_status_check_id": check,
            "status": if passed { "passed" } else { "failed" },
        });
        self.call(
            true,
            reqwest::Method::POST,
            &url,
            Some(body),
            "answer the status check",
        )
        .await
        .map(drop)
    }
}
