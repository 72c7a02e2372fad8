//! From the file as written to validated [`Rules`], collecting every problem with its position.

use super::periods::{self, AfterMerge, BlockedPeriod, Window};
use super::schema::{self, Pos, RulesFile, Sp};
use super::yaml::{closest, unknown};
use super::{Approval, ApproverGroup, Condition, Problem, Rule, Rules, Scope};
use crate::model::{ChangeKind, Label};
use std::collections::HashSet;

mod deploy;

/// GitHub refuses label names longer than this; GitLab allows more, so this is the bound.
const MAX_LABEL_CHARS: usize = 50;

struct Checker {
    problems: Vec<Problem>,
    /// Valid, but a way around: said, not refused.
    warnings: Vec<Problem>,
    scopes: Vec<Scope>,
    group_names: Vec<String>,
    approval_names: Vec<String>,
}

impl Checker {
    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.warnings.push(Problem {
            pos,
            message: message.into(),
        });
    }

    fn report(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Problem {
            pos,
            message: message.into(),
        });
    }

    /// Reports names seen twice in one list.
    fn unique<'a>(&mut self, what: &str, names: impl Iterator<Item = &'a Sp<String>>) {
        let mut seen = HashSet::new();
        for n in names {
            if !seen.insert(n.value().as_str()) {
                self.report(n.pos(), format!("duplicate {what} name `{}`", n.value()));
            }
        }
    }

    /// A label the forges can hold and, if its scope is declared, one of the scope's values.
    fn label(&mut self, l: &Sp<String>) -> Label {
        let name = l.value();
        let pos = l.pos();
        if let Some(why) = label_shape_problem(name) {
            self.report(pos, format!("label `{name}` cannot exist: {why}"));
            return Label::new(name);
        }
        let label = Label::new(name);
        if let Some((scope, value)) = label.scoped()
            && let Some(def) = self.scopes.iter().find(|s| s.name == scope)
            && !def.values.iter().any(|v| v == value)
        {
            let candidates: Vec<String> =
                def.values.iter().map(|v| format!("{scope}::{v}")).collect();
            let mut msg =
                format!("label `{name}` cannot exist: scope `{scope}` has no value `{value}`");
            if let Some(best) = closest(name, candidates.iter().map(String::as_str)) {
                msg.push_str(&format!(" (did you mean `{best}`?)"));
            }
            msg.push_str(&format!("; its values are {}", def.values.join(", ")));
            self.report(pos, msg);
        }
        label
    }

    fn labels(&mut self, list: &[Sp<String>]) -> Vec<Label> {
        list.iter().map(|l| self.label(l)).collect()
    }

    fn reference(&mut self, what: &str, n: &Sp<String>, known: &[String]) -> String {
        if !known.iter().any(|k| k == n.value()) {
            let msg = unknown(what, n.value(), known.iter().map(String::as_str));
            self.report(n.pos(), msg);
        }
        n.value().clone()
    }

    fn references(&mut self, what: &str, list: &[Sp<String>], known: &[String]) -> Vec<String> {
        list.iter()
            .map(|n| self.reference(what, n, known))
            .collect()
    }

    fn scope_refs(&mut self, list: &[Sp<String>]) -> Vec<String> {
        let names: Vec<String> = self.scopes.iter().map(|s| s.name.clone()).collect();
        self.references("scope", list, &names)
    }

    fn approval_refs(&mut self, list: &[Sp<String>]) -> Vec<String> {
        let names = self.approval_names.clone();
        self.references("approval", list, &names)
    }

    fn condition(&mut self, c: &schema::Condition) -> Condition {
        for pattern in &c.target_branch {
            if pattern.value().trim().is_empty() {
                self.report(
                    pattern.pos(),
                    "an empty target_branch pattern matches nothing",
                );
            }
        }
        Condition {
            kind: c.kind.as_ref().map(|k| match k.value() {
                schema::KindDef::MergeRequest => ChangeKind::MergeRequest,
                schema::KindDef::Issue => ChangeKind::Issue,
            }),
            labels: self.labels(&c.labels),
            any_labels: self.labels(&c.any_labels),
            not_labels: self.labels(&c.not_labels),
            has_scope: self.scope_refs(&c.has_scope),
            no_scope: self.scope_refs(&c.no_scope),
            approved: self.approval_refs(&c.approved),
            not_approved: self.approval_refs(&c.not_approved),
            target_branch: c.target_branch.iter().map(|p| p.value().clone()).collect(),
            author: c.author.iter().map(|p| p.value().clone()).collect(),
            not_author: c.not_author.iter().map(|p| p.value().clone()).collect(),
            draft: c.draft,
            changed_paths: self.path_globs(&c.changed_paths),
        }
    }

    fn path_globs(&mut self, list: &[Sp<String>]) -> Option<super::PathGlobs> {
        if list.is_empty() {
            return None;
        }
        let mut builder = globset::GlobSetBuilder::new();
        for p in list {
            let glob = globset::GlobBuilder::new(p.value().trim_start_matches('/'))
                .literal_separator(true)
                .build();
            match glob {
                Ok(g) => {
                    builder.add(g);
                }
                Err(e) => self.report(
                    p.pos(),
                    format!("`{}` is not a path glob: {}", p.value(), e.kind()),
                ),
            }
        }
        let set = builder.build().ok()?;
        Some(super::PathGlobs {
            patterns: list.iter().map(|p| p.value().clone()).collect(),
            set,
        })
    }

    /// Required approvals: names, and how many people each needs when more than one.
    fn requirements(
        &mut self,
        list: &[Sp<schema::RequireDef>],
    ) -> (Vec<String>, Vec<(String, u32)>) {
        let mut names = vec![];
        let mut counts = vec![];
        let known = self.approval_names.clone();
        for item in list {
            let (name, count) = match item.value() {
                schema::RequireDef::Name(n) => (n.clone(), 1),
                schema::RequireDef::Counted(c) => (c.approval.clone(), c.count),
            };
            if !known.contains(&name) {
                let msg = unknown("approval", &name, known.iter().map(String::as_str));
                self.report(item.pos(), msg);
            }
            if count == 0 {
                self.report(item.pos(), "`count` must be at least 1");
            }
            if count > 1 {
                counts.push((name.clone(), count));
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        (names, counts)
    }

    fn scope(&mut self, s: &schema::ScopeDef) -> Scope {
        let name = s.name.value();
        if name.trim().is_empty() || name.contains("::") || name.trim() != name {
            self.report(
                s.name.pos(),
                format!("scope name `{name}` is not usable: it must be non-empty, without `::` and without surrounding spaces"),
            );
        }
        if s.values.is_empty() {
            self.report(s.name.pos(), format!("scope `{name}` has no values"));
        }
        self.unique("value", s.values.iter());
        for v in &s.values {
            if let Some(why) = label_shape_problem(&format!("{name}::{}", v.value())) {
                self.report(
                    v.pos(),
                    format!("label `{name}::{}` cannot exist: {why}", v.value()),
                );
            }
        }
        Scope {
            name: name.clone(),
            values: s.values.iter().map(|v| v.value().clone()).collect(),
        }
    }

    fn group(&mut self, g: &schema::ApproverGroupDef) -> ApproverGroup {
        let users = g.users.as_ref();
        let github_users: Vec<String> = users
            .map(|u| u.github.iter().map(|n| n.value().clone()).collect())
            .unwrap_or_default();
        let gitlab_users: Vec<String> = users
            .map(|u| u.gitlab.iter().map(|n| n.value().clone()).collect())
            .unwrap_or_default();
        let ids = |f: fn(&schema::StaticUsers) -> &Vec<Sp<u64>>| -> Vec<u64> {
            users
                .map(|u| f(u).iter().map(|i| *i.value()).collect())
                .unwrap_or_default()
        };
        let (github_ids, gitlab_ids) = (ids(|u| &u.github_ids), ids(|u| &u.gitlab_ids));
        if g.github_team.is_none()
            && g.gitlab_group.is_none()
            && github_users.is_empty()
            && gitlab_users.is_empty()
            && github_ids.is_empty()
            && gitlab_ids.is_empty()
        {
            self.report(
                g.name.pos(),
                format!(
                    "approver group `{}` has no members: give github_team, gitlab_group or users",
                    g.name.value()
                ),
            );
        }
        for id in users
            .into_iter()
            .flat_map(|u| u.github_ids.iter().chain(u.gitlab_ids.iter()))
            .filter(|i| *i.value() == 0)
        {
            self.report(id.pos(), "`0` is not an account id: ids start at 1");
        }
        if let Some(team) = &g.github_team {
            self.team_path(team, "github_team", "{owner}", true);
        }
        if let Some(group) = &g.gitlab_group {
            self.team_path(group, "gitlab_group", "{top_level_group}", false);
        }
        for name in users
            .into_iter()
            .flat_map(|u| u.github.iter().chain(u.gitlab.iter()))
        {
            let n = name.value();
            if n.is_empty()
                || n.trim() != n
                || n.contains(char::is_whitespace)
                || n.starts_with('@')
            {
                self.report(
                    name.pos(),
                    format!("`{n}` is not a username: write it without `@` or spaces"),
                );
            }
        }
        ApproverGroup {
            name: g.name.value().clone(),
            description: g.description.clone(),
            github_team: g.github_team.as_ref().map(|t| t.value().clone()),
            gitlab_group: g.gitlab_group.as_ref().map(|t| t.value().clone()),
            github_users,
            gitlab_users,
            github_ids,
            gitlab_ids,
        }
    }

    /// `org/slug` (GitHub) or `group/sub` (GitLab), with only the one placeholder allowed.
    fn team_path(&mut self, p: &Sp<String>, key: &str, placeholder: &str, exactly_two: bool) {
        let v = p.value();
        let rest = v.replace(placeholder, "x");
        if let Some(bad) = rest.find('{').or_else(|| rest.find('}')) {
            let tail: String = rest[bad..].chars().take(20).collect();
            self.report(p.pos(), format!("{key} `{v}` has an unknown placeholder near `{tail}`; the only one is `{placeholder}`"));
            return;
        }
        let segments: Vec<&str> = rest.split('/').collect();
        let well_formed = segments
            .iter()
            .all(|s| !s.is_empty() && !s.contains(char::is_whitespace));
        if !well_formed || (exactly_two && segments.len() != 2) {
            let shape = if exactly_two {
                "`org/team-slug`"
            } else {
                "a group path like `acme/business-owners`"
            };
            self.report(p.pos(), format!("{key} `{v}` must be {shape}"));
        }
    }

    /// Comment commands: on with a prefix that is `/` and a word, not a GitLab quick action.
    fn commands(&mut self, d: &schema::Sp<schema::CommandsDef>) -> Option<crate::rules::Commands> {
        let d = d.value();
        let prefix = d
            .prefix
            .as_ref()
            .map(|p| p.value().clone())
            .unwrap_or_else(|| crate::commands::DEFAULT_PREFIX.to_string());
        if let (Some(p), Some(problem)) = (&d.prefix, crate::commands::prefix_problem(&prefix)) {
            self.report(p.pos(), problem);
        }
        d.enabled
            .value()
            .then_some(crate::rules::Commands { prefix })
    }

    fn approval(&mut self, a: &schema::ApprovalDef) -> Approval {
        let label = self.label(&a.label);
        let pending_label = a.pending_label.as_ref().map(|p| self.label(p));
        if label.scoped().is_none() {
            self.report(
                a.label.pos(),
                format!("approval label `{label}` must be scoped, like `Peer Approval::Approved`"),
            );
        }
        if let (Some(p), Some(pl)) = (&a.pending_label, &pending_label)
            && (pl.scope() != label.scope() || pl == &label)
        {
            self.report(
                p.pos(),
                format!("pending_label `{pl}` must be another value of the scope of `{label}`"),
            );
        }
        let groups = self.group_names.clone();
        let approvers = self.reference("approver group", &a.approvers, &groups);
        Approval {
            name: a.name.value().clone(),
            title: a.title.clone().unwrap_or_else(|| label.to_string()),
            label,
            pending_label,
            approvers,
            author_may_approve: a.author_may_approve,
            reset_on_push: a.reset_on_push.0,
            native_approvals: a.native_approvals,
            by_comment: a.by_comment.as_ref().is_none_or(|b| *b.value()),
        }
    }

    fn rule(&mut self, r: &schema::RuleDef, approvals: &[Approval]) -> Rule {
        let when = r
            .when
            .as_ref()
            .map(|c| self.condition(c.value()))
            .unwrap_or_default();
        let (require, counts) = self.requirements(&r.require);
        for s in &r.require_sections {
            if s.value().trim().is_empty() {
                self.report(s.pos(), "an empty section name matches nothing");
            }
        }
        let add_labels = self.labels(&r.add_labels);
        let remove_labels = self.labels(&r.remove_labels);
        for (l, sp) in add_labels.iter().zip(&r.add_labels) {
            if approvals.iter().any(|a| &a.label == l) {
                self.report(
                    sp.pos(),
                    format!(
                        "a rule cannot add the approval label `{l}`: approvals come from people"
                    ),
                );
            }
        }
        let after_merge = r
            .after_merge
            .as_ref()
            .map(|a| self.after_merge(a, approvals));
        let does_something = !require.is_empty()
            || !r.require_sections.is_empty()
            || !add_labels.is_empty()
            || !remove_labels.is_empty()
            || r.block
            || r.message.is_some()
            || after_merge.is_some();
        if !does_something {
            self.report(r.name.pos(), format!("rule `{}` does nothing: give require, require_sections, add_labels, remove_labels, block, message or after_merge", r.name.value()));
        }
        Rule {
            name: r.name.value().clone(),
            title: r.title.clone().unwrap_or_else(|| r.name.value().clone()),
            when,
            require,
            counts,
            require_sections: r
                .require_sections
                .iter()
                .map(|s| s.value().trim().to_string())
                .collect(),
            add_labels,
            remove_labels,
            block: r.block,
            message: r.message.clone(),
            after_merge,
        }
    }

    fn duration(&mut self, d: &Sp<String>) -> chrono::Duration {
        periods::parse_duration(d.value()).unwrap_or_else(|why| {
            self.report(d.pos(), why);
            chrono::Duration::zero()
        })
    }

    fn time(&mut self, t: &Sp<String>) -> Option<chrono::DateTime<chrono::Utc>> {
        periods::parse_time(t.value())
            .map_err(|why| self.report(t.pos(), why))
            .ok()
    }

    fn after_merge(
        &mut self,
        def: &Sp<schema::AfterMergeDef>,
        approvals: &[Approval],
    ) -> AfterMerge {
        let a = def.value();
        let require = self.approval_refs(&a.require);
        let within = self.duration(&a.within);
        let mut remind: Vec<chrono::Duration> = vec![];
        for r in &a.remind {
            let point = self.duration(r);
            if point >= within && within > chrono::Duration::zero() {
                self.report(
                    r.pos(),
                    format!(
                        "reminder `{}` is not before the deadline (`within: {}`): remind before the approvals are due",
                        r.value(),
                        a.within.value()
                    ),
                );
            }
            remind.push(point);
        }
        remind.sort();
        remind.dedup();
        let retrospective_label = a.retrospective_label.as_ref().map(|l| self.label(l));
        let overdue_label = a.overdue_label.as_ref().map(|l| self.label(l));
        for (label, sp) in [
            (&retrospective_label, &a.retrospective_label),
            (&overdue_label, &a.overdue_label),
        ] {
            if let (Some(l), Some(sp)) = (label, sp)
                && approvals
                    .iter()
                    .any(|ap| &ap.label == l || ap.pending_label.as_ref() == Some(l))
            {
                self.report(
                    sp.pos(),
                    format!("`{l}` is an approval's label; give after_merge a label of its own"),
                );
            }
        }
        if require.is_empty() && retrospective_label.is_none() {
            self.report(
                def.pos(),
                "after_merge owes nothing: give `require` or `retrospective_label`",
            );
        }
        AfterMerge {
            require,
            within,
            retrospective_label,
            remind,
            overdue_label,
        }
    }

    fn change_issue(&mut self, def: &Sp<schema::ChangeIssueDef>) -> super::ChangeIssue {
        let d = def.value();
        let text = d
            .reference
            .as_ref()
            .map(|r| r.value().as_str())
            .unwrap_or(super::DEFAULT_ISSUE_REFERENCE);
        let pos = d.reference.as_ref().map(|r| r.pos()).unwrap_or(def.pos());
        let reference = match regex::Regex::new(text) {
            Ok(re) if re.captures_len() >= 2 => re,
            Ok(_) => {
                self.report(
                    pos,
                    "`reference` needs a capture group `(…)` around the issue reference",
                );
                regex::Regex::new(super::DEFAULT_ISSUE_REFERENCE).expect("the default compiles")
            }
            Err(e) => {
                let why = e.to_string();
                let last = why.lines().last().unwrap_or("invalid").trim().to_string();
                self.report(
                    pos,
                    format!("`reference` is not a regular expression: {last}"),
                );
                regex::Regex::new(super::DEFAULT_ISSUE_REFERENCE).expect("the default compiles")
            }
        };
        if d.approvals.is_empty() {
            self.report(
                def.pos(),
                "`change_issue.approvals` is empty: the issue would give nothing",
            );
        }
        super::ChangeIssue {
            reference,
            required_for: d
                .required_for
                .as_ref()
                .map(|c| self.condition(c.value()))
                .unwrap_or_else(|| Condition {
                    kind: Some(ChangeKind::MergeRequest),
                    ..Condition::default()
                }),
            approvals: self.approval_refs(&d.approvals),
            linked_by: self.linked_by(def),
        }
    }

    /// `change_issue.linked_by`; an empty list would refuse every link.
    fn linked_by(&mut self, def: &Sp<schema::ChangeIssueDef>) -> Vec<super::IssueLinker> {
        use super::IssueLinker;
        let Some(list) = &def.value().linked_by else {
            return vec![IssueLinker::Author, IssueLinker::Assignees];
        };
        if list.value().is_empty() {
            self.report(
                list.pos(),
                "`change_issue.linked_by` is empty: no issue could be linked; list `author`, `assignees` or both",
            );
        }
        list.value()
            .iter()
            .map(|l| match l {
                schema::IssueLinkerDef::Author => IssueLinker::Author,
                schema::IssueLinkerDef::Assignees => IssueLinker::Assignees,
            })
            .collect()
    }

    fn blocked_period(&mut self, p: &schema::BlockedPeriodDef) -> BlockedPeriod {
        let window = match (&p.quarter_end, &p.from, &p.to) {
            (Some(q), None, None) => {
                let before = self.duration(&q.value().before);
                let after = self.duration(&q.value().after);
                Window::QuarterEnd { before, after }
            }
            (None, Some(from), Some(to)) => {
                let (start, end) = (self.time(from), self.time(to));
                if let (Some(s), Some(e)) = (start, end)
                    && e <= s
                {
                    self.report(
                        to.pos(),
                        format!("blocked period `{}` ends before it starts", p.name.value()),
                    );
                }
                Window::Fixed {
                    from: start.unwrap_or_default(),
                    to: end.unwrap_or_default(),
                }
            }
            _ => {
                self.report(
                    p.name.pos(),
                    format!(
                        "blocked period `{}` needs either `quarter_end` or both `from` and `to`",
                        p.name.value()
                    ),
                );
                Window::Fixed {
                    from: Default::default(),
                    to: Default::default(),
                }
            }
        };
        BlockedPeriod {
            name: p.name.value().clone(),
            description: p.description.clone(),
            window,
            when: p
                .when
                .as_ref()
                .map(|c| self.condition(c.value()))
                .unwrap_or_default(),
            exception: self.approval_refs(&p.exception),
        }
    }
}

/// Why a label name cannot exist on both forges, if it cannot.
fn label_shape_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        return Some("it is empty");
    }
    if name.trim() != name {
        return Some("it starts or ends with a space");
    }
    if name.chars().count() > MAX_LABEL_CHARS {
        return Some("GitHub label names are at most 50 characters");
    }
    if name.contains(',') {
        return Some("GitLab label lists are comma-separated, so a label cannot contain `,`");
    }
    if name.chars().any(char::is_control) {
        return Some("it contains a control character");
    }
    if let Some(idx) = name.rfind("::") {
        let (scope, value) = (&name[..idx], &name[idx + 2..]);
        if scope.trim().is_empty() || value.trim().is_empty() {
            return Some("both sides of `::` must be non-empty");
        }
        if scope.trim() != scope || value.trim() != value {
            return Some("no spaces may stand next to `::`");
        }
    }
    None
}

