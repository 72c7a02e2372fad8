//! The hot paths, measured with criterion: signature verification, typed payload parse, both
//! together (the floor of any receiver), and rules evaluation with the shipped rules and with
//! 1,000 generated rules.
//!
//!   cargo bench --bench hotpaths

use changegate::model::{ChangeKind, Label, User};
use changegate::policy::{self, LabelEvent, Snapshot};
use changegate::server::github;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::path::Path;

const SECRET: &[u8] = b"bench-secret";

fn payload() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github/pull_request.labeled.1.json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("corpus")).expect("json");
    serde_json::to_vec(&v).expect("compact")
}

fn snapshot(body: &[u8]) -> Snapshot {
    let event = github::parse("pull_request", None, body).expect("parse");
    let mut change = event.change().expect("change").clone();
    change.change.kind = ChangeKind::MergeRequest;
    change.change.labels = [
        "CMT::Standard",
        "Peer Approval::Approved",
        "BT Integration Manager::Approved",
    ]
    .iter()
    .map(|l| Label::new(l))
    .collect();
    let mut snap = Snapshot::from_event(&change, chrono::Utc::now());
    snap.label_events = change
        .change
        .labels
        .iter()
        .zip(["alice", "pam", "mona"])
        .map(|(l, who)| LabelEvent {
            label: l.clone(),
            added: true,
            actor: User::named(who),
            at: None,
        })
        .collect();
    snap.memberships
        .set("integrations-team", &User::named("pam"), true);
    snap.memberships
        .set("bt-integration-managers", &User::named("mona"), true);
    snap
}

fn generated_rules(n: usize) -> changegate::rules::Rules {
    let mut text = String::from("version: 1\nenforce:\n  - kind: merge_request\nrules:\n");
    for i in 0..n {
        text.push_str(&format!("  - name: r{i}\n    when: {{labels: [\"team-{i}\"], target_branch: [\"release/*\"]}}\n    block: true\n"));
    }
    changegate::rules::parse("generated.yaml", &text).expect("generated rules are valid")
}

fn benches(c: &mut Criterion) {
    let body = payload();
    let header = github::sign(SECRET, &body);
    let secrets = vec![SECRET.to_vec()];
    c.bench_function("verify", |b| {
        b.iter(|| github::verify(&secrets, Some(&header), black_box(&body)).is_ok())
    });
    c.bench_function("parse", |b| {
        b.iter(|| github::parse("pull_request", None, black_box(&body)).is_ok())
    });
    c.bench_function("floor", |b| {
        b.iter(|| {
            github::verify(&secrets, Some(&header), black_box(&body)).is_ok()
                && github::parse("pull_request", None, black_box(&body)).is_ok()
        })
    });
    let shipped =
        changegate::rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.yaml"))
            .expect("rules");
    let snap = snapshot(&body);
    c.bench_function("evaluate/shipped", |b| {
        b.iter(|| policy::evaluate(&shipped, black_box(&snap)))
    });
    for n in [10, 100, 1000] {
        let rules = generated_rules(n);
        c.bench_function(&format!("evaluate/{n}_rules"), |b| {
            b.iter(|| policy::evaluate(&rules, black_box(&snap)))
        });
    }
}

criterion_group!(hot, benches);
criterion_main!(hot);
