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
    /// holds only if GitLab shows the wanted state in the pipeline (or alone on the ref)
    /// written to, written by `bot` (anyone may post that state under the bot's name; an
    /// unknown bot proves nothing), and not contradicting the state GitLab's refusal names.
    /// With neither pipeline nor ref, or a read-back that fails, nothing holds (a failed
    /// read-back fails a `success` write). Otherwise the wanted state is reached through
    /// another one (`pending`, or `failed` when `pending` is wanted; both block a merge),
    /// which GitLab takes from any state its machine holds; when it still refuses, the write fails, saying what GitLab shows and who wrote it. `Ok(Some(status))`:
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
        // A read-back that fails (a transient error, or more statuses under the name than
        // can be read) proves nothing: a blocking state is reached through the detour anyway.
        let shown = match self.statuses_named(repo, sha, name).await {
            Ok(shown) => shown,
            Err(e) if state == StatusState::Success => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the statuses back: writing through another state");
                vec![]
            }
        };
        let here = held_there(shown, pipeline, git_ref);
        let mine = |s: &NamedStatus| bot.and_then(|b| b.same_as(&s.author)) == Some(true);
        // With no pipeline or ref given, nothing says which listed status the write met; and
        // a read-back that contradicts the state GitLab's refusal names is not the one it met.
        let from = refused_from(&message);
        if (pipeline.is_some() || git_ref.is_some())
            && here.as_ref().is_some_and(|s| {
                s.status == state_name(state) && mine(s) && from.is_none_or(|f| f == s.status)
            })
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

/// The status a refused write met, among those GitLab lists: the one in `pipeline`; with only
/// `git_ref`, the one on that ref when exactly one is (GitLab before 17 names no pipelines,
/// and a ref may hold several); with neither, the one listed when it is alone (it only names
/// the writer in the report: it is never taken as the write's).
fn held_there(
    shown: Vec<NamedStatus>,
    pipeline: Option<u64>,
    git_ref: Option<&str>,
) -> Option<NamedStatus> {
    let mut found = shown.into_iter().filter(|s| match (pipeline, git_ref) {
        (Some(p), _) => s.pipeline_id == Some(p),
        (None, Some(r)) => s.git_ref.as_deref() == Some(r),
        (None, None) => true,
    });
    let first = found.next()?;
    (pipeline.is_some() || found.next().is_none()).then_some(first)
}

/// The state GitLab's refusal says the status had (`… from :success`), when it says.
fn refused_from(message: &str) -> Option<&str> {
    let rest = &message[message.find("from :")? + "from :".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_a_refusal_names() {
        for (m, want) in [
            (
                "Cannot transition status via :enqueue from :pending",
                Some("pending"),
            ),
            (
                "Cannot transition status via :drop from :success (reason)",
                Some("success"),
            ),
            ("Cannot transition status via :run from :", None),
            ("Cannot transition status", None),
        ] {
            assert_eq!(refused_from(m), want, "{m}");
        }
    }

    #[test]
    fn a_read_back_without_a_pipeline_names_one_status_only_when_it_is_alone() {
        let st = |p: u64, r: &str| NamedStatus {
            id: Some(p),
            status: "success".into(),
            description: String::new(),
            author: User::default(),
            pipeline_id: None,
            git_ref: Some(r.into()),
        };
        let two = vec![st(1, "feature"), st(2, "feature")];
        assert_eq!(held_there(two.clone(), None, Some("feature")), None);
        assert_eq!(held_there(two, None, None), None);
        let one = vec![st(1, "feature"), st(2, "main")];
        assert_eq!(
            held_there(one, None, Some("main")).and_then(|s| s.id),
            Some(2)
        );
    }
}
