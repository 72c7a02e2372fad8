//! `deployments:` as written: every mistake at its line and column, and what it reads into.

use super::*;
use crate::rules::deploy::ChecklistRule;

#[test]
fn deployments_read_into_rules() {
    let r = parse(
        "r.yaml",
        &format!(
            "{HEAD}{APPROVAL}deployments:\n  - name: production\n    environments: [production, \"prod-*\"]\n    windows:\n      - {{name: monthly, days_of_month: [1]}}\n      - name: business\n        weekdays: [Mon, Friday]\n        hours: \"22:00-02:00\"\n        timezone: Europe/London\n        until: 2027-01-01T00:00:00Z\n    after: {{environment: staging, succeeded_for: 30m}}\n    require: [peer]\n    exception: {{require: [peer], confirm: requester}}\n    checklist: complete\n    trusted_deployers: [Deploy-Bot]\n  - name: listed\n    environments: [eu]\n    checklist: [\"Notify the service desk\"]\n    allow_for: 2h\n"
        ),
    )
    .unwrap();
    let d = &r.deployments[0];
    assert_eq!(d.windows.len(), 2);
    assert_eq!(d.windows[1].timezone, chrono_tz::Europe::London);
    assert_eq!(d.windows[0].timezone, chrono_tz::UTC);
    assert_eq!(
        d.after.as_ref().map(|a| a.succeeded_for),
        Some(chrono::Duration::minutes(30))
    );
    assert_eq!(d.checklist, Some(ChecklistRule::Complete));
    assert!(d.trusts("deploy-bot"));
    assert!(!d.trusts("github-actions[bot]"));
    assert_eq!(d.allow_for, chrono::Duration::hours(1));
    assert!(d.exception.as_ref().unwrap().confirm_by_requester);
    let l = &r.deployments[1];
    assert_eq!(
        l.checklist,
        Some(ChecklistRule::Items(vec!["Notify the service desk".into()]))
    );
    assert_eq!(l.allow_for, chrono::Duration::hours(2));
    assert!(r.deployment_for(Forge::Github, "PROD-eu").is_some());
    assert!(r.deployment_for(Forge::Gitlab, "PROD-eu").is_none());
    assert!(r.deployment_for(Forge::Gitlab, "staging").is_none());
    assert!(r.summary().ends_with(", 2 deployment gates"));
}

#[test]
fn deployment_mistakes_are_reported_where_they_stand() {
    // HEAD is 9 lines, APPROVAL 4: `deployments:` is on line 14.
    let p = problems(&format!(
        "{APPROVAL}deployments:\n  - name: p\n    environments: []\n    windows:\n      - {{name: w, weekdays: [Mo], days_of_month: [32], hours: \"9-17\", timezone: Mars/Base, until: 2027-01-01T01:00:00+01:00}}\n      - {{name: w}}\n    after: {{environment: staging, succeeded_for: soon}}\n    require: [boss]\n    exception: {{require: []}}\n    checklist: []\n    allow_for: 0h\n  - name: p\n    environments: [x]\n"
    ));
    let expect = [
        "15:11: deployments entry `p` has no `environments`",
        "18:30: `Mo` is not a weekday",
        "18:51: day of the month 32 is not between 1 and 31",
        "18:63: `9-17` is not an hour range",
        "18:81: `Mars/Base` is not an IANA time zone name",
        "18:99: `2027-01-01T01:00:00+01:00` is not an RFC 3339 UTC time",
        "19:9: window `w` gives no `weekdays`, `days_of_month` or `hours`",
        "19:16: duplicate window name `w`",
        "20:26: `after.environment` `staging` is governed by no `deployments` entry",
        "20:50: `soon` is not a duration",
        "21:15: unknown approval `boss`",
        "22:16: `exception.require` is empty",
        "23:16: `checklist` lists no items",
        "24:16: `0h` is zero",
        "25:11: duplicate deployments entry name `p`",
    ];
    assert_eq!(p.len(), expect.len(), "{p:#?}");
    for (got, want) in p.iter().zip(expect) {
        assert!(
            got.starts_with(want),
            "{got} should start with {want}\n{p:#?}"
        );
    }
    assert!(
        one(&format!(
            "{APPROVAL}deployments:\n  - name: p\n    environments: [x]\n    checklist: partly\n"
        ))
        .contains("`complete`, or a list of task texts")
    );
    assert!(
        one(&format!(
            "{APPROVAL}deployments:\n  - name: p\n    environments: [x]\n    exception: {{require: [peer], confirm: manager}}\n"
        ))
        .contains("requester")
    );
    assert!(
        one(&format!(
            "{APPROVAL}deployments:\n  - name: p\n    environment: [x]\n"
        ))
        .contains("environments")
    );
}

