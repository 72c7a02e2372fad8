//! The compare endpoints of both fake forges over a real git repository ([`GitRepo`]), as the
//! forges document them: GitHub `GET /repos/{o}/{r}/compare/{base}...{head}` (JSON, or the
//! `application/vnd.github.diff` media type; ETags and 304s), GitLab
//! `GET /projects/:id/repository/compare?from=…&to=…&straight=…`. Kept apart from the worlds so
//! that a test attaches a repository only when it needs one.
#![allow(dead_code)]

use super::git_repo::GitRepo;
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::ResponseTemplate;

/// What a fake forge's repository is and how its compare misbehaves when a test asks.
#[derive(Default, Clone)]
pub struct Compares {
    pub repo: Option<Arc<GitRepo>>,
    /// Paths whose patch the forge withholds (GitHub: no `patch`; GitLab: `too_large`).
    pub withheld: Vec<String>,
    /// Compare calls answered, by representation (`json`, `diff`, `gitlab`).
    pub served: Vec<String>,
}

fn etag_of(body: &[u8]) -> String {
    format!(
        "\"{:x}\"",
        body.iter()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
    )
}

/// A commit GitHub or GitLab would accept: a full sha or a branch of the repository.
fn known(repo: &GitRepo, rev: &str) -> bool {
    std::process::Command::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .current_dir(repo.path())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// GitHub's compare; `None` when no repository is attached (the world answers as before).
pub fn github(
    c: &mut Compares,
    spec: &str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
    not_modified: &mut u64,
) -> Option<ResponseTemplate> {
    let repo = c.repo.clone()?;
    let (base, head) = spec.split_once("...")?;
    if !known(&repo, base) || !known(&repo, head) {
        return Some(ResponseTemplate::new(404).set_body_json(
            json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits" }),
        ));
    }
    let diff = accept.is_some_and(|a| a.contains("application/vnd.github.diff"));
    let (body, kind) = if diff {
        (
            repo.github_compare_diff(base, head).into_bytes(),
            "text/plain; charset=utf-8",
        )
    } else {
        let mut v = repo.github_compare_json(base, head);
        if let Some(files) = v["files"].as_array_mut() {
            for f in files {
                let path = f["filename"].as_str().unwrap_or("").to_string();
                if c.withheld.contains(&path) {
                    f.as_object_mut().map(|o| o.remove("patch"));
                }
            }
        }
        (
            serde_json::to_vec(&v).unwrap(),
            "application/json; charset=utf-8",
        )
    };
    c.served.push(if diff { "diff" } else { "json" }.into());
    let tag = etag_of(&body);
    if if_none_match == Some(tag.as_str()) {
        *not_modified += 1;
        return Some(ResponseTemplate::new(304).insert_header("etag", tag.as_str()));
    }
    Some(
        ResponseTemplate::new(200)
            .insert_header("etag", tag.as_str())
            .set_body_raw(body, kind),
    )
}

/// GitLab's compare; `None` when no repository is attached.
pub fn gitlab(c: &mut Compares, query: &[(String, String)]) -> Option<ResponseTemplate> {
    let repo = c.repo.clone()?;
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    let (Some(from), Some(to)) = (get("from"), get("to")) else {
        return Some(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "from is missing, to is missing" })),
        );
    };
    if !known(&repo, &from) || !known(&repo, &to) {
        return Some(
            ResponseTemplate::new(404).set_body_json(json!({ "message": "404 Ref Not Found" })),
        );
    }
    let straight = get("straight").as_deref() == Some("true");
    let mut v: Value = repo.gitlab_compare_json(&from, &to, straight);
    if let Some(diffs) = v["diffs"].as_array_mut() {
        for d in diffs {
            let path = d["new_path"].as_str().unwrap_or("").to_string();
            if c.withheld.contains(&path) {
                d["too_large"] = json!(true);
                d["diff"] = json!("");
            }
        }
    }
    c.served.push("gitlab".into());
    Some(ResponseTemplate::new(200).set_body_json(v))
}
