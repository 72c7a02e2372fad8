//! Notes (GitLab's comments) on a change: listed, read one by one, created, updated, and
//! the `thumbsup` award emoji that acknowledges a command.

use super::GitlabClient;
use super::wire::{CreatedId, WireNote};
use crate::forge::{ChangeRef, Comment, ForgeError};
use serde_json::json;

impl GitlabClient {
    /// [`crate::forge::Forge::comments`]: oldest first, without system notes.
    pub(super) async fn list_notes(&self, r: &ChangeRef) -> Result<Vec<Comment>, ForgeError> {
        let url = format!("{}/notes?sort=asc&order_by=created_at", self.change_url(r));
        let notes: Vec<WireNote> =
            crate::forge::empty_if_missing(self.list(&url, "read notes").await)?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(WireNote::comment)
            .collect())
    }

    /// [`crate::forge::Forge::comment`]: `None` when the note is gone.
    pub(super) async fn read_note(
        &self,
        r: &ChangeRef,
        id: u64,
    ) -> Result<Option<Comment>, ForgeError> {
        let url = format!("{}/notes/{id}", self.change_url(r));
        match self
            .call(true, reqwest::Method::GET, &url, None, "read a note")
            .await
        {
            Ok(reply) => Ok(Some(reply.json::<WireNote>()?.comment())),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`crate::forge::Forge::react`].
    pub(super) async fn award_thumbsup(&self, r: &ChangeRef, id: u64) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{id}/award_emoji", self.change_url(r));
        self.call(
            false,
            reqwest::Method::POST,
            &url,
            Some(json!({ "name": "thumbsup" })),
            "award an emoji to a note",
        )
        .await?;
        Ok(())
    }

    /// [`crate::forge::Forge::create_comment`]: the note's id.
    pub(super) async fn create_note(&self, r: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
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

    /// [`crate::forge::Forge::update_comment`].
    pub(super) async fn update_note(
        &self,
        r: &ChangeRef,
        id: u64,
        body: &str,
    ) -> Result<(), ForgeError> {
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
}
