//! The records of comment commands, on SQLite and (when CHANGEGATE_TEST_DATABASE_URL is set)
//! PostgreSQL: a command and what it grants in one go, a line never taken twice, withdrawals,
//! and the exception requests and confirmations the deployment gates count.

mod common;

use changegate::commands::{CommandRecord, CommentApproval};
use changegate::model::{CommentSource, User};
use changegate::store::{CommandEffect, Store};

const KEY: &str = "github:acme/platypus:merge_request:7";

fn when(minute: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 2, 10, 9, minute, 0)
        .single()
        .unwrap()
}

fn person(name: &str, id: u64) -> User {
    User {
        id: Some(id),
        username: Some(name.into()),
    }
}

fn command(kind: &str, who: &User, comment_id: u64, line: u32, accepted: bool) -> CommandRecord {
    CommandRecord {
        kind: kind.into(),
        text: format!("/changegate {kind}"),
        person: who.clone(),
        at: when(comment_id as u32 % 60),
        source: CommentSource::IssueComment,
        comment_id,
        line,
        url: Some(format!(
            "https://github.com/acme/platypus/pull/7#issuecomment-{comment_id}"
        )),
        accepted,
        reason: (!accepted).then(|| "refused".to_string()),
    }
}

fn grant(role: &str, who: &User, comment_id: u64) -> CommentApproval {
    CommentApproval {
        role: role.into(),
        by: who.clone(),
        at: when(comment_id as u32 % 60),
        source: CommentSource::IssueComment,
        comment_id,
        url: None,
        head: Some("1111111111111111111111111111111111111111".into()),
        body_sha: changegate::commands::body_sha("/changegate approve manager"),
        node_id: Some(format!("IC_{comment_id}")),
    }
}

async fn exercise(store: &Store) {
    let mona = person("mona", 427);
    let alice = person("alice", 510);
    let given = [grant("manager", &mona, 1)];
    assert!(
        store
            .record_command(
                KEY,
                &command("approve", &mona, 1, 0, true),
                CommandEffect::Grant(&given)
            )
            .await
            .unwrap()
    );
    // The same line again (a redelivery, a reconcile): nothing written.
    assert!(
        !store
            .record_command(
                KEY,
                &command("approve", &mona, 1, 0, true),
                CommandEffect::Grant(&given)
            )
            .await
            .unwrap()
    );
    let lines = store
        .comment_lines(KEY, CommentSource::IssueComment, 1)
        .await
        .unwrap();
    assert_eq!(lines, vec![command("approve", &mona, 1, 0, true)]);
    let standing = store.comment_approvals(KEY).await.unwrap();
    assert_eq!(standing, given.to_vec());
    // The author's edit that keeps the command: the new text is the known one.
    store
        .remember_comment_body(KEY, CommentSource::IssueComment, 1, "new")
        .await
        .unwrap();
    assert_eq!(
        store.comment_approvals(KEY).await.unwrap()[0].body_sha,
        "new"
    );
    // Withdrawn by the giver's command: someone else's command withdraws nothing of hers.
    store
        .record_command(
            KEY,
            &command("withdraw", &alice, 2, 0, true),
            CommandEffect::Withdraw {
                person: &alice,
                roles: &[],
            },
        )
        .await
        .unwrap();
    assert_eq!(store.comment_approvals(KEY).await.unwrap().len(), 1);
    store
        .record_command(
            KEY,
            &command("withdraw", &mona, 3, 0, true),
            CommandEffect::Withdraw {
                person: &mona,
                roles: &["manager".to_string()],
            },
        )
        .await
        .unwrap();
    assert!(store.comment_approvals(KEY).await.unwrap().is_empty());
    // Withdrawn because its comment went.
    let again = [grant("manager", &mona, 4)];
    store
        .record_command(
            KEY,
            &command("approve", &mona, 4, 0, true),
            CommandEffect::Grant(&again),
        )
        .await
        .unwrap();
    let gone = store
        .withdraw_comment(KEY, CommentSource::IssueComment, 4, "deleted")
        .await
        .unwrap();
    assert_eq!(gone, again.to_vec());
    assert!(store.comment_approvals(KEY).await.unwrap().is_empty());
    // Exception requests and confirmations, accepted ones only; rechecks by person.
    for (id, kind, accepted) in [
        (5, "request_exception", true),
        (6, "confirm", false),
        (7, "confirm", true),
        (8, "recheck", true),
    ] {
        store
            .record_command(
                KEY,
                &command(kind, &alice, id, 0, accepted),
                CommandEffect::None,
            )
            .await
            .unwrap();
    }
    let asked: Vec<(String, u64)> = store
        .exception_commands(KEY)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.comment_id))
        .collect();
    assert_eq!(
        asked,
        vec![
            ("request_exception".to_string(), 5),
            ("confirm".to_string(), 7)
        ]
    );
    assert!(store.last_recheck(KEY, &alice).await.unwrap().is_some());
    assert!(store.last_recheck(KEY, &mona).await.unwrap().is_none());
    let all = store.comment_commands(KEY, &[]).await.unwrap();
    assert_eq!(all.len(), 8);
    assert!(
        all.iter()
            .any(|c| !c.accepted && c.reason.as_deref() == Some("refused"))
    );
    let kinds = store
        .comment_commands(KEY, &["confirm", "recheck"])
        .await
        .unwrap();
    assert_eq!(
        kinds.iter().map(|c| c.comment_id).collect::<Vec<_>>(),
        vec![6, 7, 8]
    );
    // The sticky comment's refusals: the latest few and how many in all, by a bounded read.
    for id in 10..20 {
        store
            .record_command(
                KEY,
                &command("approve", &alice, id, 0, false),
                CommandEffect::None,
            )
            .await
            .unwrap();
    }
    let (latest, total) = store.latest_refusals(KEY, 3).await.unwrap();
    assert_eq!(total, 11);
    assert_eq!(
        latest.iter().map(|c| c.comment_id).collect::<Vec<_>>(),
        vec![17, 18, 19]
    );
    assert!(!store.help_asked(KEY).await.unwrap());
    store
        .record_command(
            KEY,
            &command("help", &alice, 30, 0, true),
            CommandEffect::None,
        )
        .await
        .unwrap();
    assert!(store.help_asked(KEY).await.unwrap());
}

#[tokio::test]
async fn command_records_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cg.db").display());
    exercise(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn command_records_on_postgres() {
    let Some(base) = common::pg::base_url() else {
        return;
    };
    let url = common::pg::fresh_schema(&base).await;
    exercise(&Store::open(&url).await.unwrap()).await;
}
