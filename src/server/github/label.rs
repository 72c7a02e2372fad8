//! GitHub's `label` webhook (a repository label created, edited or deleted): its node id, to
//! record by the name it is first seen by. A created label is recorded by its name; an edited
//! one by the name it had before the edit (`changes.name.from` on a rename), so that a label
//! renamed into an approval label never brings its applications under the new name.

use crate::model::{EventPayload, Repo, RepoPath};
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct LabelHook {
    action: String,
    label: Option<WireLabel>,
    changes: Option<Changes>,
    repository: Option<WireRepo>,
}

#[derive(Deserialize)]
struct WireLabel {
    name: Option<String>,
    node_id: Option<String>,
}

#[derive(Deserialize)]
struct Changes {
    name: Option<From>,
}

#[derive(Deserialize)]
struct From {
    from: Option<String>,
}

#[derive(Deserialize)]
struct WireRepo {
    full_name: String,
    id: Option<u64>,
}

/// What a `label` delivery records; `Ignored` when it names no label id to record.
pub(super) fn label(hook: LabelHook) -> EventPayload {
    let ignored = |reason: &str| EventPayload::Ignored {
        reason: reason.to_string(),
    };
    let (Some(label), Some(repo)) = (hook.label, hook.repository) else {
        return ignored("a label event without its label or repository");
    };
    let Some(node_id) = label.node_id.filter(|i| !i.is_empty()) else {
        return ignored("a label event without the label's node id");
    };
    let renamed_from = hook.changes.and_then(|c| c.name).map(|n| n.from);
    let name = match (hook.action.as_str(), renamed_from) {
        ("created", _) => label.name,
        // The name it had before: the id stays bound to it, never to the new one.
        ("edited", Some(from)) => from,
        ("edited", None) => label.name,
        _ => return ignored("a label deleted: nothing to record"),
    };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return ignored("a label event without the label's name");
    };
    EventPayload::LabelNode {
        repo: Repo {
            path: RepoPath::new(&repo.full_name),
            id: repo.id,
        },
        name,
        node_id,
    }
}