pub(super) fn validate(file: RulesFile, hash: String) -> Result<Rules, Vec<Problem>> {
    let mut c = Checker {
        problems: vec![],
        warnings: vec![],
        scopes: vec![],
        group_names: file
            .approver_groups
            .iter()
            .map(|g| g.name.value().clone())
            .collect(),
        approval_names: file
            .approvals
            .iter()
            .map(|a| a.name.value().clone())
            .collect(),
    };
    if *file.version.value() != 1 {
        c.report(
            file.version.pos(),
            format!(
                "unsupported version {}; only `version: 1` exists",
                file.version.value()
            ),
        );
    }
    c.unique("scope", file.scopes.iter().map(|s| &s.name));
    c.unique(
        "approver group",
        file.approver_groups.iter().map(|g| &g.name),
    );
    c.unique("approval", file.approvals.iter().map(|a| &a.name));
    c.unique("rule", file.rules.iter().map(|r| &r.name));
    c.unique(
        "blocked period",
        file.blocked_periods.iter().map(|p| &p.name),
    );
    let scopes = file.scopes.iter().map(|s| c.scope(s)).collect();
    c.scopes = scopes;
    let groups: Vec<ApproverGroup> = file.approver_groups.iter().map(|g| c.group(g)).collect();
    let approvals: Vec<Approval> = file.approvals.iter().map(|a| c.approval(a)).collect();
    let mut labels_seen = HashSet::new();
    for (a, def) in approvals.iter().zip(&file.approvals) {
        if !labels_seen.insert(a.label.clone()) {
            c.report(
                def.label.pos(),
                format!("label `{}` already gives another approval", a.label),
            );
        }
    }
    if file.enforce.value().is_empty() {
        c.report(
            file.enforce.pos(),
            "`enforce` is empty: the bot would act on no change",
        );
    }
    let enforce = file
        .enforce
        .value()
        .iter()
        .map(|e| c.condition(e.value()))
        .collect();
    let rules = file.rules.iter().map(|r| c.rule(r, &approvals)).collect();
    let blocked_periods = file
        .blocked_periods
        .iter()
        .map(|p| c.blocked_period(p))
        .collect();
    let change_issue = file.change_issue.as_ref().map(|d| c.change_issue(d));
    let deployments = c.deployments(&file.deployments);
    let commands = file.commands.as_ref().and_then(|d| c.commands(d));
    if !c.problems.is_empty() {
        c.problems.sort_by_key(|p| p.pos);
        return Err(c.problems);
    }
    Ok(Rules {
        enforce,
        scopes: c.scopes,
        groups,
        approvals,
        distinct_approvers: file.distinct_approvers.unwrap_or(true),
        commit_authors_are_authors: file.commit_authors_are_authors.unwrap_or(true),
        rules,
        blocked_periods,
        change_issue,
        report_only: file
            .report_only
            .iter()
            .map(|p| p.value().trim().trim_matches('/').to_string())
            .collect(),
        hash,
        source: None,
        repository_rules: None,
        deployments,
        commands,
        warnings: c.warnings,
    })
}
