//! Comments as commands need them: one comment or review read back, the listing's entries with
//! where they came from, and the `+1` reaction that acknowledges a command.

use super::GithubClient;
use super::wire::{WireComment, WireReview};
use crate::forge::{ChangeRef, Comment, ForgeError};
use crate::model::CommentSource;
use ::http::Method;
use serde_json::json;

/// Why a comment's commands are not read, from what REST shows of it.
fn ignored(user: Option<&super::wire::WireUser>, via_app: bool) -> Option<String> {
    let u = user?;
    let login = u.login.as_deref().unwrap_or("");
    if login.ends_with("[bot]") || u.kind.as_deref().is_some_and(|k| k != "User") {
        return Some(format!(
            "written by {}, a bot or App account",
            u.user().mention()
        ));
    }
    via_app.then(|| "posted through an App".to_string())
}

/// A listed or read issue comment.
pub(super) fn comment(c: WireComment) -> Option<Comment> {
    let at = c.created_at.as_deref().and_then(crate::model::parse_time);
    let updated = c.updated_at.as_deref().and_then(crate::model::parse_time);
    let via_app = c
        .performed_via_github_app
        .as_ref()
        .is_some_and(|a| !a.is_null());
    Some(Comment {
        id: u64::try_from(c.id).ok()?,
        body: c.body.unwrap_or_default(),
        author: c
            .user
            .as_ref()
            .map(super::wire::WireUser::user)
            .unwrap_or_default(),
        at,
        edited: matches!((at, updated), (Some(a), Some(u)) if u > a),
        url: c.html_url,
        ignored: ignored(c.user.as_ref(), via_app),
        node_id: c.node_id,
    })
}

use super::graphql::ORIGIN_QUERY;

impl GithubClient {
    /// The GraphQL endpoint: `{api}/graphql` on github.com, `https://HOST/api/graphql` for
    /// GitHub Enterprise Server (`https://HOST/api/v3`).
    pub(super) fn graphql_url(&self) -> String {
        match self.api.strip_suffix("/v3") {
            Some(base) => format!("{base}/graphql"),
            None => format!("{}/graphql", self.api),
        }
    }

    /// `createdViaEmail` and `isMinimized` of a comment or review, by node id.
    pub(super) async fn origin(
        &self,
        node_id: &str,
    ) -> Result<crate::forge::CommentOrigin, ForgeError> {
        let body = json!({ "query": ORIGIN_QUERY, "variables": { "id": node_id } });
        let reply = self
            .call(
                true,
                Method::POST,
                &self.graphql_url(),
                Some(body),
                "ask how a comment was written",
            )
            .await?;
        let answer: serde_json::Value = reply.json()?;
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            // A node that does not exist (deleted) is an error naming NOT_FOUND.
            if errors.to_string().contains("NOT_FOUND") {
                return Ok(crate::forge::CommentOrigin {
                    gone: true,
                    ..Default::default()
                });
            }
            return Err(ForgeError::Decode(format!(
                "GraphQL answered errors: {}",
                errors.to_string().chars().take(200).collect::<String>()
            )));
        }
        let node = answer.pointer("/data/node");
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Ok(crate::forge::CommentOrigin {
                gone: true,
                ..Default::default()
            });
        };
        let flag = |name: &str| -> Result<bool, ForgeError> {
            match node.get(name) {
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                // Reviews have no isMinimized.
                None if name == "isMinimized" => Ok(false),
                _ => Err(ForgeError::Decode(format!("GraphQL did not say `{name}`"))),
            }
        };
        Ok(crate::forge::CommentOrigin {
            via_email: flag("createdViaEmail")?,
            minimized: flag("isMinimized")?,
            gone: false,
        })
    }

    pub(super) async fn read_comment(
        &self,
        r: &ChangeRef,
        source: CommentSource,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        let url = match source {
            CommentSource::Review => self.repo_url(r, &format!("/pulls/{}/reviews/{id}", r.number)),
            _ => self.repo_url(r, &format!("/issues/comments/{id}")),
        };
        let reply = match self
            .call(true, Method::GET, &url, None, "read a comment")
            .await
        {
            Ok(reply) => reply,
            Err(ForgeError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if source == CommentSource::Review {
            let review: WireReview = reply.json()?;
            if review.state.eq_ignore_ascii_case("dismissed") {
                return Ok(None);
            }
            return Ok(Some(Comment {
                id,
                body: review.body.unwrap_or_default(),
                author: review
                    .user
                    .as_ref()
                    .map(super::wire::WireUser::user)
                    .unwrap_or_default(),
                at: review
                    .submitted_at
                    .as_deref()
                    .and_then(crate::model::parse_time),
                edited: false,
                url: review.html_url,
                ignored: ignored(review.user.as_ref(), false),
                node_id: review.node_id,
            }));
        }
        Ok(comment(reply.json()?))
    }

    pub(super) async fn react_to(
        &self,
        r: &ChangeRef,
        source: CommentSource,
        id: u64,
    ) -> Result<(), ForgeError> {
        // GitHub has no reactions on a review itself (only on its line comments).
        if source == CommentSource::Review {
            return Ok(());
        }
        let url = self.repo_url(r, &format!("/issues/comments/{id}/reactions"));
        self.call(
            true,
            Method::POST,
            &url,
            Some(json!({ "content": "+1" })),
            "react to a comment",
        )
        .await?;
        Ok(())
    }
}
