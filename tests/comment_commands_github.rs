//! Comment commands end to end on the fake GitHub: `issue_comment` webhooks (the corpus
//! payloads moved to acme/platypus#7) through the real router, store and worker.

mod common;

use common::github_setup::*;
use serde_json::json;

const MANAGER: &str = "BT Integration Manager::Approved";

/// The bot's sticky comment on #7.
fn sticky(s: &Setup) -> String {
    s.gh.comments(7)
        .into_iter()
        .find(|c| c.starts_with(changegate::comment::MARKER))
        .expect("the sticky comment")
}

/// #7 classified Minor by its author: it needs the manager's approval.
async fn minor() -> Setup {
    let s = setup().await;
    s.apply_label("alice", "CMT::Minor").await;
    assert_eq!(s.status_of(H1).0, "failure");
    s
}

#[tokio::test]
async fn approvers_outside_the_repository_approve_by_comment_and_the_change_passes() {
    let s = setup().await;
    s.apply_label("alice", "CMT::Comprehensive").await;
    // olivia is a business owner who cannot label: she comments.
    let id = s
        .say(
            "olivia",
            "Looks right for the business.\n/changegate approve business-owner",
        )
        .await;
    assert!(
        s.gh.labels(7)
            .contains(&"Business Owner Approval::Approved".to_string())
    );
    assert!(s.gh.reactions().contains(&(id, "+1".to_string())));
    s.say("pam", "/changegate approve peer").await;
    s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", sticky(&s));
    let c = sticky(&s);
    assert!(c.contains("by @olivia"), "{c}");
    assert!(c.contains("(by comment)"), "{c}");
    // The record comes first, then the label; the record names the person.
    let records = s
        .app
        .store
        .comment_commands("github:acme/platypus:merge_request:7", &["approve"])
        .await
        .unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.accepted));
    assert!(records[0].url.as_deref().unwrap().contains("issuecomment-"));
}

#[tokio::test]
async fn the_authors_command_is_refused_and_the_comment_says_why() {
    let s = minor().await;
    s.say("alice", "/changegate approve manager").await;
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
    assert_eq!(s.status_of(H1).0, "failure");
    let c = sticky(&s);
    assert!(c.contains("Refused commands"), "{c}");
    assert!(c.contains("@alice is the author of this change"), "{c}");
    // alice is in a group (integrations-team): she gets the reaction, nothing else.
}

#[tokio::test]
async fn a_stranger_gets_no_reaction_and_nothing_changes() {
    let s = minor().await;
    let before = sticky(&s);
    s.gh.clear_calls();
    s.say("erin", "/changegate approve manager").await;
    assert!(s.gh.reactions().is_empty());
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
    // Neither the author nor in an approver group: counted only, never recorded or shown,
    // and the bot writes nothing for it.
    assert_eq!(sticky(&s), before);
    assert!(s.gh.writes().is_empty(), "{:?}", s.gh.writes());
    let records = s
        .app
        .store
        .comment_commands("github:acme/platypus:merge_request:7", &[])
        .await
        .unwrap();
    assert!(records.is_empty(), "{records:?}");
}

#[tokio::test]
async fn a_members_refusal_is_shown_with_why() {
    let s = minor().await;
    // pam is a peer (integrations-team), not a manager.
    s.say("pam", "/changegate approve manager").await;
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
    assert!(sticky(&s).contains("@pam is not in `bt-integration-managers`"));
}

#[tokio::test]
async fn commands_written_as_text_do_nothing() {
    for body in [
        "```\n/changegate approve manager\n```",
        "> /changegate approve manager",
        "<!-- /changegate approve manager -->",
        "I will run /changegate approve manager later",
        "`/changegate approve manager`",
        "<details>\n\n/changegate approve manager\n\n</details>",
    ] {
        let s = minor().await;
        s.say("mona", body).await;
        assert!(!s.gh.labels(7).contains(&MANAGER.to_string()), "{body}");
        assert_eq!(s.status_of(H1).0, "failure", "{body}");
        assert!(s.gh.reactions().is_empty(), "{body}");
    }
}

#[tokio::test]
async fn withdraw_takes_the_approval_back_and_puts_the_pending_label_back() {
    let s = minor().await;
    s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success");
    s.say("mona", "/changegate withdraw").await;
    assert_eq!(s.status_of(H1).0, "failure");
    let labels = s.gh.labels(7);
    assert!(!labels.contains(&MANAGER.to_string()), "{labels:?}");
    assert!(labels.contains(&"BT Integration Manager::Needs Approval".to_string()));
}

#[tokio::test]
async fn a_comment_edited_by_another_account_loses_its_approval() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success");
    // An admin edits mona's comment: GitHub's `edited` names them as `sender`.
    s.gh.edit_comment(id, "/changegate approve manager\nedited");
    s.deliver_comment("edited", id, "peter").await;
    assert_eq!(s.status_of(H1).0, "failure");
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
}

