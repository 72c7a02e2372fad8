//! GitHub's REST answers as the bot reads them. Lenient where the OpenAPI description is: ids
//! are signed integers there, labels may be plain strings, timestamps are read if they parse.

use crate::model::{Change, ChangeKind, ChangeState, Forge as ForgeKind, Label, Review, User};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The id of something just created.
#[derive(Deserialize)]
pub(super) struct CreatedId {
    pub(super) id: i64,
}

#[derive(Deserialize)]
pub(super) struct WireUser {
    pub(super) login: Option<String>,
    pub(super) id: Option<i64>,
    /// `User`, `Bot`, `Organization`.
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
}

impl WireUser {
    pub(super) fn user(&self) -> User {
        User {
            id: self.id.and_then(|i| u64::try_from(i).ok()),
            username: self.login.clone(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireLabel {
    pub(super) name: String,
}

/// An issue's label: an object, or just its name.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum WireLabelEntry {
    Name(String),
    Object { name: Option<String> },
}

impl WireLabelEntry {
    pub(super) fn label(&self) -> Option<Label> {
        match self {
            WireLabelEntry::Name(n) => Some(Label::new(n)),
            WireLabelEntry::Object { name } => name.as_deref().map(Label::new),
        }
    }
}

pub(super) fn time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Deserialize)]
pub(super) struct WireRef {
    #[serde(rename = "ref")]
    pub(super) name: Option<String>,
    pub(super) sha: Option<String>,
}

/// A pull request or an issue as the REST API returns it.
#[derive(Deserialize)]
pub(super) struct WireChange {
    pub(super) number: Option<i64>,
    pub(super) title: Option<String>,
    pub(super) body: Option<String>,
    pub(super) user: Option<WireUser>,
    #[serde(default)]
    pub(super) labels: Vec<WireLabelEntry>,
    pub(super) state: Option<String>,
    pub(super) draft: Option<bool>,
    pub(super) merged: Option<bool>,
    pub(super) merged_at: Option<String>,
    pub(super) head: Option<WireRef>,
    pub(super) base: Option<WireRef>,
    pub(super) html_url: Option<String>,
    pub(super) updated_at: Option<String>,
    pub(super) comments: Option<i64>,
    /// Present on issues that are pull requests.
    pub(super) pull_request: Option<serde::de::IgnoredAny>,
}

impl WireChange {
    pub(super) fn into_change(
        self,
        repo: &crate::model::Repo,
        kind: ChangeKind,
        number: u64,
    ) -> Change {
        let merged = self.merged == Some(true) || self.merged_at.is_some();
        Change {
            forge: ForgeKind::Github,
            repo: repo.clone(),
            kind,
            number,
            title: self.title.unwrap_or_default(),
            description: self.body.unwrap_or_default(),
            author: self.user.as_ref().map(WireUser::user).unwrap_or_default(),
            labels: self
                .labels
                .iter()
                .filter_map(WireLabelEntry::label)
                .collect(),
            head_sha: self.head.as_ref().and_then(|h| h.sha.clone()),
            source_branch: self.head.as_ref().and_then(|h| h.name.clone()),
            target_branch: self.base.as_ref().and_then(|b| b.name.clone()),
            target_sha: self.base.as_ref().and_then(|b| b.sha.clone()),
            draft: self.draft.unwrap_or(false),
            state: match (self.state.as_deref(), merged) {
                (_, true) => ChangeState::Merged,
                (Some("closed"), _) => ChangeState::Closed,
                _ => ChangeState::Open,
            },
            merged_at: self.merged_at.as_deref().and_then(crate::model::parse_time),
            web_url: self.html_url,
            updated_at: self.updated_at,
            comments: self.comments.and_then(|n| u64::try_from(n).ok()),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireIssueEvent {
    pub(super) event: String,
    pub(super) actor: Option<WireUser>,
    pub(super) label: Option<WireLabel>,
    pub(super) created_at: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireReview {
    #[serde(default)]
    pub(super) body: Option<String>,
    #[serde(default)]
    pub(super) html_url: Option<String>,
    #[serde(default)]
    pub(super) node_id: Option<String>,
    pub(super) user: Option<WireUser>,
    pub(super) state: String,
    pub(super) commit_id: Option<String>,
    pub(super) submitted_at: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireComment {
    pub(super) id: i64,
    pub(super) body: Option<String>,
    pub(super) user: Option<WireUser>,
    #[serde(default)]
    pub(super) created_at: Option<String>,
    #[serde(default)]
    pub(super) updated_at: Option<String>,
    #[serde(default)]
    pub(super) html_url: Option<String>,
    #[serde(default)]
    pub(super) performed_via_github_app: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) node_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireMembership {
    pub(super) state: Option<String>,
}

/// Each reviewer's latest decisive review; approvals among them stand.
pub(super) fn standing_approvals(reviews: Vec<WireReview>) -> Vec<Review> {
    let mut latest: Vec<(User, WireReview)> = vec![];
    for r in reviews {
        // A comment-only review does not change a reviewer's verdict.
        if !matches!(
            r.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            continue;
        }
        let user = r.user.as_ref().map(WireUser::user).unwrap_or_default();
        latest.retain(|(u, _)| u.same_as(&user) != Some(true));
        latest.push((user, r));
    }
    latest
        .into_iter()
        .filter(|(_, r)| r.state == "APPROVED")
        .map(|(user, r)| Review {
            reviewer: user,
            approved: true,
            commit_sha: r.commit_id,
            submitted_at: time(&r.submitted_at),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_decisive_review_wins() {
        let review = |login: &str, state: &str| WireReview {
            body: None,
            html_url: None,
            node_id: None,
            user: Some(WireUser {
                login: Some(login.into()),
                id: None,
                kind: None,
            }),
            state: state.into(),
            commit_id: Some("abc".into()),
            submitted_at: None,
        };
        let standing = standing_approvals(vec![
            review("pam", "APPROVED"),
            review("pam", "COMMENTED"),
            review("bob", "APPROVED"),
            review("bob", "CHANGES_REQUESTED"),
            review("eve", "DISMISSED"),
        ]);
        let who: Vec<_> = standing
            .iter()
            .map(|r| r.reviewer.username.clone().unwrap())
            .collect();
        assert_eq!(who, vec!["pam"]);
    }
}
