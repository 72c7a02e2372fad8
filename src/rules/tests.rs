//! Every mistake a maintainer can make in a rules file gets `line:column: message`.

use super::*;

const HEAD: &str = "version: 1\nenforce:\n  - kind: merge_request\nscopes:\n  - name: CMT\n    values: [Minor, Standard]\napprover_groups:\n  - name: peers\n    github_team: \"{owner}/peers\"\n";

/// The problems of `HEAD + rest`, as "line:column: message".
fn problems(rest: &str) -> Vec<String> {
    match parse("r.yaml", &format!("{HEAD}{rest}")) {
        Ok(_) => vec![],
        Err(e) => e
            .problems
            .iter()
            .map(|p| format!("{}:{}: {}", p.pos.line, p.pos.column, p.message))
            .collect(),
    }
}

fn one(rest: &str) -> String {
    let p = problems(rest);
    assert_eq!(p.len(), 1, "{p:?}");
    p[0].clone()
}

#[test]
fn shipped_rules_are_valid() {
    let r = parse("rules.yaml", include_str!("../../rules.yaml")).unwrap();
    assert_eq!(
        r.summary(),
        "7 rules, 5 approvals, 5 approver groups, 6 scopes, 2 blocked periods"
    );
    assert!(r.distinct_approvers);
    assert_eq!(r.hash.len(), 64);
}

#[test]
fn unknown_key_suggests_the_closest() {
    assert_eq!(
        one("rules:\n  - name: a\n    blok: true\n")
            .split(';')
            .next()
            .unwrap(),
        "12:5: unknown key `blok` (did you mean `block`?)"
    );
    assert!(
        one("approvalz: []\n")
            .starts_with("10:1: unknown key `approvalz` (did you mean `approvals`?)")
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        one("rules:\n  - name: a\n    block: maybe\n"),
        "12:12: invalid boolean: write true or false"
    );
    assert!(one("rules:\n  - name: [a]\n    block: true\n").starts_with("11:11: wrong type"));
    assert!(one("rules: 3\n").starts_with("10:8:"));
    assert!(
        one("rules:\n  - name: a\n    when: {kind: mr}\n    block: true\n")
            .contains("unknown variant `mr`")
    );
}

#[test]
fn unknown_references_suggest_the_closest() {
    let approvals = "approvals:\n  - name: peer\n    label: \"P::Approved\"\n    approvers: peer\n";
    assert!(
        one(approvals).starts_with("13:16: unknown approver group `peer` (did you mean `peers`?)")
    );
    let rules = "approvals:\n  - name: peer\n    label: \"P::Approved\"\n    approvers: peers\nrules:\n  - name: a\n    require: [peeer]\n";
    assert!(one(rules).starts_with("16:15: unknown approval `peeer` (did you mean `peer`?)"));
    assert!(
        one("rules:\n  - name: a\n    when: {has_scope: [cmt]}\n    block: true\n")
            .starts_with("12:24: unknown scope `cmt` (did you mean `CMT`?)")
    );
}

#[test]
fn labels_that_cannot_exist() {
    let cases = [
        (
            "\"CMT::Majr\"",
            "scope `CMT` has no value `Majr` (did you mean `CMT::Minor`?)",
        ),
        ("\"a,b\"", "comma-separated"),
        ("\" x\"", "starts or ends with a space"),
        ("\"::x\"", "both sides of `::`"),
        ("\"x :: y\"", "no spaces may stand next to `::`"),
        ("\"\"", "it is empty"),
        (&format!("\"{}\"", "x".repeat(51)), "at most 50 characters"),
    ];
    for (label, why) in cases {
        let msg = one(&format!("rules:\n  - name: a\n    add_labels: [{label}]\n"));
        assert!(msg.starts_with("12:18: label"), "{msg}");
        assert!(msg.contains("cannot exist") && msg.contains(why), "{msg}");
    }
}

