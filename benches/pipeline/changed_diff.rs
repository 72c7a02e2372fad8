//! What `reset_on_push: changed_diff` costs in forge calls: the same events under the shipped
//! rules (the peer approval resets on every push) and with the peer approval under
//! `changed_diff`, on the fake GitHub over a real repository. Expected: one compare (read as
//! JSON and as a diff, both conditional) when the approval is given and one per push, none
//! for other events.

use super::common::git_repo::GitRepo;
use super::common::github_setup::{Setup, setup};
use std::sync::Arc;

fn long(tag: &str) -> String {
    (1..=40).map(|i| format!("{tag} line {i}\n")).collect()
}

fn rules(reset: &str) -> changegate::rules::Rules {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.yaml")).unwrap();
    let text = text.replace(
        "reset_on_push: true          # new commits after the review reset it",
        &format!("reset_on_push: {reset}"),
    );
    changegate::rules::parse("rules.yaml", &text).expect("valid rules")
}

/// (calls, compare calls) of each step, under `reset`.
async fn steps(reset: &str) -> Vec<(&'static str, usize, usize)> {
    let s: Setup = setup().await;
    s.gh.set_time("2026-11-02T12:00:00Z");
    *s.app.worker.rules.write().unwrap() = Arc::new(rules(reset));
    let repo = Arc::new(GitRepo::new(&[
        ("src/login.rs", &long("login")),
        ("src/other.rs", &long("other")),
    ]));
    repo.branch("feature", "main");
    repo.write("src/login.rs", &format!("changed\n{}", long("login")));
    let head = repo.commit("the change");
    s.gh.attach_repo(repo.clone());
    let mut out = vec![];
    let mut measure = |name: &'static str, before: usize| {
        let calls = s.gh.calls();
        let new = &calls[before..];
        let compares = new.iter().filter(|c| c.contains("/compare/")).count();
        out.push((name, new.len(), compares));
        calls.len()
    };
    let mut n = s.gh.calls().len();
    s.push("alice", &head).await;
    n = measure("push of the first head", n);
    s.gh.add_label(7, "CMT::Standard", "alice");
    s.apply_label("pam", "Peer Approval::Approved").await;
    n = measure("peer approval given (label)", n);
    s.apply_label("mona", "BT Integration Manager::Approved")
        .await;
    n = measure("manager approval given", n);
    for round in 0..2 {
        repo.checkout("main");
        repo.write("src/other.rs", &format!("main moved {round}\n"));
        repo.commit("main moves");
        repo.checkout("feature");
        repo.git(&["rebase", "-q", "main"]);
        let rebased = repo.sha("HEAD");
        s.push("alice", &rebased).await;
        n = measure("rebase onto a main that changed another file", n);
        s.deliver("edited", None, "alice", &format!("edit-{round}"))
            .await;
        n = measure("edited after it", n);
    }
    let _ = n;
    out
}

pub async fn print() {
    let always = steps("true").await;
    let diff = steps("changed_diff").await;
    println!(
        "| event | calls (reset_on_push: true) | calls (changed_diff) | of which compare calls |"
    );
    println!("|---|---|---|---|");
    for ((name, a, _), (_, d, compares)) in always.iter().zip(&diff) {
        println!("| {name} | {a} | {d} | {compares} |");
    }
}
