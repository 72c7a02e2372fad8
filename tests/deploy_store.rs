//! The deployment gates' records on both backends: SQLite always, PostgreSQL when
//! CHANGEGATE_TEST_DATABASE_URL is set.

mod common;

use changegate::model::{Forge, User};
use changegate::policy::deploy::{
    DeployDecision, ExceptionEvent, ExceptionEventKind, ExceptionSource, Outcome, UsedException,
};
use changegate::store::{DecisionRecord, MergeRecord, Recorded, Store};

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

const SHA: &str = "cccccccccccccccccccccccccccccccccccccccc";

async fn round_trip(store: Store) {
    let gh = Forge::Github;
    let now = store.clock().now();
    let decision = DeployDecision {
        decision: Outcome::Allow,
        reasons: vec!["in window `business hours`".into()],
        until: None,
        entry: Some("production".into()),
        expires: Some(now + chrono::Duration::hours(1)),
        changes: vec![],
        timing: Some("exception".into()),
        exceptions: vec![UsedException {
            change: 7,
            lifts: "window".into(),
            requester: "rita".into(),
            requested_at: t("2026-03-14T10:00:00Z"),
            approvals: vec![],
            confirmed_at: None,
        }],
        owed: vec![],
    };
    store
        .record_deploy_decision(&DecisionRecord {
            id: "d1",
            forge: gh,
            repo: "Acme/Shop",
            environment: "Production",
            sha: SHA,
            deployment_id: Some(12),
            source: "gate",
            decision: &decision,
            detail: serde_json::json!({ "decision": decision }),
            delivery_id: None,
            rules_hash: "h",
        })
        .await
        .unwrap();
    let listed = store
        .deploy_decisions("github", "acme/shop", 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].outcome, "allow");
    assert_eq!(listed[0].deployment_id, Some(12));
    assert!(store.deploy_decision("d1").await.unwrap().is_some());
    // GitHub environments compare case-insensitively.
    assert!(
        store
            .allowed_before(gh, "acme/shop", "production", SHA)
            .await
            .unwrap()
    );
    assert!(
        store
            .valid_allow(gh, "acme/shop", "PRODUCTION", SHA, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .valid_allow(
                gh,
                "acme/shop",
                "production",
                SHA,
                now + chrono::Duration::hours(2)
            )
            .await
            .unwrap()
            .is_none()
    );
    let spent = store.spent_exceptions(gh, "acme/shop").await.unwrap();
    assert_eq!(spent.len(), 1);
    assert_eq!(spent[0].change, 7);

    // An allow recorded while no entry governed the environment checked nothing: it never
    // vouches for a later rollback to that SHA.
    let ungoverned_sha = "dddddddddddddddddddddddddddddddddddddddd";
    let free = DeployDecision {
        decision: Outcome::Allow,
        reasons: vec!["no `deployments` entry governs environment `production`".into()],
        until: None,
        entry: None,
        expires: None,
        changes: vec![],
        timing: None,
        exceptions: vec![],
        owed: vec![],
    };
    store
        .record_deploy_decision(&DecisionRecord {
            id: "d-free",
            forge: gh,
            repo: "acme/shop",
            environment: "production",
            sha: ungoverned_sha,
            deployment_id: Some(11),
            source: "gate",
            decision: &free,
            detail: serde_json::json!({ "decision": free }),
            delivery_id: None,
            rules_hash: "h0",
        })
        .await
        .unwrap();
    assert!(
        !store
            .allowed_before(gh, "acme/shop", "production", ungoverned_sha)
            .await
            .unwrap()
    );

    store
        .record_success(
            gh,
            "acme/shop",
            "staging",
            SHA,
            3,
            "allowed",
            None,
            t("2026-03-14T09:00:00Z"),
            "seen",
        )
        .await
        .unwrap();
    store
        .record_success(
            gh,
            "acme/shop",
            "production",
            SHA,
            -1,
            "operator",
            Some("oscar"),
            t("2026-03-14T08:00:00Z"),
            "recorded",
        )
        .await
        .unwrap();
    let b = store
        .baseline(gh, "acme/shop", "Production")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.sha, SHA);
    assert_eq!(
        store
            .counted_successes(gh, "acme/shop", SHA)
            .await
            .unwrap()
            .len(),
        2
    );

    store
        .accept_commit(gh, "acme/shop", SHA, "oscar", "reviewed")
        .await
        .unwrap();
    store
        .accept_commit(gh, "acme/shop", SHA, "mallory", "again")
        .await
        .unwrap();
    let a = store
        .accepted_commit(gh, "acme/shop", SHA)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.by, "oscar", "the first acceptance stands");

    for (kind, source) in [
        (ExceptionEventKind::Requested, ExceptionSource::Label),
        (
            ExceptionEventKind::Confirmed,
            ExceptionSource::Comment { id: 99 },
        ),
    ] {
        let e = ExceptionEvent {
            kind,
            by: User::named("rita"),
            at: Some(t("2026-03-14T10:00:00Z")),
            source,
        };
        store
            .add_exception_event(gh, "acme/shop", 7, &e)
            .await
            .unwrap();
        store
            .add_exception_event(gh, "acme/shop", 7, &e)
            .await
            .unwrap();
    }
    let events = store.exception_events(gh, "acme/shop", 7).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .any(|e| e.source == ExceptionSource::Comment { id: 99 })
    );

    store
        .set_deploy_wait(gh, "acme/shop", "production:run-1", Some("{}"), Some(1))
        .await
        .unwrap();
    assert_eq!(
        store.open_deploy_waits(gh, "acme/shop").await.unwrap(),
        vec!["{}".to_string()]
    );
    store
        .set_deploy_wait(gh, "acme/shop", "production:run-1", None, None)
        .await
        .unwrap();
    assert!(
        store
            .open_deploy_waits(gh, "acme/shop")
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .record_unapproved(
                gh,
                "acme/shop",
                "production",
                SHA,
                5,
                "seen running without an allow"
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_unapproved(gh, "acme/shop", "production", SHA, 5, "again")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .unapproved(gh, "acme/shop", "production", SHA)
            .await
            .unwrap()
            .len(),
        1
    );

    let m = MergeRecord {
        target_branch: Some("main".into()),
        head_sha: Some(SHA.into()),
        pass: true,
        how: "passed".into(),
    };
    store
        .record_merge_verdict(gh, "acme/shop", 7, &m)
        .await
        .unwrap();
    let failed = MergeRecord {
        pass: false,
        ..m.clone()
    };
    store
        .record_merge_verdict(gh, "acme/shop", 7, &failed)
        .await
        .unwrap();
    assert_eq!(
        store.merge_verdict(gh, "acme/shop", 7).await.unwrap(),
        Some(m)
    );
}

