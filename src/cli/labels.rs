//! `changegate labels`: list every label the rules use and how the repository differs; with
//! `--apply`, create or update them. Dry by default.

use anyhow::{Context, Result, bail};
use changegate::forge::ForgeError;
use changegate::label_sync::{self, ExistingLabel, LabelChange, WantedLabel};
use changegate::model::{Forge, Repo, RepoPath};
use changegate::rules;
use changegate::settings::Settings;
use std::process::ExitCode;

enum Client {
    Github(changegate::forge::github::GithubClient),
    Gitlab(changegate::forge::gitlab::GitlabClient),
}

impl Client {
    async fn list(&self, repo: &Repo) -> Result<Vec<ExistingLabel>, ForgeError> {
        match self {
            Client::Github(c) => c.repo_labels(repo).await,
            Client::Gitlab(c) => c.repo_labels(repo).await,
        }
    }
    async fn create(&self, repo: &Repo, l: &WantedLabel) -> Result<(), ForgeError> {
        match self {
            Client::Github(c) => c.create_label(repo, l).await,
            Client::Gitlab(c) => c.create_label(repo, l).await,
        }
    }
    async fn update(
        &self,
        repo: &Repo,
        e: &ExistingLabel,
        l: &WantedLabel,
    ) -> Result<(), ForgeError> {
        match self {
            Client::Github(c) => c.update_label(repo, e, l).await,
            Client::Gitlab(c) => c.update_label(repo, e, l).await,
        }
    }
}

pub(super) async fn labels(
    settings: Settings,
    forge: Forge,
    repo: &str,
    apply: bool,
) -> Result<ExitCode> {
    let rules = rules::load(&settings.rules.path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = match forge {
        Forge::Github => super::serve::github_client(&settings)?.map(Client::Github),
        Forge::Gitlab => super::serve::gitlab_client(&settings)?.map(Client::Gitlab),
    };
    let Some(client) = client else {
        bail!(
            "no {} token is configured: labels reads the repository's labels",
            forge.display_name()
        );
    };
    let target = Repo {
        path: RepoPath::new(repo),
        id: None,
    };
    let existing = client
        .list(&target)
        .await
        .with_context(|| format!("cannot list the labels of {repo}"))?;
    let plan = label_sync::plan(&label_sync::wanted(&rules), &existing);
    let mut failed = 0;
    for change in &plan {
        let (verb, wanted) = match change {
            LabelChange::Create(w) => ("create", w),
            LabelChange::Update { wanted, .. } => ("update", wanted),
            LabelChange::Keep { wanted, why } => {
                println!(
                    "ok\t{}\t#{}\t{} ({why})",
                    wanted.name, wanted.color, wanted.description
                );
                continue;
            }
        };
        let done = if apply {
            let result = match change {
                LabelChange::Create(w) => client.create(&target, w).await,
                LabelChange::Update { wanted, existing } => {
                    client.update(&target, existing, wanted).await
                }
                LabelChange::Keep { .. } => Ok(()),
            };
            match result {
                Ok(()) => format!("{verb}d"),
                Err(e) => {
                    failed += 1;
                    format!("{verb} FAILED: {e}")
                }
            }
        } else {
            format!("would {verb}")
        };
        println!(
            "{done}\t{}\t#{}\t{}",
            wanted.name, wanted.color, wanted.description
        );
    }
    if !apply && plan.iter().any(|c| !matches!(c, LabelChange::Keep { .. })) {
        eprintln!(
            "changegate: nothing was changed; run again with --apply to create and update these labels"
        );
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