#[test]
fn duplicates_and_rules_that_do_nothing() {
    let p = problems(
        "rules:\n  - name: a\n    block: true\n  - name: a\n    block: true\n  - name: b\n",
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0], "13:11: duplicate rule name `a`");
    assert!(p[1].starts_with("15:11: rule `b` does nothing"));
    let scopes = parse("r.yaml", "version: 1\nenforce: [{}]\nscopes:\n  - name: A\n    values: [x, x]\n  - name: A\n    values: [y]\n").unwrap_err();
    let msgs: Vec<&str> = scopes.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec!["duplicate value name `x`", "duplicate scope name `A`"]
    );
}

#[test]
fn approval_mistakes() {
    let base = "approvals:\n  - name: p\n    approvers: peers\n";
    assert!(one(&format!("{base}    label: plain\n")).contains("must be scoped"));
    assert!(
        one(&format!(
            "{base}    label: \"P::Approved\"\n    pending_label: \"Q::Needs\"\n"
        ))
        .contains("same scope")
            || one(&format!(
                "{base}    label: \"P::Approved\"\n    pending_label: \"Q::Needs\"\n"
            ))
            .contains("another value of the scope")
    );
    let twice = "approvals:\n  - name: p\n    approvers: peers\n    label: \"P::A\"\n  - name: q\n    approvers: peers\n    label: \"P::A\"\n";
    assert!(one(twice).contains("already gives another approval"));
    let forged = "approvals:\n  - name: p\n    approvers: peers\n    label: \"P::A\"\nrules:\n  - name: r\n    add_labels: [\"P::A\"]\n";
    assert!(one(forged).contains("approvals come from people"));
}

#[test]
fn group_mistakes() {
    let p = parse("r.yaml", "version: 1\nenforce: [{}]\napprover_groups:\n  - name: g\n  - name: h\n    github_team: \"{org}/x\"\n  - name: i\n    github_team: \"a/b/c\"\n  - name: j\n    users: {github: [\"@bob\"]}\n").unwrap_err();
    let msgs: Vec<String> = p
        .problems
        .iter()
        .map(|p| format!("{}:{}: {}", p.pos.line, p.pos.column, p.message))
        .collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(msgs[0].starts_with("4:11: approver group `g` has no members"));
    assert!(msgs[1].starts_with("6:18: github_team `{org}/x` has an unknown placeholder"));
    assert!(msgs[2].starts_with("8:18: github_team `a/b/c` must be `org/team-slug`"));
    assert!(
        msgs[3].starts_with("10:22: `@bob` is not a username"),
        "{}",
        msgs[3]
    );
}

#[test]
fn file_level_mistakes() {
    assert_eq!(
        parse("r.yaml", "").unwrap_err().to_string(),
        "r.yaml:1:1: the rules file is empty; it needs at least `version: 1` and `enforce`"
    );
    assert!(
        parse("r.yaml", "version: 1\n")
            .unwrap_err()
            .to_string()
            .contains("missing field `enforce`")
    );
    assert!(
        parse("r.yaml", "version: 2\nenforce: [{}]\n")
            .unwrap_err()
            .to_string()
            .starts_with("r.yaml:1:10: unsupported version 2")
    );
    assert!(
        parse("r.yaml", "version: 1\nenforce: []\n")
            .unwrap_err()
            .to_string()
            .starts_with("r.yaml:2:10: `enforce` is empty")
    );
    let yaml = parse("r.yaml", "version: 1\nenforce: [\n")
        .unwrap_err()
        .to_string();
    assert!(yaml.starts_with("r.yaml:2:"), "{yaml}");
    let dup = parse("r.yaml", "version: 1\nenforce: [{}]\nversion: 1\n")
        .unwrap_err()
        .to_string();
    assert_eq!(dup, "r.yaml:3:1: duplicate mapping key: version");
    let missing = load(std::path::Path::new("/nonexistent/rules.yaml"))
        .unwrap_err()
        .to_string();
    assert!(missing.starts_with("/nonexistent/rules.yaml:1:1: cannot read the rules file"));
}

