//! Accounts read through GraphQL are named as REST names them: an App is a `Bot` whose
//! GraphQL login is `name`, REST's `name[bot]`. Whatever compares logins (the bot's own
//! account, approvers, trusted deployers) sees the same account through either API.

mod common;

use changegate::forge::github::GithubClient;
use changegate::worker::ForgeClients;
use common::github_setup::*;
use std::sync::Arc;

const MANAGER: &str = "BT Integration Manager::Approved";
const PEER: &str = "Peer Approval::Approved";

/// #7 on a repository changegate already saw, the bot being the GitHub App `changegate`
/// (`changegate[bot]`), read through GraphQL if `graphql`.
async fn as_app(graphql: bool) -> Setup {
    let mut s = at("2026-11-02T10:00:00Z").await;
    if graphql {
        s.gh.enable_graphql();
    }
    s.gh.bot_is_app("changegate");
    let gh = GithubClient::new(&s.gh.url(), "gh-token", common::test_retry()).unwrap();
    s.app.worker.forges =
        Arc::new(ForgeClients::new(Some(gh), None).with_bots(Some("changegate[bot]"), None));
    for (id, name) in [("LA_bt", MANAGER), ("LA_peer", PEER)] {
        s.gh.state
            .lock()
            .unwrap()
            .label_nodes
            .push((id.into(), name.into()));
    }
    s.gh.add_label(7, "team::docs", "alice");
    s.deliver("labeled", Some("team::docs"), "alice", "d0")
        .await;
    move_to(&s, "2026-11-02T10:05:00Z").await;
    s
}

/// alice approves her own change; the App removes the label (as `changegate[bot]`) and says
/// why. On the next event GraphQL shows that removal by the `Bot` `changegate`: it is the
/// bot's own, so the comment keeps saying why, exactly as when REST reads the history.
#[tokio::test]
async fn the_apps_own_label_removal_is_its_own_through_graphql() {
    let mut comments = vec![];
    for graphql in [false, true] {
        let s = as_app(graphql).await;
        s.gh.add_label(7, "CMT::Minor", "alice");
        s.gh.add_label(7, MANAGER, "alice");
        s.deliver("labeled", Some(MANAGER), "alice", "d1").await;
        assert!(!s.gh.labels(7).contains(&MANAGER.to_string()), "{graphql}");
        let removed = s.gh.state.lock().unwrap().events.iter().any(|(_, e)| {
            e["event"] == "unlabeled"
                && e["label"]["name"] == MANAGER
                && e["actor"]["login"] == "changegate[bot]"
        });
        assert!(removed, "the App removed the label as changegate[bot]");
        let first = s.comment();
        assert!(first.contains("@alice"), "{graphql}: {first}");

        s.gh.clear_calls();
        s.gh.set_body(7, "Now with a description.");
        s.deliver("edited", None, "alice", "d2").await;
        assert_eq!(s.status_of(H1).0, "failure", "{graphql}");
        assert_eq!(s.comment(), first, "{graphql}: the reason stays");
        if graphql {
            assert!(
                !s.gh.calls().iter().any(|c| c.contains("/issues/7/events")),
                "{:#?}",
                s.gh.calls()
            );
        }
        comments.push(s.comment());
    }
    assert_eq!(comments[0], comments[1]);
}

/// An App that is an approver (a team member as `deploy-app[bot]`) applies the manager label:
/// through GraphQL the application is attributed to `deploy-app[bot]`, as REST's history says.
#[tokio::test]
async fn a_label_applied_by_an_app_is_attributed_to_its_rest_login() {
    let mut verdicts = vec![];
    for graphql in [false, true] {
        let s = as_app(graphql).await;
        s.gh.member("bt-integration-managers", "deploy-app[bot]");
        s.gh.add_label(7, "CMT::Minor", "alice");
        s.gh.add_label(7, MANAGER, "deploy-app[bot]");
        s.deliver("labeled", Some(MANAGER), "deploy-app[bot]", "d1")
            .await;
        let (state, _) = s.status_of(H1);
        assert!(
            s.comment().contains("deploy-app[bot]"),
            "{graphql}: {}",
            s.comment()
        );
        verdicts.push(state);
    }
    assert_eq!(verdicts, ["success", "success"]);
}
