//! Freeze exceptions lift one freeze, end to end on the fake GitHub with the clock moved:
//! exceptions given at the December quarter close do not lift the March one, and new commits
//! need new exceptions.

mod common;

use changegate::clock::Clock;
use common::github_setup::{H1, H2, Setup, move_to, setup_with, t};

fn sticky(s: &Setup) -> String {
    s.gh.comments(7)
        .into_iter()
        .find(|c| c.starts_with("<!-- changegate:sticky-comment -->"))
        .expect("the sticky comment")
}

#[tokio::test]
async fn exceptions_given_in_december_do_not_lift_the_march_close_and_a_push_resets_them() {
    let now = "2026-12-28T10:00:00Z";
    let s = setup_with(Clock::manual(t(now))).await;
    s.gh.set_time(now);
    s.gh.member("head-of-it", "hank");
    s.gh.member("business-exception-approvers", "bea");
    s.apply_label("alice", "CMT::Standard").await;
    s.apply_label("peter", "Peer Approval::Approved").await;
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    s.apply_label("hank", "Head of IT Exception::Approved")
        .await;
    s.apply_label("bea", "Business Exception::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}");
    s.app.worker.schedule_boundaries().await.unwrap();

    // The December close ends; the March one starts with no webhook, and December's
    // exceptions do not lift it.
    move_to(&s, "2027-01-07T00:00:01Z").await;
    assert_eq!(s.status_of(H1).0, "success");
    move_to(&s, "2027-03-24T00:00:01Z").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "failure", "{description}");
    assert!(
        description.contains("quarter-close until 2027-04-07 00:00 UTC"),
        "{description}"
    );
    let labels = s.gh.labels(7);
    for gone in [
        "Head of IT Exception::Approved",
        "Business Exception::Approved",
    ] {
        assert!(!labels.contains(&gone.to_string()), "{labels:?}");
    }
    for asked in [
        "Head of IT Exception::Needs Approval",
        "Business Exception::Needs Approval",
    ] {
        assert!(labels.contains(&asked.to_string()), "{labels:?}");
    }
    let comment = sticky(&s);
    assert!(
        comment.contains("given on 2026-12-28 for the freeze until 2027-01-07"),
        "{comment}"
    );

    // Given again for this close: green.
    s.app.clock.set(t("2027-03-25T09:00:00Z"));
    s.gh.set_time("2027-03-25T09:00:00Z");
    s.apply_label("hank", "Head of IT Exception::Approved")
        .await;
    s.apply_label("bea", "Business Exception::Approved").await;
    let (state, description) = s.status_of(H1);
    assert_eq!(state, "success", "{description}");

    // New commits: the exceptions are spent (whatever the approvals' own reset_on_push).
    s.app.clock.set(t("2027-03-25T12:00:00Z"));
    s.gh.set_time("2027-03-25T12:00:00Z");
    s.push("alice", H2).await;
    let (state, description) = s.status_of(H2);
    assert_eq!(state, "failure", "{description}");
    let labels = s.gh.labels(7);
    assert!(
        !labels.contains(&"Head of IT Exception::Approved".to_string()),
        "{labels:?}"
    );
    assert!(
        sticky(&s).contains("new commits were pushed after it was given"),
        "{}",
        sticky(&s)
    );
}