#[test]
fn teams_resolve_per_repository() {
    let r = parse("rules.yaml", include_str!("../../rules.yaml")).unwrap();
    let g = r.group("business-owners").unwrap();
    let repo = crate::model::RepoPath::new("acme/platypus");
    assert_eq!(
        g.team(crate::model::Forge::Github, &repo)
            .unwrap()
            .mention(),
        "@acme/business-owners"
    );
    let nested = crate::model::RepoPath::new("acme/sub/platypus");
    assert_eq!(
        g.team(crate::model::Forge::Gitlab, &nested),
        Some(TeamRef::GitlabGroup {
            path: "acme/business-owners".into()
        })
    );
}

#[test]
fn schema_describes_the_file() {
    let s = json_schema();
    assert_eq!(s["title"], "changegate rules");
    assert!(s["properties"]["rules"].is_object());
    assert!(s.to_string().contains("native_approvals"));
}

fn central_allowing_repositories() -> Rules {
    let text = format!(
        "{}\nrepository_rules:\n  path: .changegate.yaml\n",
        include_str!("../../rules.yaml")
    );
    parse("rules.yaml", &text).unwrap()
}

#[test]
fn repositories_may_add_rules() {
    let central = central_allowing_repositories();
    assert_eq!(
        central.repository_rules.as_deref(),
        Some(".changegate.yaml")
    );
    let repo = "version: 1\nrules:\n  - name: minor-needs-a-peer-here\n    when: {labels: [\"CMT::Minor\"]}\n    require: [peer]\n";
    let merged = with_repository(&central, ".changegate.yaml", repo).unwrap();
    assert_eq!(merged.rules.len(), central.rules.len() + 1);
    assert_ne!(merged.hash, central.hash);
    assert!(
        merged
            .rules
            .iter()
            .any(|r| r.name == "minor-needs-a-peer-here" && r.require == vec!["peer".to_string()])
    );
}

#[test]
fn repositories_cannot_loosen() {
    let central = central_allowing_repositories();
    let problems = |text: &str| {
        with_repository(&central, ".changegate.yaml", text)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        problems("version: 1\ndistinct_approvers: false\n"),
        ".changegate.yaml:2:21: a repository cannot turn distinct_approvers off: it may only tighten the rules"
    );
    assert!(
        problems("version: 1\nrules:\n  - name: x\n    remove_labels: [\"CMT::Minor\"]\n")
            .contains("cannot remove labels")
    );
    // Redefining a central rule or group is a duplicate, reported in the repository's file.
    assert!(
        problems("version: 1\nrules:\n  - name: classify\n    block: true\n")
            .starts_with(".changegate.yaml:3:11: duplicate rule name `classify`")
    );
    assert!(problems("version: 1\nrulez: []\n").contains("did you mean `rules`"));
    let plain = parse("rules.yaml", include_str!("../../rules.yaml")).unwrap();
    assert!(
        with_repository(&plain, ".changegate.yaml", "version: 1\n")
            .unwrap_err()
            .to_string()
            .contains("do not allow repository rules")
    );
}

