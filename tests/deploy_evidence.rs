//! What a deployment gate believes, end to end on the fake GitHub: a success is evidence
//! only for the deployment changegate allowed, reported by its creator or a trusted
//! deployer, and never after an allow of an environment nothing governs; the deployed SHA
//! must be on the deployed branch and be what its changes merged as; an emergency is one
//! only as recorded at merge.

mod common;

use changegate::model::Forge;
use common::deploy_world::{BASE, DeployWorld, Gate, RULES, approved, baselines, merged};
use common::github_setup::{H1, at, move_to};

const F1: &str = "f100000000000000000000000000000000000000";
const F2: &str = "f200000000000000000000000000000000000000";
const M9: &str = "e900000000000000000000000000000000000000";

#[tokio::test]
async fn a_success_counts_only_for_the_deployment_changegate_allowed() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    let (state, _) = g.ask("staging", H1, 1).await;
    assert_eq!(state.as_deref(), Some("approved"));
    // A developer's own deployment of the same SHA there, marked successful by them: the
    // allow answered deployment 1001, not this one.
    g.d.deployment(556, H1, "staging", "dev", "success", "2026-03-10T09:01:00Z");
    g.succeeded("staging", H1, 556, "dev", "2026-03-10T09:01:00Z")
        .await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(
        a.1.contains("has not been deployed successfully to `staging`"),
        "{}",
        a.1
    );
    // The allowed deployment's own success, from the account that created it, counts.
    g.succeeded(
        "staging",
        H1,
        1001,
        "github-actions[bot]",
        "2026-03-10T09:30:00Z",
    )
    .await;
    move_to(&g.s, "2026-03-10T10:01:00Z").await;
    let b = g.ask("production", H1, 3).await;
    assert!(approved(&b), "{b:?}");
}

#[tokio::test]
async fn a_success_of_an_allowed_deployment_reported_by_someone_else_does_not_count() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    let (state, _) = g.ask("staging", H1, 1).await;
    assert_eq!(state.as_deref(), Some("approved"));
    // Anyone with push access can post a status on deployment 1001.
    g.reported(
        "staging",
        H1,
        1001,
        "github-actions[bot]",
        "dev",
        "2026-03-10T09:01:00Z",
    )
    .await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(
        a.1.contains("has not been deployed successfully to `staging`"),
        "{}",
        a.1
    );
}

#[tokio::test]
async fn an_ungoverned_environments_allow_is_never_evidence() {
    // Staging governed by no entry (check accepts it: production names trusted deployers).
    let rules = RULES
        .replace("  - name: staging\n    environments: [staging]\n", "")
        .replace(
            "      confirm: requester\n",
            "      confirm: requester\n    trusted_deployers: [\"app:release\"]\n",
        );
    let g = merged("2026-03-10T09:00:00Z", &rules, None).await;
    // Anyone holding the gate (or creating a deployment) gets an allow there...
    let (state, text) = g.ask("staging", H1, 1).await;
    assert_eq!(state.as_deref(), Some("approved"), "{text}");
    g.succeeded(
        "staging",
        H1,
        1001,
        "github-actions[bot]",
        "2026-03-10T09:01:00Z",
    )
    .await;
    // ...which is no evidence for production.
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(
        a.1.contains("has not been deployed successfully to `staging`"),
        "{}",
        a.1
    );
}

#[tokio::test]
async fn a_commit_that_never_landed_on_the_deployed_branch_denies() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    // #7 also held F1, a commit on BASE beside main (squashed away, or rewritten): it is in
    // a merged change's history but not on main.
    g.s.gh.commit(F1, &[common::deploy_world::BASE], "alice");
    g.s.gh.pull_commits(7, &[F1, H1]);
    let a = g.ask("production", F1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(
        a.1.contains("is not on the deployed branch `main`"),
        "{}",
        a.1
    );
}

