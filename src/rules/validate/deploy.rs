//! Validates `deployments:` entries: names, globs, windows, durations and role references.

use super::Checker;
use crate::model::Forge;
use crate::rules::deploy::{
    AfterEnvironment, ChecklistRule, DEFAULT_ALLOW_FOR_HOURS, DeployException, DeploymentRule,
};
use crate::rules::schema::{self, Sp};
use crate::rules::windows::{DeployWindow, parse_hours, parse_weekday};
use chrono::Duration;
use std::collections::HashSet;

impl Checker {
    pub(super) fn deployments(&mut self, defs: &[schema::DeploymentDef]) -> Vec<DeploymentRule> {
        self.unique("deployments entry", defs.iter().map(|d| &d.name));
        let out: Vec<DeploymentRule> = defs.iter().map(|d| self.deployment(d)).collect();
        for (d, rule) in defs.iter().zip(&out) {
            self.after_has_evidence(d, rule, &out);
        }
        out
    }

    /// An `after` environment's successes count only when changegate allowed them (it is
    /// governed by an entry) or a trusted deployer made them: an ungoverned one without
    /// trusted deployers could never show evidence, or worse, anyone could make it.
    fn after_has_evidence(
        &mut self,
        d: &schema::DeploymentDef,
        rule: &DeploymentRule,
        all: &[DeploymentRule],
    ) {
        let (Some(def), Some(after)) = (&d.after, &rule.after) else {
            return;
        };
        let name = &after.environment;
        let governed = all
            .iter()
            .any(|e| e.governs(Forge::Github, name) || e.governs(Forge::Gitlab, name));
        if !governed && rule.trusted_deployers.is_empty() {
            self.report(
                def.value().environment.pos(),
                format!(
                    "`after.environment` `{name}` is governed by no `deployments` entry and `{}` has no `trusted_deployers`: no success there could count as evidence; add an entry for it or name its trusted deployers",
                    rule.name
                ),
            );
        }
    }

    fn deployment(&mut self, d: &schema::DeploymentDef) -> DeploymentRule {
        if d.environments.is_empty() {
            self.report(
                d.name.pos(),
                format!(
                    "deployments entry `{}` has no `environments`: it would gate nothing",
                    d.name.value()
                ),
            );
        }
        for e in &d.environments {
            if e.value().trim().is_empty() {
                self.report(e.pos(), "an environment glob cannot be empty");
            }
        }
        for b in &d.branches {
            let v = b.value().trim();
            if v.is_empty() {
                self.report(b.pos(), "a branch glob cannot be empty");
            } else if v.starts_with("refs/") {
                self.report(
                    b.pos(),
                    format!("branch glob `{v}` must name a branch (`main`, `release/*`), without `refs/heads/`"),
                );
            }
        }
        self.unique("window", d.windows.iter().map(|w| &w.value().name));
        let windows = d.windows.iter().map(|w| self.window(w)).collect();
        let after = d.after.as_ref().map(|a| AfterEnvironment {
            environment: a.value().environment.value().clone(),
            succeeded_for: self.duration(&a.value().succeeded_for),
        });
        if let Some(a) = &d.after
            && a.value().environment.value().trim().is_empty()
        {
            self.report(a.value().environment.pos(), "`after.environment` is empty");
        }
        let require = self.approval_refs(&d.require);
        let exception = d.exception.as_ref().map(|e| {
            let def = e.value();
            if def.require.is_empty() {
                self.report(
                    e.pos(),
                    "`exception.require` is empty: name the approvals that lift the windows",
                );
            }
            DeployException {
                require: self.approval_refs(&def.require),
                confirm_by_requester: def
                    .confirm
                    .as_ref()
                    .is_none_or(|c| *c.value() == schema::ConfirmDef::Requester),
            }
        });
        let checklist = d.checklist.as_ref().map(|c| self.checklist(c));
        let trusted_deployers = d
            .trusted_deployers
            .iter()
            .map(|t| {
                let v = t.value().trim();
                if v.is_empty() || v.strip_prefix("app:").is_some_and(|a| a.trim().is_empty()) {
                    self.report(t.pos(), "a trusted deployer cannot be empty");
                }
                // Every workflow runs as this account, from any branch: valid only where the
                // environment takes deployments from protected branches alone.
                if is_github_actions(v) {
                    self.warn(
                        t.pos(),
                        format!(
                            "trusted deployer `{v}` of `{}`: any workflow with `deployments: write`, on any branch, runs as it and can report a success; restrict the environment to protected branches (Settings → Environments → Deployment branches)",
                            d.name.value()
                        ),
                    );
                }
                t.value().trim().to_lowercase()
            })
            .collect();
        let allow_for = match &d.allow_for {
            Some(a) => self.duration(a),
            None => Duration::hours(DEFAULT_ALLOW_FOR_HOURS),
        };
        DeploymentRule {
            name: d.name.value().clone(),
            environments: d.environments.iter().map(|e| e.value().clone()).collect(),
            branches: d
                .branches
                .iter()
                .map(|b| b.value().trim().to_string())
                .collect(),
            windows,
            after,
            require,
            exception,
            checklist,
            trusted_deployers,
            allow_for,
        }
    }