#[test]
fn repositories_cannot_touch_the_central_labels() {
    let central = central_allowing_repositories();
    let problems = |text: &str| {
        with_repository(&central, ".changegate.yaml", text)
            .unwrap_err()
            .to_string()
    };
    // A rule that classifies every change as an emergency.
    assert_eq!(
        problems("version: 1\nrules:\n  - name: x\n    add_labels: [\"CMT::Emergency\"]\n"),
        ".changegate.yaml:4:18: repository rules cannot add `CMT::Emergency`: the organization's rules govern that label"
    );
    // Any value of a central scope, declared or not, and central approval labels.
    assert!(
        problems(
            "version: 1\nrules:\n  - name: x\n    add_labels: [\"Peer Approval::Approved\"]\n"
        )
        .contains("cannot add `Peer Approval::Approved`")
    );
    // A role whose label classifies, or stands for a central approval.
    let role = |label: &str, pending: &str| {
        format!(
            "version: 1\napprover_groups:\n  - name: mine\n    users: {{github: [mallory]}}\napprovals:\n  - name: mine\n    label: \"{label}\"\n    pending_label: \"{pending}\"\n    approvers: mine\n"
        )
    };
    let text = problems(&role("CMT::Minor", "Team::Waiting"));
    assert!(
        text.starts_with(".changegate.yaml:7:12: a repository approval cannot use `CMT::Minor`"),
        "{text}"
    );
    let text = problems(&role("Team::Approved", "BT Integration Manager::Approved"));
    assert!(
        text.contains("cannot use `BT Integration Manager::Approved`"),
        "{text}"
    );
    // Labels of the repository's own scopes are fine.
    assert!(
        with_repository(
            &central,
            ".changegate.yaml",
            &format!(
                "{}scopes:\n  - name: Team\n    values: [Approved, Waiting]\n",
                role("Team::Approved", "Team::Waiting")
            )
        )
        .is_ok()
    );
}

const APPROVAL: &str =
    "approvals:\n  - name: peer\n    label: \"Peer::Approved\"\n    approvers: peers\n";

#[test]
fn time_keys_are_validated_with_positions() {
    // HEAD is 9 lines, APPROVAL 4: the rules start on line 14.
    let p = problems(&format!(
        "{APPROVAL}rules:\n  - name: e\n    after_merge:\n      require: [peer, boss]\n      within: 1 day\n      remind: [25h, 1y]\n"
    ));
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].starts_with("17:23: unknown approval `boss`"), "{p:?}");
    assert!(
        p[1].starts_with("18:15: `1 day` is not a duration"),
        "{p:?}"
    );
    assert!(p[2].starts_with("19:21: `1y` is not a duration"), "{p:?}");
    assert!(
        one(&format!(
            "{APPROVAL}rules:\n  - name: e\n    after_merge:\n      require: [peer]\n      within: 24h\n      remind: [25h]\n"
        ))
        .starts_with("19:16: reminder `25h` is not before the deadline")
    );
    assert!(
        one(&format!(
            "{APPROVAL}rules:\n  - name: e\n    after_merge:\n      within: 24h\n"
        ))
        .contains("after_merge owes nothing")
    );
    let p = problems(&format!(
        "{APPROVAL}blocked_periods:\n  - name: q\n    quarter_end: {{before: -7d, after: 7d}}\n    exception: [peer, head-of-it]\n  - name: h\n    from: 2027-01-04\n    to: 2026-12-20T00:00:00Z\n  - name: x\n    from: soon\n    to: 2027-01-01\n  - name: y\n    exception: [peer]\n"
    ));
    assert_eq!(p.len(), 5, "{p:?}");
    assert!(p[0].starts_with("16:27: `-7d` is negative"), "{p:?}");
    assert!(
        p[1].starts_with("17:23: unknown approval `head-of-it`"),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("20:9: blocked period `h` ends before it starts"),
        "{p:?}"
    );
    assert!(p[3].starts_with("22:11: `soon` is not a time"), "{p:?}");
    assert!(
        p[4].starts_with("24:11: blocked period `y` needs either"),
        "{p:?}"
    );
}