#[tokio::test]
async fn an_intermediate_commit_of_a_change_merged_by_a_merge_commit_denies() {
    let g = merged("2026-03-10T09:00:00Z", RULES, None).await;
    // #9 (F1 then F2, by bob) merged into main by merge commit M9 (H1, F2).
    g.s.gh.commit(F1, &[H1], "bob");
    g.s.gh.commit(F2, &[F1], "bob");
    g.s.gh.commit(M9, &[H1, F2], "web-flow");
    g.s.gh.open_pr(9, "bob", F2);
    g.s.gh.pull_commits(9, &[F1, F2]);
    g.s.gh.merge_as(9, M9, "2026-03-10T09:30:00Z");
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    // F1 is on main (M9's history) and in #9, but #9 never merged as F1.
    let a = g.ask("production", F1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(
        a.1.contains("commit `f10000000000` belongs to #9 but is not part of what it merged as"),
        "{}",
        a.1
    );
    assert!(!a.1.contains("is not on the deployed branch"), "{}", a.1);
}

#[tokio::test]
async fn an_emergency_label_added_after_the_merge_lifts_no_window() {
    // Saturday: outside every window. #7 merged as an ordinary change.
    let g = merged("2026-03-14T09:00:00Z", RULES, None).await;
    g.s.apply_label("alice", "EMERGENCY").await;
    g.staged("2026-03-14T09:01:00Z").await;
    move_to(&g.s, "2026-03-14T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert!(!approved(&a), "{a:?}");
    assert!(a.1.contains("outside every window"), "{}", a.1);
    assert!(!a.1.contains("emergency"), "{}", a.1);
}

/// The attack: push a branch of one's own, merge a change into it (rules scoped to `main`
/// do not apply there, so it "passes"), and deploy that branch to production. Production
/// deploys only from the repository's default branch (`main`, as the webhook says).
#[tokio::test]
async fn a_branch_of_ones_own_does_not_deploy_to_production() {
    let now = "2026-03-10T09:00:00Z";
    // Staging takes any branch; production keeps the default.
    let rules = RULES.replace(
        "  - name: staging\n    environments: [staging]\n",
        "  - name: staging\n    environments: [staging]\n    branches: [\"*\"]\n",
    );
    let s = at(now).await;
    *s.app.worker.rules.write().unwrap() =
        std::sync::Arc::new(changegate::rules::parse("rules.yaml", &rules).unwrap());
    let d = DeployWorld::mount(&s.gh).await;
    d.commit(BASE);
    d.commit(H1);
    d.environment("production", true, false);
    d.environment("staging", false, false);
    s.gh.state
        .lock()
        .unwrap()
        .changes
        .iter_mut()
        .find(|c| c.number == 7)
        .unwrap()
        .base = "evil".into();
    s.apply_label("peter", "Peer::Approved").await;
    s.gh.merge_as(7, H1, now);
    {
        let mut st = s.gh.state.lock().unwrap();
        st.deploy.graph.set_branch("evil", H1);
        st.deploy.graph.set_branch("main", BASE);
    }
    s.deliver("closed", None, "alice", "merge-evil").await;
    baselines(&s, now, &["production", "staging"]).await;
    let g = Gate { s, d };
    let (state, why) = g.ask_from("evil", "staging", H1, 1).await;
    assert_eq!(state.as_deref(), Some("approved"), "{why}");
    g.succeeded(
        "staging",
        H1,
        1001,
        "github-actions[bot]",
        "2026-03-10T09:01:00Z",
    )
    .await;
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask_from("evil", "production", H1, 2).await;
    assert_eq!(a.0.as_deref(), Some("rejected"), "{a:?}");
    assert!(
        a.1.contains("production deploys only from `main`; this deployment is from `evil`"),
        "{}",
        a.1
    );
    assert!(!approved(&a));
}

/// A trusted deployer's success in production that changegate did not allow is no baseline:
/// it would move production past commits nothing checked, here a commit beside `main`, after
/// which every deployment from `main` would be denied as diverged. It stays evidence.
#[tokio::test]
async fn a_trusted_deployers_unallowed_success_does_not_move_the_production_baseline() {
    let rules = RULES.replace(
        "      confirm: requester\n",
        "      confirm: requester\n    trusted_deployers: [release-bot]\n",
    );
    let g = merged("2026-03-10T09:00:00Z", &rules, None).await;
    g.staged("2026-03-10T09:01:00Z").await;
    // release-bot deploys F1, a commit beside main, to production without asking.
    g.s.gh.commit(F1, &[BASE], "alice");
    g.d.deployment(
        777,
        F1,
        "production",
        "release-bot",
        "success",
        "2026-03-10T09:02:00Z",
    );
    g.succeeded("production", F1, 777, "release-bot", "2026-03-10T09:02:00Z")
        .await;
    let store = &g.s.app.store;
    let b = store
        .baseline(Forge::Github, "acme/platypus", "production")
        .await
        .unwrap();
    assert_eq!(b.map(|b| b.sha).as_deref(), Some(BASE));
    let evidence = store
        .counted_successes(Forge::Github, "acme/platypus", F1)
        .await
        .unwrap();
    assert_eq!(evidence.len(), 1, "still a trusted success");
    move_to(&g.s, "2026-03-10T10:00:00Z").await;
    let a = g.ask("production", H1, 2).await;
    assert!(approved(&a), "{a:?}");
}
