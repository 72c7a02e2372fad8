//! `changegate link`: a fresh signed link to a change's details page, as the status carries.

use anyhow::{Result, bail};
use changegate::model::{ChangeKind, Forge};
use changegate::pages::links::Links;
use changegate::settings::Settings;
use secrecy::ExposeSecret;
use std::process::ExitCode;

pub(super) async fn link(
    settings: Settings,
    forge: Forge,
    repo: &str,
    number: u64,
    issue: bool,
) -> Result<ExitCode> {
    let Some(public_url) = settings.server.public_url.as_deref() else {
        bail!(
            "server.public_url is not set: a link needs the address people reach changegate at (for a trial: CHANGEGATE__SERVER__PUBLIC_URL=http://127.0.0.1:8080)"
        );
    };
    let key = match &settings.server.link_key {
        Some(k) => k.expose_secret().to_string(),
        // The key `serve` generated once and keeps in the database; never made here, or the
        // link would not open on the running server.
        None => super::open_read_only(&settings.database.url)
            .await?
            .stored_key("link_key")
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no link key yet: `changegate serve` generates one when it first starts (or set server.link_key)"
                )
            })?,
    };
    let links = Links::new(key.into_bytes(), settings.server.link_ttl_days, public_url);
    let kind = if issue {
        ChangeKind::Issue
    } else {
        ChangeKind::MergeRequest
    };
    println!(
        "{}",
        links.url_for(forge, repo, kind, number, chrono::Utc::now())
    );
    Ok(ExitCode::SUCCESS)
}
