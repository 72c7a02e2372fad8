//! Approval labels by identity (GitLab): a label event names the label by id and shows its
//! name as it is now, so a label renamed into an approval label would bring the approvals of
//! whoever applied it under its old name. Each label's id is remembered as first seen by a
//! name; an approval through an event whose label is not the one first seen by that name does
//! not count, and the comment says why.

use super::Worker;
use crate::forge::Forge;
use crate::model::{Change, History, Label, User};
use crate::rules::Rules;
use anyhow::{Context, Result};
use std::collections::HashMap;

impl Worker {
    /// Checks the approval label events of `history` against the label ids remembered for
    /// the change's project, remembers the labels seen for the first time, and returns why
    /// any approval does not count (its event is then kept with no known applier).
    pub(super) async fn vet_label_ids<F: Forge>(
        &self,
        forge: &F,
        change: &Change,
        rules: &Rules,
        history: &mut History,
    ) -> Result<Vec<String>> {
        if !history.label_node_ids.is_empty() {
            return self.vet_label_nodes(forge, change, rules, history).await;
        }
        // Events without ids: the forge keeps names as given (GitHub). An empty history says
        // nothing, and a project seen for the first time has its labels remembered.
        if !history.labels.is_empty() && history.label_ids.iter().all(Option::is_none) {
            return Ok(vec![]);
        }
        let scope = format!(
            "{}:{}",
            change.forge,
            change.repo.path.as_str().to_lowercase()
        );
        let mut known = self.store.seen_labels(&scope).await?;
        if known.is_empty() {
            // The first sight of the project: every label it has now is remembered by the name
            // it has now, so that one renamed later is recognized even if no event showed it.
            let labels = forge.project_labels(&change.repo).await?;
            self.store.remember_labels(&scope, &labels).await?;
            known = self.store.seen_labels(&scope).await?;
        }
        let governed: Vec<&Label> = rules.approvals.iter().map(|a| &a.label).collect();
        let known: Vec<(String, u64)> = known.into_iter().map(|l| (l.name, l.id)).collect();
        let (notes, new) = vet(&known, &governed, &mut history.labels, &history.label_ids);
        self.store.remember_labels(&scope, &new).await?;
        Ok(notes)
    }

    /// [`Self::vet_label_ids`] for a history read through GitHub's GraphQL, whose label
    /// events name the label by node id and show the name it has now.
    async fn vet_label_nodes<F: Forge>(
        &self,
        forge: &F,
        change: &Change,
        rules: &Rules,
        history: &mut History,
    ) -> Result<Vec<String>> {
        let scope = format!(
            "{}:{}",
            change.forge,
            change.repo.path.as_str().to_lowercase()
        );
        let mut known = self.store.seen_label_nodes(&scope).await?;
        let baseline_now = known.is_empty();
        if baseline_now {
            // The first sight of the repository: its labels are remembered by the names
            // they have now, so that one renamed later is recognized.
            let r = crate::forge::ChangeRef {
                repo: change.repo.clone(),
                kind: change.kind,
                number: change.number,
            };
            let labels = forge.project_label_nodes(&r).await?;
            self.store.remember_label_nodes(&scope, &labels).await?;
            known = self.store.seen_label_nodes(&scope).await?;
        }
        let governed: Vec<&Label> = rules.approvals.iter().map(|a| &a.label).collect();
        let (notes, new) = vet(
            &known,
            &governed,
            &mut history.labels,
            &history.label_node_ids,
        );
        self.store.remember_label_nodes(&scope, &new).await?;
        // A label's node id proves its name only from when it was recorded by that name: an
        // application before then (or in the run that records the baseline) may have been
        // made under another name, later renamed. Such a history is read again through REST,
        // whose events keep the names as applied.
        let at = self.store.seen_label_nodes_at(&scope).await?;
        // A label edited after it was recorded may have been renamed away, applied under
        // another name and renamed back: GraphQL shows that application under the name it has
        // now, so its applications are read as applied too.
        let edited = |i: usize| history.label_node_edited_at.get(i).copied().flatten();
        let untrusted = history
            .labels
            .iter()
            .zip(history.label_node_ids.iter())
            .enumerate()
            .filter(|(_, (ev, _))| ev.added && ev.actor.username.is_some())
            .filter(|(_, (ev, _))| governed.contains(&&ev.label))
            .any(|(i, (ev, id))| {
                let name = ev.label.as_str();
                // Recorded in this run is recorded after the event, whatever the clocks say.
                let new_now = new.iter().any(|(n, j)| n == name && Some(j) == id.as_ref());
                baseline_now
                    || new_now
                    || !recorded_before(&at, name, id.as_deref(), ev.at)
                    || !unedited_since_recorded(&at, name, id.as_deref(), edited(i))
            });
        if untrusted {
            let r = crate::forge::ChangeRef {
                repo: change.repo.clone(),
                kind: change.kind,
                number: change.number,
            };
            let deciding = crate::policy::deciding_labels(rules, &change.labels);
            *history = forge
                .label_events_as_applied(&r, &deciding)
                .await
                .context("cannot read the label history as applied (REST)")?;
        }
        Ok(notes)
    }
}