#[tokio::test]
async fn an_authors_edit_that_keeps_the_command_keeps_the_approval() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    s.gh.edit_comment(id, "/changegate approve manager\n(typo fixed)");
    s.deliver_comment("edited", id, "mona").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", sticky(&s));
}

#[tokio::test]
async fn an_authors_edit_that_changes_the_command_line_withdraws_the_approval() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", sticky(&s));
    // The role is still named, but not by the line that gave it.
    s.gh.edit_comment(id, "/changegate approve business-owner manager");
    s.deliver_comment("edited", id, "mona").await;
    assert_eq!(s.status_of(H1).0, "failure", "{}", sticky(&s));
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
}

#[tokio::test]
async fn a_comment_whose_time_is_unknown_approves_nothing() {
    let s = minor().await;
    let id = s.gh.post_comment(7, "mona", "/changegate approve manager");
    let mut v = s.comment_event_on(7, "created", id, "mona");
    v["comment"]["created_at"] = json!(null);
    let (status, _) = s
        .app
        .github(
            "issue_comment",
            "comment-no-time",
            &serde_json::to_vec(&v).unwrap(),
        )
        .await;
    assert_eq!(status.as_u16(), 202);
    s.app.drain().await;
    assert_eq!(s.status_of(H1).0, "failure");
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
    let c = sticky(&s);
    assert!(
        c.contains("did not say when the comment was written"),
        "{c}"
    );
}

#[tokio::test]
async fn a_deleted_approval_comment_is_withdrawn() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success");
    s.gh.delete_comment(id);
    s.deliver_comment("deleted", id, "mona").await;
    assert_eq!(s.status_of(H1).0, "failure");
}

#[tokio::test]
async fn a_deletion_whose_webhook_was_lost_is_found_before_passing() {
    let s = minor().await;
    let id = s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success");
    s.gh.delete_comment(id);
    // Any later evaluation reads the comment back before it passes.
    s.apply_label("alice", "bug").await;
    assert_eq!(s.status_of(H1).0, "failure");
}

#[tokio::test]
async fn an_edit_that_adds_a_command_grants_nothing() {
    let s = minor().await;
    let id = s.say("mona", "Looking at it.").await;
    s.gh.edit_comment(id, "Looking at it.\n/changegate approve manager");
    s.deliver_comment("edited", id, "mona").await;
    assert!(!s.gh.labels(7).contains(&MANAGER.to_string()));
    assert!(sticky(&s).contains("added by an edit"));
}

#[tokio::test]
async fn bots_apps_and_email_replies_are_ignored() {
    for (key, value) in [
        ("type", json!("Bot")),
        (
            "performed_via_github_app",
            json!({ "id": 1, "slug": "helper" }),
        ),
        ("createdViaEmail", json!(true)),
    ] {
        let s = minor().await;
        let id = s.gh.post_comment(7, "mona", "/changegate approve manager");
        s.gh.set_comment_meta(id, key, value.clone());
        s.deliver_comment("created", id, "mona").await;
        assert!(!s.gh.labels(7).contains(&MANAGER.to_string()), "{key}");
        assert_eq!(s.status_of(H1).0, "failure", "{key}");
    }
}

#[tokio::test]
async fn a_label_applied_as_the_bot_without_a_record_does_not_count() {
    let s = minor().await;
    s.apply_label(common::github_world::BOT, MANAGER).await;
    assert_eq!(s.status_of(H1).0, "failure");
}

#[tokio::test]
async fn a_push_resets_a_by_comment_approval_that_resets_on_push() {
    // The bot's clock and the fake's history run together, so that the push's arrival and
    // the comments can be placed in time.
    let s = at("2026-02-10T09:00:00Z").await;
    move_to(&s, "2026-02-10T09:10:00Z").await;
    s.apply_label("alice", "CMT::Standard").await;
    s.say("pam", "/changegate approve peer").await;
    s.say("mona", "/changegate approve manager").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", sticky(&s));
    move_to(&s, "2026-02-10T10:00:00Z").await;
    s.push("alice", H2).await;
    assert_eq!(s.status_of(H2).0, "failure");
    assert!(
        !s.gh
            .labels(7)
            .contains(&"Peer Approval::Approved".to_string())
    );
    // An approval of an older head is refused.
    s.say("pam", &format!("/changegate approve peer @{}", &H1[..7]))
        .await;
    assert_eq!(s.status_of(H2).0, "failure");
    assert!(sticky(&s).contains("is not the head"));
    s.say("pam", &format!("/changegate approve peer @{}", &H2[..7]))
        .await;
    assert_eq!(s.status_of(H2).0, "success", "{}", sticky(&s));
}

#[tokio::test]
async fn recheck_is_rate_limited() {
    let s = minor().await;
    s.say("mona", "/changegate recheck").await;
    s.say("mona", "/changegate recheck").await;
    let all = s
        .app
        .store
        .comment_commands("github:acme/platypus:merge_request:7", &["recheck"])
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].accepted);
    assert!(!all[1].accepted);
    assert!(sticky(&s).contains("at most one a minute"));
}

