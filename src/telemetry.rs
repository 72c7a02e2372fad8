//! Metric names, in one place, so that dashboards and alerts can rely on them.

/// Webhooks received, by `forge`, `event` and `outcome` (queued, duplicate, ignored, pong,
/// unauthorized, bad_request, too_large, too_slow, timeout, unavailable).
pub const WEBHOOKS: &str = "changegate_webhooks_received_total";
/// Deliveries refused for their signature, by `forge`.
pub const SIGNATURE_FAILURES: &str = "changegate_signature_failures_total";
/// Jobs queued or running (sampled when /metrics is read).
pub const QUEUE_DEPTH: &str = "changegate_queue_depth";
/// Age in seconds of the oldest job waiting (sampled when /metrics is read).
pub const QUEUE_AGE: &str = "changegate_queue_oldest_age_seconds";
/// Seconds a job took to run, by `outcome` (done, retry, failed).
pub const JOB_SECONDS: &str = "changegate_job_duration_seconds";
/// Its histogram's bucket bounds, in seconds: from a cached re-evaluation to a slow forge.
pub const JOB_SECONDS_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Forge API calls, by `forge`, `endpoint` (what the call does) and `status`.
pub const FORGE_CALLS: &str = "changegate_forge_calls_total";
/// Requests that counted against the forge's rate limit, by `forge` (GitHub: every answer but
/// a 304 to a conditional request; GitLab: every request).
pub const QUOTA_UNITS: &str = "changegate_forge_quota_units_total";
/// GraphQL points spent, by `forge` (GitHub: each query's `rateLimit.cost`, a budget apart
/// from the REST units).
pub const QUOTA_POINTS: &str = "changegate_forge_quota_points_total";
/// Requests left in the forge's rate-limit window, by `forge` (from its headers).
pub const RATE_LIMIT_REMAINING: &str = "changegate_forge_rate_limit_remaining";
/// Decisions made, by `verdict` (pass, fail, not_enforced).
pub const DECISIONS: &str = "changegate_decisions_total";
/// Deployment decisions, by environment (`ungoverned` when no entry governs it) and outcome.
pub const DEPLOY_DECISIONS: &str = "changegate_deployment_decisions_total";
/// Deployments seen running without a valid allow (none, expired), by environment.
pub const DEPLOYMENTS_UNAPPROVED: &str = "changegate_deployments_unapproved_total";
/// Rules reloads, by `result` (ok, invalid).
pub const RULES_RELOADS: &str = "changegate_rules_reloads_total";

/// Merged emergency changes still owing approvals, by `state` (owed: before the deadline,
/// overdue: past it); sampled when /metrics is read.
pub const EMERGENCIES_OWED: &str = "changegate_emergency_changes_owing_approvals";

/// GitLab blocks found not in force at an evaluation, by `block` (pipeline_must_succeed,
/// skipped_pipeline, status_check_registered, status_check_branch, status_checks_must_pass,
/// fork_pipeline, pipeline_project, pipeline_ref): each fails the verdict with what to change.
pub const GITLAB_SETTINGS_OFF: &str = "changegate_gitlab_settings_off_total";
/// What someone else wrote under changegate's name on GitLab and changegate overwrote, by
/// `what` (status, status_check).
pub const GITLAB_OVERWRITES: &str = "changegate_gitlab_overwrites_total";
/// Comment command lines read from people neither the change's author nor in an approver
/// group, by `why` (not_an_approver): counted only, never recorded or shown.
pub const COMMANDS_IGNORED: &str = "changegate_comment_commands_ignored_total";

/// The event names [`WEBHOOKS`] is labelled with, per forge: the events changegate acts on.
/// Any other name is `other`: the header is anyone's to write, and a label per name sent
/// would grow the metric (and the process) without bound.
const GITHUB_EVENTS: [&str; 8] = [
    "pull_request",
    "pull_request_review",
    "issues",
    "issue_comment",
    "ping",
    "deployment_protection_rule",
    "deployment",
    "deployment_status",
];
const GITLAB_EVENTS: [&str; 8] = [
    "Merge Request Hook",
    "Pipeline Hook",
    "Status Check",
    "Issue Hook",
    "Confidential Issue Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Deployment Hook",
];

/// The label for event `name` received from `forge` (`github` or `gitlab`): a known event's
/// name, else `other`.
pub fn event_label(forge: &str, name: &str) -> &'static str {
    let known: &[&'static str] = match forge {
        "github" => &GITHUB_EVENTS,
        "gitlab" => &GITLAB_EVENTS,
        _ => &[],
    };
    known
        .iter()
        .find(|k| **k == name)
        .copied()
        .unwrap_or("other")
}

/// Every metric name, for the test that keeps them stable.
pub const ALL: [&str; 17] = [
    WEBHOOKS,
    SIGNATURE_FAILURES,
    QUEUE_DEPTH,
    QUEUE_AGE,
    JOB_SECONDS,
    FORGE_CALLS,
    QUOTA_UNITS,
    QUOTA_POINTS,
    RATE_LIMIT_REMAINING,
    DECISIONS,
    RULES_RELOADS,
    EMERGENCIES_OWED,
    GITLAB_SETTINGS_OFF,
    GITLAB_OVERWRITES,
    DEPLOY_DECISIONS,
    DEPLOYMENTS_UNAPPROVED,
    COMMANDS_IGNORED,
];

#[cfg(test)]
mod tests {
    #[test]
    fn event_labels_come_from_a_closed_set() {
        assert_eq!(super::event_label("github", "pull_request"), "pull_request");
        assert_eq!(super::event_label("gitlab", "Note Hook"), "Note Hook");
        assert_eq!(super::event_label("github", "Note Hook"), "other");
        assert_eq!(
            super::event_label("github", "deployment_protection_rule"),
            "deployment_protection_rule"
        );
        assert_eq!(
            super::event_label("gitlab", "Deployment Hook"),
            "Deployment Hook"
        );
        assert_eq!(super::event_label("github", "x-7f3a9"), "other");
    }
}
