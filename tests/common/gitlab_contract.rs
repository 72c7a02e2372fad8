//! The GitLab contract list (`tests/fixtures/gitlab-paths.txt`, a byte-identical copy of the
//! team's `shared/contracts/gitlab-paths.txt`: the REST v4 paths python-gitlab 8.6.0 defines,
//! plus endpoints GitLab's REST documentation has that it lacks, e.g. `repository/compare`,
//! `repository/merge_base`, `protected_environments/{name}`). Every GitLab call a test sees
//! the bot make is checked against it.
#![allow(dead_code)]

/// Whether `path` (under `/api/v4`, no query) matches a `T` template of the list (`{…}` is
/// one segment), optionally followed by one object id, or by an id and an `A` action.
pub fn in_gitlab_contract(path: &str) -> bool {
    let text = std::fs::read_to_string(super::corpus_dir().join("gitlab-paths.txt"))
        .expect("the GitLab contract list");
    let templates: Vec<Vec<&str>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("T "))
        .map(|t| t.trim().trim_matches('/').split('/').collect())
        .collect();
    let actions: Vec<Vec<&str>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("A "))
        .map(|a| a.trim().split('/').collect())
        .collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let fits = |t: &[&str], s: &[&str]| {
        t.len() == s.len()
            && t.iter()
                .zip(s)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
    };
    templates.iter().any(|t| {
        fits(t, &segs)
            || (segs.len() == t.len() + 1 && fits(t, &segs[..t.len()]))
            || actions.iter().any(|a| {
                segs.len() == t.len() + 1 + a.len()
                    && fits(t, &segs[..t.len()])
                    && segs[t.len() + 1..] == a[..]
            })
    })
}

/// Every call (`METHOD /api/v4/…`) is one the contract list knows, and none is a PATCH
/// (GitLab's REST API takes none).
pub fn assert_gitlab_calls_in_contract(calls: &[String]) {
    for call in calls {
        let Some((method, path)) = call.split_once(' ') else {
            continue;
        };
        let Some(rest) = path.strip_prefix("/api/v4") else {
            continue;
        };
        let rest = rest.split('?').next().unwrap_or(rest);
        assert!(method != "PATCH", "GitLab takes no PATCH: {call}");
        assert!(
            in_gitlab_contract(rest),
            "not in tests/fixtures/gitlab-paths.txt: {call}"
        );
    }
}