#[tokio::test]
async fn a_lost_webhooks_command_counts_after_reconcile() {
    let s = minor().await;
    // The comment exists on GitHub; its webhook never arrived.
    s.gh.post_comment(7, "mona", "/changegate approve manager");
    let rules = common::shipped_rules();
    let rules = rules.read().unwrap().clone();
    let client = changegate::forge::github::GithubClient::new(
        &s.gh.url(),
        "t",
        changegate::forge::RetryPolicy::default(),
    )
    .unwrap();
    changegate::reconcile::pass(
        &s.app.store,
        &client,
        &rules,
        changegate::model::Forge::Github,
        &changegate::model::RepoPath::new("acme/platypus"),
    )
    .await
    .unwrap();
    s.app.drain().await;
    assert_eq!(s.status_of(H1).0, "success", "{}", sticky(&s));
}

#[tokio::test]
async fn a_stranger_flooding_commands_leaves_the_sticky_comment_bounded() {
    let s = minor().await;
    let before = sticky(&s);
    s.gh.clear_calls();
    let flood: String = (0..30)
        .map(|n| format!("/changegate approve manager\n/changegate nonsense{n}\n"))
        .collect();
    for _ in 0..6 {
        s.say("erin", &flood).await;
    }
    // No edit of the sticky comment, no reaction, no record: a stranger makes the bot write
    // nothing.
    assert_eq!(sticky(&s), before);
    assert!(s.gh.writes().is_empty(), "{:?}", s.gh.writes());
    assert!(s.gh.reactions().is_empty());
    let records = s
        .app
        .store
        .comment_commands("github:acme/platypus:merge_request:7", &[])
        .await
        .unwrap();
    assert!(records.is_empty(), "{records:?}");
}

#[tokio::test]
async fn at_most_ten_commands_of_a_comment_are_read() {
    let s = minor().await;
    let many: String = (0..25)
        .map(|n| format!("/changegate nonsense{n}\n"))
        .collect();
    s.say("pam", &many).await;
    let records = s
        .app
        .store
        .comment_commands("github:acme/platypus:merge_request:7", &[])
        .await
        .unwrap();
    // Ten read and refused, and one more saying the rest were not read.
    assert_eq!(records.len(), 11, "{records:?}");
    assert!(
        records[10]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("at most 10 commands per comment")),
        "{records:?}"
    );
    let c = sticky(&s);
    assert!(c.contains("the latest 5 of 11"), "{c}");
}

#[tokio::test]
async fn help_and_exception_commands_are_recorded() {
    let s = minor().await;
    s.say("alice", "/changegate request exception").await;
    s.say("alice", "/changegate confirm").await;
    s.say("mona", "/changegate help").await;
    let got = s
        .app
        .store
        .exception_commands("github:acme/platypus:merge_request:7")
        .await
        .unwrap();
    let kinds: Vec<&str> = got.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, vec!["request_exception", "confirm"]);
    assert_eq!(got[0].person.username.as_deref(), Some("alice"));
    let c = sticky(&s);
    assert!(c.contains("/changegate approve ROLE"), "{c}");
    assert!(c.contains("`manager`"), "{c}");
}

#[tokio::test]
async fn a_review_body_approves_unless_it_requests_changes_and_its_dismissal_withdraws() {
    let s = minor().await;
    let refused = s.gh.post_review(
        7,
        "mona",
        "CHANGES_REQUESTED",
        "/changegate approve manager",
    );
    s.deliver_review("submitted", refused, "mona").await;
    assert_eq!(s.status_of(H1).0, "failure");
    assert!(sticky(&s).contains("requests changes"), "{}", sticky(&s));
    let id =
        s.gh.post_review(7, "mona", "COMMENTED", "Fine.\n/changegate approve manager");
    s.deliver_review("submitted", id, "mona").await;
    assert_eq!(s.status_of(H1).0, "success", "{}", sticky(&s));
    // No reaction on a review: GitHub has none.
    assert!(s.gh.reactions().is_empty());
    s.gh.dismiss_review(id);
    s.deliver_review("dismissed", id, "alice").await;
    assert_eq!(s.status_of(H1).0, "failure");
}

#[tokio::test]
async fn the_audit_export_shows_approvals_given_by_comment_with_their_link() {
    let s = minor().await;
    s.say("mona", "/changegate approve manager").await;
    let rows = s
        .app
        .store
        .audit_rows("github", "acme/platypus", Some(7), 0)
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.kind == "comment_command"));
    let records = changegate::report::build(&rows, "CMT").unwrap();
    let approval = &records[0].approvals[0];
    assert_eq!(approval.via, "comment");
    assert!(
        approval
            .comment_url
            .as_deref()
            .unwrap()
            .contains("issuecomment-")
    );
    assert!(changegate::report::to_csv(&records).contains("by comment https://github.com/"));
}
