//! GitHub App authentication: a JWT signed with the App's private key, exchanged for an
//! installation token per repository owner. octocrab caches each installation token and mints a
//! new one before it expires; this module finds the installation for a request and keeps one
//! client per owner.

use super::ForgeError;
use crate::model::User;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct AppAuth {
    app: Octocrab,
    api: String,
    /// One client per owner, shared: its installation token is cached inside (a clone of an
    /// octocrab client would copy the cache, not share it).
    installations: Mutex<HashMap<String, Arc<Octocrab>>>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct App {
    slug: Option<String>,
}

fn refused(message: String) -> ForgeError {
    ForgeError::Refused { status: 0, message }
}

impl AppAuth {
    pub fn new(api: &str, app_id: u64, private_key_pem: &str) -> Result<Self, ForgeError> {
        let key = octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|e| {
                refused(format!(
                    "the GitHub App private key is not an RSA PEM key: {e}"
                ))
            })?;
        let app = Octocrab::builder()
            .base_uri(api)
            .map_err(|e| refused(format!("invalid github.api_url: {e}")))?
            .app(AppId(app_id), key)
            .set_connect_timeout(Some(super::CONNECT_TIMEOUT))
            .set_read_timeout(Some(super::REQUEST_TIMEOUT))
            .build()
            .map_err(|e| refused(format!("cannot build the GitHub App client: {e}")))?;
        Ok(AppAuth {
            app,
            api: api.trim_end_matches('/').to_string(),
            installations: Mutex::default(),
        })
    }

    /// The client to send `url` with: the owner's installation for repository and organization
    /// routes, the App itself (JWT) for the rest.
    pub async fn client_for(&self, url: &str) -> Result<Arc<Octocrab>, ForgeError> {
        let path = url.strip_prefix(&self.api).unwrap_or(url);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (owner, lookup) = match parts.as_slice() {
            ["repos", owner, repo, ..] => (
                *owner,
                format!("{}/repos/{owner}/{repo}/installation", self.api),
            ),
            ["orgs", org, ..] => (*org, format!("{}/orgs/{org}/installation", self.api)),
            _ => return Ok(Arc::new(self.app.clone())),
        };
        let key = owner.to_lowercase();
        if let Some(c) = self
            .installations
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(c);
        }
        let installation: Installation = self.get_as_app(&lookup).await?;
        let client = Arc::new(
            self.app
                .installation(InstallationId(installation.id))
                .map_err(|e| {
                    refused(format!("cannot use installation {}: {e}", installation.id))
                })?,
        );
        if let Ok(mut m) = self.installations.lock() {
            m.insert(key, client.clone());
        }
        Ok(client)
    }

    /// The App's bot account, `slug[bot]`.
    pub async fn bot(&self) -> Result<User, ForgeError> {
        let app: App = self.get_as_app(&format!("{}/app", self.api)).await?;
        Ok(app
            .slug
            .map(|s| User::named(&format!("{s}[bot]")))
            .unwrap_or_default())
    }

    async fn get_as_app<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ForgeError> {
        let path = url.strip_prefix(&self.api).unwrap_or(url);
        let resp = self
            .app
            ._get(path)
            .await
            .map_err(|e| ForgeError::Transient(format!("GitHub App request: {e}")))?;
        super::http::Reply::read(resp)
            .await?
            .observe("github", "app", "GitHub App")
            .check("GitHub App")?
            .json()
    }
}
