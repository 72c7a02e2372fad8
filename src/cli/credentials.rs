//! Forge credentials checked at start (`GET /user`, or the App's own account): a refused token
//! fails `/readyz` with the reason instead of surfacing as failed jobs later.

use changegate::forge::{Forge as _, ForgeError};
use changegate::model::Forge;
use changegate::worker::ForgeClients;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Asks each configured forge who the bot is until it answers; a refusal (401, 403) is kept as
/// a readiness problem, a transient failure is tried again.
pub(super) async fn check(forges: Arc<ForgeClients>, problems: Arc<RwLock<Vec<String>>>) {
    for forge in [Forge::Github, Forge::Gitlab] {
        let Some(connected) = forges.get(forge) else {
            continue;
        };
        let name = forge.display_name();
        loop {
            match connected.client.current_user().await {
                Ok(bot) => {
                    tracing::info!(forge = forge.as_str(), bot = %bot.mention(), "{name} credentials accepted");
                    break;
                }
                Err(ForgeError::Refused { status, message }) => {
                    let reason = format!(
                        "the {name} token was refused ({status}): {message}; set a valid token and restart"
                    );
                    tracing::error!(forge = forge.as_str(), "{reason}");
                    if let Ok(mut p) = problems.write() {
                        p.push(reason);
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(forge = forge.as_str(), error = %e, "cannot check the {name} credentials yet; trying again in 30 s");
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        }
    }
}