    fn checklist(&mut self, c: &Sp<schema::ChecklistDef>) -> ChecklistRule {
        match c.value() {
            schema::ChecklistDef::All(schema::ChecklistAll::Complete) => ChecklistRule::Complete,
            schema::ChecklistDef::Items(items) => {
                if items.is_empty() {
                    self.report(
                        c.pos(),
                        "`checklist` lists no items: write `complete` or name the tasks",
                    );
                }
                let mut seen = HashSet::new();
                for i in items {
                    if i.trim().is_empty() {
                        self.report(c.pos(), "a checklist item cannot be empty");
                    } else if !seen.insert(i.trim().to_lowercase()) {
                        self.report(c.pos(), format!("checklist item `{i}` is listed twice"));
                    }
                }
                ChecklistRule::Items(items.iter().map(|i| i.trim().to_string()).collect())
            }
        }
    }

    fn window(&mut self, w: &Sp<schema::WindowDef>) -> DeployWindow {
        let def = w.value();
        if def.weekdays.is_empty() && def.days_of_month.is_empty() && def.hours.is_none() {
            self.report(
                w.pos(),
                format!(
                    "window `{}` gives no `weekdays`, `days_of_month` or `hours`: it would always hold; remove `windows` instead",
                    def.name.value()
                ),
            );
        }
        let weekdays = def
            .weekdays
            .iter()
            .filter_map(|d| {
                let day = parse_weekday(d.value());
                if day.is_none() {
                    self.report(
                        d.pos(),
                        format!(
                            "`{}` is not a weekday: write Mon, Tue, Wed, Thu, Fri, Sat or Sun",
                            d.value()
                        ),
                    );
                }
                day
            })
            .collect();
        for d in &def.days_of_month {
            if !(1..=31).contains(d.value()) {
                self.report(
                    d.pos(),
                    format!("day of the month {} is not between 1 and 31", d.value()),
                );
            }
        }
        let hours = def.hours.as_ref().and_then(|h| {
            parse_hours(h.value())
                .map_err(|why| self.report(h.pos(), why))
                .ok()
        });
        let timezone = match &def.timezone {
            None => chrono_tz::UTC,
            Some(tz) => tz.value().parse().unwrap_or_else(|_| {
                self.report(
                    tz.pos(),
                    format!(
                        "`{}` is not an IANA time zone name: write one like `UTC` or `Europe/London`",
                        tz.value()
                    ),
                );
                chrono_tz::UTC
            }),
        };
        let until = def.until.as_ref().and_then(|u| {
            match chrono::DateTime::parse_from_rfc3339(u.value().trim()) {
                Ok(t) if t.offset().local_minus_utc() == 0 => Some(t.to_utc()),
                _ => {
                    self.report(
                        u.pos(),
                        format!(
                            "`{}` is not an RFC 3339 UTC time: write 2027-01-01T00:00:00Z",
                            u.value()
                        ),
                    );
                    None
                }
            }
        });
        DeployWindow {
            name: def.name.value().clone(),
            weekdays,
            days_of_month: def.days_of_month.iter().map(|d| *d.value()).collect(),
            hours,
            timezone,
            until,
        }
    }
}

/// The GitHub Actions bot, as a login or an App slug.
fn is_github_actions(deployer: &str) -> bool {
    matches!(
        deployer.trim().to_lowercase().as_str(),
        "github-actions[bot]" | "app:github-actions"
    )
}
