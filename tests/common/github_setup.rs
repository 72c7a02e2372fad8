//! The GitHub scenario most end-to-end tests start from: acme/platypus#7 by alice on the fake
//! GitHub, its teams, and signed `pull_request` deliveries in the change's current state.
#![allow(dead_code)]

use super::github_world::GithubWorld;
use super::*;
use serde_json::{Value, json};

pub const H1: &str = "1111111111111111111111111111111111111111";
pub const H2: &str = "2222222222222222222222222222222222222222";

pub struct Setup {
    pub app: TestApp,
    pub gh: GithubWorld,
}

/// acme/platypus with its teams: olivia owns the business, peter and pam are peers, mona and
/// peter are integration managers, alice (a peer too) authors the changes.
pub async fn setup() -> Setup {
    setup_with(test_clock()).await
}

/// [`setup`] with the bot reading `clock`.
pub async fn setup_with(clock: changegate::clock::Clock) -> Setup {
    let gh = GithubWorld::start().await;
    for (team, who) in [
        ("business-owners", "olivia"),
        ("integrations-team", "peter"),
        ("integrations-team", "pam"),
        ("integrations-team", "alice"),
        ("bt-integration-managers", "mona"),
        ("bt-integration-managers", "peter"),
    ] {
        gh.member(team, who);
    }
    gh.open_pr(7, "alice", H1);
    let app = TestApp::with_forges_at(Some(&gh.url()), None, clock).await;
    Setup { app, gh }
}
/// A time written as RFC 3339.
pub fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// #7 by alice with the bot's clock at `now`; the fake's history follows from the same time.
pub async fn at(now: &str) -> Setup {
    let s = setup_with(changegate::clock::Clock::manual(t(now))).await;
    s.gh.set_time(now);
    s
}

/// Moves the bot's clock (and the fake's history) to `now`, then runs what came due.
pub async fn move_to(s: &Setup, now: &str) {
    s.app.clock.set(t(now));
    s.gh.set_time(now);
    s.app.drain().await;
}

pub fn gh_user(login: &str) -> Value {
    json!({ "login": login, "id": login.bytes().map(u64::from).sum::<u64>(), "type": "User" })
}

/// The corpus `pull_request.labeled` payload, moved to acme/platypus#7 in its current state.
pub fn pr_payload(s: &Setup, action: &str, label: Option<&str>, sender: &str) -> Vec<u8> {
    serde_json::to_vec(&pr_event(s, 7, action, label, sender)).unwrap()
}

/// The corpus `pull_request.labeled` payload, moved to pull request `number` of acme/platypus
/// in its current state on the fake.
pub fn pr_event(s: &Setup, number: u64, action: &str, label: Option<&str>, sender: &str) -> Value {
    let path = corpus_dir().join("github/pull_request.labeled.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let c =
        s.gh.state
            .lock()
            .unwrap()
            .changes
            .iter()
            .find(|c| c.number == number)
            .cloned()
            .expect("the pull request exists on the fake");
    v["action"] = json!(action);
    v["number"] = json!(number);
    v["repository"]["full_name"] = json!("acme/platypus");
    v["repository"]["owner"]["login"] = json!("acme");
    let pr = &mut v["pull_request"];
    pr["number"] = json!(number);
    pr["user"] = gh_user(&c.author);
    pr["head"]["sha"] = json!(c.head);
    pr["base"]["ref"] = json!(c.base);
    pr["state"] = json!(c.state);
    pr["merged"] = json!(c.merged_at.is_some());
    pr["merged_at"] = json!(c.merged_at);
    pr["labels"] = json!(
        c.labels
            .iter()
            .map(|l| json!({ "name": l }))
            .collect::<Vec<_>>()
    );
    match label {
        Some(l) => v["label"] = json!({ "name": l }),
        None => {
            v.as_object_mut().unwrap().remove("label");
        }
    }
    v["sender"] = gh_user(sender);
    v
}

impl Setup {
    pub async fn deliver(
        &self,
        action: &str,
        label: Option<&str>,
        sender: &str,
        delivery: &str,
    ) -> u16 {
        let body = pr_payload(self, action, label, sender);
        let (status, _) = self.app.github("pull_request", delivery, &body).await;
        self.app.drain().await;
        status.as_u16()
    }

    /// A fresh delivery id.
    fn next_delivery(&self) -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        format!("verb-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// `who` applies `label` to #7 on the fake GitHub, which sends the `labeled` webhook.
    pub async fn apply_label(&self, who: &str, label: &str) {
        self.gh.add_label(7, label, who);
        self.deliver("labeled", Some(label), who, &self.next_delivery())
            .await;
    }

    /// `who` removes `label` from #7; the `unlabeled` webhook follows.
    pub async fn remove_label(&self, who: &str, label: &str) {
        self.gh.remove_label(7, label, who);
        self.deliver("unlabeled", Some(label), who, &self.next_delivery())
            .await;
    }

    /// `who` pushes a commit (head `sha`) to #7; the `synchronize` webhook follows.
    pub async fn push(&self, who: &str, sha: &str) {
        self.gh.push_commit_by(7, sha, who);
        self.deliver("synchronize", None, who, &self.next_delivery())
            .await;
    }

    /// `who` submits an approving review on #7's head; the `pull_request_review` webhook
    /// (GitHub's own example, moved to #7) follows.
    pub async fn approve(&self, who: &str) {
        let head = self.gh.state.lock().unwrap().changes[0].head.clone();
        self.gh.approve(7, who, &head);
        let path = corpus_dir().join("github/pull_request_review.submitted.2.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let pr = pr_event(self, 7, "labeled", None, who);
        v["pull_request"] = pr["pull_request"].clone();
        v["repository"] = pr["repository"].clone();
        v["review"]["user"] = gh_user(who);
        v["review"]["state"] = json!("approved");
        v["review"]["commit_id"] = json!(head);
        v["sender"] = gh_user(who);
        let (status, _) = self
            .app
            .github(
                "pull_request_review",
                &self.next_delivery(),
                &serde_json::to_vec(&v).unwrap(),
            )
            .await;
        assert_eq!(status.as_u16(), 202);
        self.app.drain().await;
    }

    /// The last status on `sha`: (state, description).
    pub fn status_of(&self, sha: &str) -> (String, String) {
        self.gh.status(sha).expect("a status was written")
    }

    pub fn comment(&self) -> String {
        let all = self.gh.comments(7);
        assert_eq!(all.len(), 1, "exactly one sticky comment: {all:?}");
        all[0].clone()
    }
}