/// Two allows decided at once using one exception: one is recorded, the other is told the
/// exception is taken (and nothing of it is recorded); an allow is bound to its deployment.
async fn spent_once(store: Store) {
    let gh = Forge::Github;
    let now = store.clock().now();
    let decision = DeployDecision {
        decision: Outcome::Allow,
        reasons: vec![],
        until: None,
        entry: Some("production".into()),
        expires: Some(now + chrono::Duration::hours(1)),
        changes: vec![],
        timing: Some("exception".into()),
        exceptions: vec![UsedException {
            change: 7,
            lifts: "window".into(),
            requester: "rita".into(),
            requested_at: t("2026-03-14T10:00:00Z"),
            approvals: vec![],
            confirmed_at: None,
        }],
        owed: vec![],
    };
    let record = |id: &'static str, deployment: u64| DecisionRecord {
        id,
        forge: gh,
        repo: "acme/shop",
        environment: "production",
        sha: SHA,
        deployment_id: Some(deployment),
        source: "protection_rule",
        decision: &decision,
        detail: serde_json::json!({}),
        delivery_id: None,
        rules_hash: "h",
    };
    let (a, b) = (record("a", 12), record("b", 13));
    let (a, b) = tokio::join!(
        store.record_deploy_decision(&a),
        store.record_deploy_decision(&b)
    );
    let mut got = vec![a.unwrap(), b.unwrap()];
    got.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        got,
        vec![Recorded::Done, Recorded::ExceptionTaken { change: 7 }]
    );
    let listed = store
        .deploy_decisions("github", "acme/shop", 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "the loser recorded nothing");
    let spent = store.spent_exceptions(gh, "acme/shop").await.unwrap();
    assert_eq!(spent.len(), 1);
    assert!(spent[0].spent_at.is_some());
    // The allow is the winner's deployment's, and no other's.
    let winner = listed[0].deployment_id.unwrap();
    let loser = if winner == 12 { 13 } else { 12 };
    for (id, bound) in [(winner, true), (loser, false)] {
        let allow = store
            .allow_of_deployment(gh, "acme/shop", "production", SHA, id, now)
            .await
            .unwrap();
        assert_eq!(allow.is_some(), bound, "deployment {id}");
    }
}