#[test]
fn time_keys_read_into_rules() {
    let r = parse(
        "r.yaml",
        &format!(
            "{HEAD}{APPROVAL}rules:\n  - name: e\n    when: {{labels: [\"CMT::Minor\"]}}\n    after_merge:\n      require: [peer]\n      within: 24h\n      retrospective_label: \"Retrospective::Done\"\n      remind: [12h, 1h]\n      overdue_label: \"Emergency::Overdue\"\nblocked_periods:\n  - name: q\n    quarter_end: {{before: 14d, after: 14d}}\n    when: {{any_labels: [\"Financially Significant\"]}}\n    exception: [peer]\n  - name: h\n    from: 2026-12-20T00:00:00Z\n    to: 2027-01-04\n"
        ),
    )
    .unwrap();
    let after = r.rules[0].after_merge.as_ref().unwrap();
    assert_eq!(after.within, chrono::Duration::hours(24));
    assert_eq!(
        after.remind,
        vec![chrono::Duration::hours(1), chrono::Duration::hours(12)]
    );
    assert_eq!(after.overdue_label, Some(Label::new("Emergency::Overdue")));
    assert_eq!(r.blocked_periods.len(), 2);
    assert_eq!(
        r.blocked_periods[0].window,
        Window::QuarterEnd {
            before: chrono::Duration::days(14),
            after: chrono::Duration::days(14)
        }
    );
    assert_eq!(r.blocked_periods[0].exception, vec!["peer".to_string()]);
    assert!(matches!(r.blocked_periods[1].window, Window::Fixed { .. }));
}

mod deployments;
mod repository;
mod reset_on_push;

#[test]
fn commands_are_off_unless_turned_on_with_a_valid_prefix() {
    let none = parse("r.yaml", HEAD).unwrap();
    assert!(none.commands.is_none());
    let off = parse("r.yaml", &format!("{HEAD}commands:\n  enabled: false\n")).unwrap();
    assert!(off.commands.is_none());
    let on = parse("r.yaml", &format!("{HEAD}commands:\n  enabled: true\n")).unwrap();
    assert_eq!(on.commands.unwrap().prefix, "/changegate");
    let shipped = parse("rules.yaml", include_str!("../../rules.yaml")).unwrap();
    assert_eq!(shipped.commands.unwrap().prefix, "/changegate");
    assert_eq!(
        one("commands:\n  enabled: true\n  prefix: /approve\n"),
        "12:11: prefix `/approve` is a GitLab quick action: GitLab would act on it itself (or drop it from the note)"
    );
    assert!(
        one("commands:\n  enabled: true\n  prefix: changegate\n").contains("must start with `/`")
    );
    assert!(one("commands:\n  enabled: true\n  prefx: /cg\n").contains("did you mean `prefix`"));
}

#[test]
fn by_comment_is_on_unless_a_role_refuses_it() {
    let rules = parse(
        "r.yaml",
        &format!(
            "{HEAD}approvals:\n  - name: peer\n    label: \"P::A\"\n    approvers: peers\n  - name: strict\n    label: \"S::A\"\n    approvers: peers\n    by_comment: false\n"
        ),
    )
    .unwrap();
    assert!(rules.approval("peer").unwrap().by_comment);
    assert!(!rules.approval("strict").unwrap().by_comment);
    let s = json_schema().to_string();
    assert!(s.contains("by_comment") && s.contains("\"commands\"") && s.contains("prefix"));
}

#[test]
fn repositories_cannot_turn_commands_on_or_allow_by_comment() {
    let central = central_allowing_repositories();
    let problems = |text: &str| {
        with_repository(&central, ".changegate.yaml", text)
            .unwrap_err()
            .to_string()
    };
    assert!(
        problems("version: 1\ncommands:\n  enabled: true\n").contains("unknown key `commands`"),
        "{}",
        problems("version: 1\ncommands:\n  enabled: true\n")
    );
    let role = "version: 1\napprover_groups:\n  - name: ours\n    github_team: \"{owner}/ours\"\napprovals:\n  - name: ours\n    label: \"Ours::Approved\"\n    approvers: ours\n";
    assert_eq!(
        problems(&format!("{role}    by_comment: true\n")),
        ".changegate.yaml:9:17: a repository approval cannot be given by comment (`by_comment: true`): only the organization's rules may allow it"
    );
    // Left unsaid, a repository's own role is given by its label only; the central roles keep
    // what the organization said, and so do its commands.
    let merged = with_repository(&central, ".changegate.yaml", role).unwrap();
    assert!(!merged.approval("ours").unwrap().by_comment);
    assert!(merged.approval("peer").unwrap().by_comment);
    assert_eq!(merged.commands, central.commands);
}
mod structure;