#[test]
fn the_schema_documents_deployments() {
    let schema = json_schema().to_string();
    for key in [
        "trusted_deployers",
        "succeeded_for",
        "days_of_month",
        "allow_for",
        "Exception Deployment::Requested",
        "IANA time zone",
    ] {
        assert!(schema.contains(key), "{key} missing from the schema");
    }
}

#[test]
fn an_after_environment_nothing_can_vouch_for_is_refused() {
    // `staging` governed by no entry, and no trusted deployers: anyone could make its evidence.
    let p = one(&format!(
        "{APPROVAL}deployments:\n  - name: p\n    environments: [production]\n    after: {{environment: staging, succeeded_for: 30m}}\n"
    ));
    assert!(
        p.starts_with("17:26: `after.environment` `staging` is governed by no `deployments` entry"),
        "{p}"
    );
    // Governed by an entry (case-insensitively on GitHub), or vouched for by trusted deployers.
    for ok in [
        "  - name: p\n    environments: [production]\n    after: {environment: staging, succeeded_for: 30m}\n  - name: s\n    environments: [\"Stag*\"]\n",
        "  - name: p\n    environments: [production]\n    after: {environment: staging, succeeded_for: 30m}\n    trusted_deployers: [\"app:deployer\"]\n",
    ] {
        let r = parse("r.yaml", &format!("{HEAD}{APPROVAL}deployments:\n{ok}"));
        assert!(r.is_ok(), "{ok}: {:?}", r.err());
    }
}

#[test]
fn deployment_branches_read_and_mistakes_stand_where_written() {
    let r = parse(
        "r.yaml",
        &format!(
            "{HEAD}{APPROVAL}deployments:\n  - name: p\n    environments: [x]\n    branches: [main, \"release/*\"]\n  - name: d\n    environments: [y]\n"
        ),
    )
    .unwrap();
    let p = &r.deployments[0];
    assert_eq!(p.allows_branch("release/2.1", None), Some(true));
    assert_eq!(p.allows_branch("main", Some("trunk")), Some(true));
    assert_eq!(p.allows_branch("evil", Some("evil")), Some(false));
    // Without `branches`: the repository's default branch, and nothing when it is unknown.
    let d = &r.deployments[1];
    assert_eq!(d.allows_branch("main", Some("main")), Some(true));
    assert_eq!(d.allows_branch("evil", Some("main")), Some(false));
    assert_eq!(d.allows_branch("main", None), None);

    let p = problems(&format!(
        "{APPROVAL}deployments:\n  - name: p\n    environments: [x]\n    branches: [\"refs/heads/main\", \" \"]\n"
    ));
    let expect = [
        "17:16: branch glob `refs/heads/main` must name a branch",
        "17:35: a branch glob cannot be empty",
    ];
    assert_eq!(p.len(), expect.len(), "{p:#?}");
    for (got, want) in p.iter().zip(expect) {
        assert!(
            got.starts_with(want),
            "{got} should start with {want}\n{p:#?}"
        );
    }
}
