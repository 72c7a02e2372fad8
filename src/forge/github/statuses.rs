//! The verdict on a head: a commit status under a token, a check run under a GitHub App (which
//! only that App can write); read back, and written.

use super::GithubClient;
use super::client::enc;
use crate::forge::{ChangeRef, ForgeError, StatusLinks};
use crate::model::StatusState;
use ::http::Method;
use serde::Deserialize;
use serde_json::json;

impl GithubClient {
    /// [`crate::forge::Forge::current_status`]: the state and description under `context`.
    pub(super) async fn read_status(
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

    /// [`crate::forge::Forge::set_status`].
    pub(super) async fn write_status(
        &self,
        r: &ChangeRef,
        sha: &str,
        state: StatusState,
        context: &str,
        description: &str,
        more: &StatusLinks<'_>,
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
}
