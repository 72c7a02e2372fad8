//! Commit statuses under the bot's name: a head's, as GitLab lists them in every pipeline and
//! ref, and the one write every status changegate puts on GitLab goes through
//! ([`GitlabClient::set_status_in`]), which takes a status GitLab will not move for the bot's
//! own only when GitLab shows it so.

use super::client::enc;
use super::wire::WireUser;
use super::{ForgeError, GitlabClient};
use crate::model::{Repo, StatusState, User};
use serde::Deserialize;
use serde_json::json;

/// GitLab's answer (400) to a status write its state machine refuses: the status it found
/// there (same pipeline, name and ref) cannot take that state from the one it has.
const UNMOVED: &str = "Cannot transition status";

/// One commit status of a head under a name, as GitLab lists it (the latest of each pipeline).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedStatus {
    pub id: Option<u64>,
    /// `pending`, `running`, `success`, `failed`, `canceled`…
    pub status: String,
    pub description: String,
    /// Who wrote it; GitLab names the account.
    pub author: User,
    /// GitLab 17 and later say which pipeline holds it.
    pub pipeline_id: Option<u64>,
    pub git_ref: Option<String>,
}

/// A status to write: `(sha, state, name, description)`.
pub type StatusText<'a> = (&'a str, StatusState, &'a str, &'a str);

impl GitlabClient {
    /// `GET /projects/:id/repository/commits/:sha/statuses?name=`: every pipeline's and
    /// ref's latest status named `name` (no `ref`: all refs).
    pub async fn statuses_named(
        &self,
        repo: &Repo,
        sha: &str,
        name: &str,
    ) -> Result<Vec<NamedStatus>, ForgeError> {
        #[derive(Deserialize)]
        struct Wire {
            id: Option<u64>,
            status: Option<String>,
            name: Option<String>,
            description: Option<String>,
            author: Option<WireUser>,
            pipeline_id: Option<u64>,
            #[serde(rename = "ref")]
            git_ref: Option<String>,
        }
        let url = format!(
            "{}/repository/commits/{}/statuses?name={}",
            self.project_of(repo),
            enc(sha),
            enc(name)
        );
        let list: Vec<Wire> =
            super::super::empty_if_missing(self.list(&url, "read the head's statuses").await)?;
        Ok(list
            .into_iter()
            .filter(|s| s.name.as_deref() == Some(name))
            .map(|s| NamedStatus {
                id: s.id,
                status: s.status.unwrap_or_default(),
                description: s.description.unwrap_or_default(),
                author: s.author.as_ref().map(WireUser::user).unwrap_or_default(),
                pipeline_id: s.pipeline_id,
                git_ref: s.git_ref,
            })
            .collect())
    }

    /// `POST /projects/:id/statuses/:sha` into a given pipeline (`pipeline_id`) or ref, or
    /// wherever GitLab puts it (neither). `bot`: the bot's account.
    ///
    /// When GitLab answers "Cannot transition status", the status is read back: the write
    /// holds only if GitLab shows the wanted state there, written by `bot` (anyone may post
    /// that state under the bot's name; an unknown bot proves nothing). Otherwise the wanted
    /// state is reached through another one (`pending`, or `failed` when `pending` is wanted;
    /// both block a merge), which GitLab takes from any state its machine holds; when it still
    /// refuses, the write fails, saying what GitLab shows and who wrote it. `Ok(Some(status))`:
    /// the status someone else wrote there, now written over, for the caller to report.
    pub async fn set_status_in(
        &self,
        repo: &Repo,
        status: StatusText<'_>,
        target_url: Option<&str>,
        pipeline: Option<u64>,
        git_ref: Option<&str>,
        bot: Option<&User>,
    ) -> Result<Option<NamedStatus>, ForgeError> {
        let (sha, state, name, description) = status;
        let at = (target_url, pipeline, git_ref);
        let message = match self.post_status(repo, status, at).await {
            Err(ForgeError::Refused {
                status: 400,
                message,
            }) if message.contains(UNMOVED) => message,
            other => return other.map(|()| None),
        };
        let shown = self.statuses_named(repo, sha, name).await?;
        let here = shown.into_iter().find(|s| match (pipeline, git_ref) {
            (Some(p), _) => s.pipeline_id == Some(p),
            (None, Some(r)) => s.git_ref.as_deref() == Some(r),
            (None, None) => true,
        });
        let mine = |s: &NamedStatus| bot.and_then(|b| b.same_as(&s.author)) == Some(true);
        if here
            .as_ref()
            .is_some_and(|s| s.status == state_name(state) && mine(s))
        {
            return Ok(None);
        }
        let detour = match state {
            StatusState::Pending => StatusState::Failure,
            _ => StatusState::Pending,
        };
        let said = |e| unmoved(e, (name, state), &message, here.as_ref());
        self.post_status(repo, (sha, detour, name, description), at)
            .await
            .map_err(said)?;
        self.post_status(repo, status, at).await.map_err(said)?;
        Ok(here.filter(|s| bot.is_some() && !mine(s)))
    }

    /// One `POST /projects/:id/statuses/:sha`: `(target_url, pipeline_id, ref)`.
    async fn post_status(
        &self,
        repo: &Repo,
        (sha, state, name, description): StatusText<'_>,
        (target_url, pipeline, git_ref): (Option<&str>, Option<u64>, Option<&str>),
    ) -> Result<(), ForgeError> {
        let url = format!("{}/statuses/{}", self.project_of(repo), enc(sha));
        let mut body =
            json!({ "state": state_name(state), "name": name, "description": description });
        if let Some(u) = target_url {
            body["target_url"] = json!(u);
        }
        if let Some(p) = pipeline {
            body["pipeline_id"] = json!(p);
        }
        if let Some(g) = git_ref {
            body["ref"] = json!(g);
        }
        self.call(
            true,
            reqwest::Method::POST,
            &url,
            Some(body),
            "set the commit status",
        )
        .await
        .map(drop)
    }
}

/// A refusal of the write that was to reach the state, saying what GitLab showed and who
/// wrote it; other errors (transient ones) as they are.
fn unmoved(
    e: ForgeError,
    (name, state): (&str, StatusState),
    first: &str,
    here: Option<&NamedStatus>,
) -> ForgeError {
    let ForgeError::Refused { status, message } = e else {
        return e;
    };
    let shown = here.map_or("none".to_string(), |s| {
        format!(
            "{} by {}",
            s.status,
            s.author
                .username
                .as_deref()
                .unwrap_or("an account it does not name")
        )
    });
    ForgeError::Refused {
        status,
        message: format!(
            "GitLab would not set the `{name}` status to {} ({first}; then: {message}); it shows {shown}",
            state_name(state)
        ),
    }
}

/// GitLab's name for a status state.
pub fn state_name(state: StatusState) -> &'static str {
    match state {
        StatusState::Success => "success",
        StatusState::Failure | StatusState::Error => "failed",
        StatusState::Pending => "pending",
    }
}