/// Pure: whether label node `id` was recorded by `name` at or before `at` (`recorded`: name,
/// node id, ms since the epoch). An unknown id or time is not.
pub(super) fn recorded_before(
    recorded: &[(String, String, i64)],
    name: &str,
    id: Option<&str>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    let (Some(id), Some(at)) = (id, at) else {
        return false;
    };
    recorded
        .iter()
        .any(|(n, i, t)| n == name && i == id && *t <= at.timestamp_millis())
}

/// Pure: whether label node `id`, last edited at `edited`, has not been edited since it was
/// recorded by `name` (`recorded` as in [`recorded_before`]). An unknown edit time is an edit.
pub(super) fn unedited_since_recorded(
    recorded: &[(String, String, i64)],
    name: &str,
    id: Option<&str>,
    edited: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    let (Some(id), Some(edited)) = (id, edited) else {
        return false;
    };
    recorded
        .iter()
        .any(|(n, i, t)| n == name && i == id && edited.timestamp_millis() <= *t)
}

/// Where label ids are recorded, for the operator the comment points to.
const TABLES: &str =
    "table `label_ids` for GitLab, `label_node_ids` for GitHub, by scope `forge:group/project`";

/// Pure: the reasons approvals in `labels` (whose label ids are `ids`, in order) do not count
/// (their events lose their applier), and the (name, id) pairs seen for the first time, to
/// remember. `known`: (name, id) as first seen, oldest first.
pub(super) fn vet<I>(
    known: &[(String, I)],
    governed: &[&Label],
    labels: &mut [crate::model::LabelEvent],
    ids: &[Option<I>],
) -> (Vec<String>, Vec<(String, I)>)
where
    I: Clone + Eq + std::hash::Hash + std::fmt::Display,
{
    // The id first seen by each name, and the name each id was first seen by (oldest first).
    let mut id_of: HashMap<String, I> = HashMap::new();
    let mut name_of: HashMap<I, String> = HashMap::new();
    for (name, id) in known {
        id_of.entry(name.clone()).or_insert_with(|| id.clone());
        name_of.entry(id.clone()).or_insert_with(|| name.clone());
    }
    let (mut notes, mut new) = (vec![], vec![]);
    for (ev, id) in labels.iter_mut().zip(ids.iter()) {
        let Some(id) = id.clone() else { continue };
        let name = ev.label.as_str().to_string();
        let refused = match (id_of.get(&name), name_of.get(&id)) {
            (Some(first), _) if *first != id => Some(format!(
                "`{name}` applied by {} is label id {id}, but changegate first saw `{name}` as label id {first}: another label under that name does not approve, however often it is applied. If `{name}` was deleted and created again, an operator removes changegate's record of `{name}` ({TABLES}) so that the label now named so is recorded",
                ev.actor.mention()
            )),
            (_, Some(was)) if *was != name => Some(format!(
                "the label {} applied was `{was}` when changegate first saw it (id {id}) and was renamed `{name}` since: a renamed label does not approve, however often it is applied. If it is meant to, an operator removes changegate's record of label id {id} ({TABLES})",
                ev.actor.mention()
            )),
            (None, None) => {
                id_of.insert(name.clone(), id.clone());
                name_of.insert(id.clone(), name.clone());
                new.push((name.clone(), id));
                None
            }
            _ => None,
        };
        if let Some(reason) = refused.filter(|_| ev.added && governed.contains(&&ev.label)) {
            ev.actor = User::default();
            if !notes.contains(&reason) {
                notes.push(reason);
            }
        }
    }
    (notes, new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelEvent;

    const APPROVED: &str = "BT Integration Manager::Approved";

    fn history(entries: &[(&str, u64, bool)]) -> History {
        History {
            labels: entries
                .iter()
                .map(|(name, _, added)| LabelEvent {
                    label: Label::new(name),
                    added: *added,
                    actor: User::named("mona"),
                    at: None,
                })
                .collect(),
            retargeted_at: None,
            gaps: vec![],
            label_ids: entries.iter().map(|(_, id, _)| Some(*id)).collect(),
            label_node_ids: vec![],
            label_node_edited_at: vec![],
        }
    }

    fn seen(name: &str, id: u64, _at: i64) -> (String, u64) {
        (name.into(), id)
    }

    fn vet(
        known: &[(String, u64)],
        governed: &[&Label],
        h: &mut History,
    ) -> (Vec<String>, Vec<(String, u64)>) {
        super::vet(known, governed, &mut h.labels, &h.label_ids)
    }

    #[test]
    fn labels_seen_for_the_first_time_are_remembered_and_count() {
        let approved = Label::new(APPROVED);
        let mut h = history(&[("team::infra", 12, true), (APPROVED, 20, true)]);
        let (notes, new) = vet(&[], &[&approved], &mut h);
        assert!(notes.is_empty());
        assert_eq!(
            new,
            vec![("team::infra".into(), 12), (APPROVED.to_string(), 20)]
        );
        assert_eq!(h.labels[1].actor, User::named("mona"));
    }

    #[test]
    fn a_label_renamed_into_an_approval_label_does_not_approve() {
        let approved = Label::new(APPROVED);
        let mut h = history(&[(APPROVED, 12, true)]);
        let (notes, new) = vet(&[seen("team::infra", 12, 1)], &[&approved], &mut h);
        assert!(
            new.is_empty(),
            "a renamed id is not remembered by its new name"
        );
        assert_eq!(h.labels[0].actor.username, None);
        assert!(
            notes[0].contains("was `team::infra` when changegate first saw it (id 12)")
                && notes[0].contains("an operator removes changegate's record of label id 12"),
            "{notes:?}"
        );
    }

    #[test]
    fn another_label_by_the_approval_labels_name_does_not_approve() {
        let approved = Label::new(APPROVED);
        let mut h = history(&[(APPROVED, 12, true), (APPROVED, 12, false)]);
        let (notes, _) = vet(&[seen(APPROVED, 20, 1)], &[&approved], &mut h);
        assert_eq!(h.labels[0].actor.username, None);
        // Removals are kept as they are: they take approvals away, never give them.
        assert_eq!(h.labels[1].actor, User::named("mona"));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("first saw `BT Integration Manager::Approved` as label id 20"));
        // What helps: an operator, never applying the label again.
        assert!(notes[0].contains(
            "an operator removes changegate's record of `BT Integration Manager::Approved`"
        ));
        assert!(!notes[0].contains("; apply `"), "{notes:?}");
    }

    #[test]
    fn a_node_id_proves_its_name_only_from_when_it_was_recorded() {
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0);
        let rec = vec![(APPROVED.to_string(), "LA_1".to_string(), 100_000)];
        assert!(recorded_before(&rec, APPROVED, Some("LA_1"), at(100)));
        assert!(!recorded_before(&rec, APPROVED, Some("LA_1"), at(99)));
        assert!(!recorded_before(&rec, APPROVED, Some("LA_2"), at(200)));
        assert!(!recorded_before(&rec, "docs", Some("LA_1"), at(200)));
        assert!(!recorded_before(&rec, APPROVED, None, at(200)));
        assert!(!recorded_before(&rec, APPROVED, Some("LA_1"), None));
    }

    #[test]
    fn a_label_edited_after_it_was_recorded_is_not_trusted_by_its_name() {
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0);
        let rec = vec![(APPROVED.to_string(), "LA_1".to_string(), 100_000)];
        assert!(unedited_since_recorded(
            &rec,
            APPROVED,
            Some("LA_1"),
            at(100)
        ));
        assert!(unedited_since_recorded(
            &rec,
            APPROVED,
            Some("LA_1"),
            at(50)
        ));
        assert!(!unedited_since_recorded(
            &rec,
            APPROVED,
            Some("LA_1"),
            at(101)
        ));
        assert!(!unedited_since_recorded(&rec, APPROVED, Some("LA_1"), None));
        assert!(!unedited_since_recorded(
            &rec,
            APPROVED,
            Some("LA_2"),
            at(50)
        ));
    }

    #[test]
    fn labels_that_approve_nothing_are_not_judged() {
        let approved = Label::new(APPROVED);
        let mut h = history(&[("CMT::Minor", 12, true)]);
        let (notes, _) = vet(&[seen("team::infra", 12, 1)], &[&approved], &mut h);
        assert!(notes.is_empty());
        assert_eq!(h.labels[0].actor, User::named("mona"));
    }
}