/// A governed environment's baseline moves only from a success changegate allowed or an
/// operator's record: a trusted deployer's success of a SHA changegate never allowed there
/// stays staging evidence (for `after`), and moves the baseline once that SHA was allowed.
async fn baseline_only_from_checked_successes(store: Store) {
    const LATER: &str = "dddddddddddddddddddddddddddddddddddddddd";
    let gh = Forge::Github;
    let success = |sha: &'static str, id: i64, kind: &'static str, at: &'static str| {
        let store = store.clone();
        async move {
            let by = (kind != "allowed").then_some("release-bot");
            store
                .record_success(
                    gh,
                    "acme/shop",
                    "production",
                    sha,
                    id,
                    kind,
                    by,
                    t(at),
                    kind,
                )
                .await
                .unwrap();
        }
    };
    success(SHA, -1, "operator", "2026-03-14T08:00:00Z").await;
    success(LATER, 9, "trusted", "2026-03-14T09:00:00Z").await;
    let b = store.baseline(gh, "acme/shop", "production").await.unwrap();
    assert_eq!(
        b.map(|b| b.sha).as_deref(),
        Some(SHA),
        "not an unchecked success"
    );
    let evidence = store
        .counted_successes(gh, "acme/shop", LATER)
        .await
        .unwrap();
    assert_eq!(evidence.len(), 1, "still evidence for `after`");
    // An allow of another environment, or an ungoverned one (no expiry), checks nothing here.
    let now = store.clock().now();
    for (id, env, expires) in [
        (
            "d-staging",
            "staging",
            Some(now + chrono::Duration::hours(1)),
        ),
        ("d-free", "production", None),
    ] {
        let allow = DeployDecision {
            decision: Outcome::Allow,
            reasons: vec![],
            until: None,
            entry: expires.map(|_| "production".into()),
            expires,
            changes: vec![],
            timing: None,
            exceptions: vec![],
            owed: vec![],
        };
        store
            .record_deploy_decision(&DecisionRecord {
                id,
                forge: gh,
                repo: "acme/shop",
                environment: env,
                sha: LATER,
                deployment_id: None,
                source: "gate",
                decision: &allow,
                detail: serde_json::json!({}),
                delivery_id: None,
                rules_hash: "h",
            })
            .await
            .unwrap();
        let b = store.baseline(gh, "acme/shop", "production").await.unwrap();
        assert_eq!(b.map(|b| b.sha).as_deref(), Some(SHA), "after {id}");
    }
    // Changegate allowed LATER to production (a `/gate` call): the trusted success counts.
    let allow = DeployDecision {
        decision: Outcome::Allow,
        reasons: vec![],
        until: None,
        entry: Some("production".into()),
        expires: Some(now + chrono::Duration::hours(1)),
        changes: vec![],
        timing: None,
        exceptions: vec![],
        owed: vec![],
    };
    store
        .record_deploy_decision(&DecisionRecord {
            id: "d-gate",
            forge: gh,
            repo: "Acme/Shop",
            environment: "Production",
            sha: LATER,
            deployment_id: None,
            source: "gate",
            decision: &allow,
            detail: serde_json::json!({}),
            delivery_id: None,
            rules_hash: "h",
        })
        .await
        .unwrap();
    let b = store.baseline(gh, "acme/shop", "production").await.unwrap();
    assert_eq!(b.map(|b| b.sha).as_deref(), Some(LATER));
}

#[tokio::test]
async fn deployment_records_round_trip_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    round_trip(Store::open(&url).await.unwrap()).await;
    let url = format!("sqlite://{}", dir.path().join("spent.db").display());
    spent_once(Store::open(&url).await.unwrap()).await;
    let url = format!("sqlite://{}", dir.path().join("baseline.db").display());
    baseline_only_from_checked_successes(Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn deployment_records_round_trip_on_postgres() {
    let Some(base) = common::pg::base_url() else {
        return;
    };
    let url = common::pg::fresh_schema(&base).await;
    round_trip(Store::open(&url).await.unwrap()).await;
    let url = common::pg::fresh_schema(&base).await;
    spent_once(Store::open(&url).await.unwrap()).await;
    let url = common::pg::fresh_schema(&base).await;
    baseline_only_from_checked_successes(Store::open(&url).await.unwrap()).await;
}
