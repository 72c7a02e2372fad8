//! The deployment decisions as CSV (`changegate audit --deployments --format csv`).

use super::{csv_field, time};

/// Deployment decisions as CSV, one row per decision.
pub fn deployments_csv(rows: &[crate::store::StoredDecision]) -> String {
    let mut out = String::from(
        "id,decided_at,environment,sha,deployment_id,source,decision,until,expires,timing,changes,exceptions,owed,reasons\n",
    );
    let ms = |t: Option<i64>| t.map(time).unwrap_or_default();
    for r in rows {
        let d: Option<crate::policy::deploy::DeployDecision> =
            serde_json::from_value(r.detail.get("decision").cloned().unwrap_or_default()).ok();
        let (timing, changes, exceptions, owed, reasons) = match &d {
            Some(d) => (
                d.timing.clone().unwrap_or_default(),
                d.changes
                    .iter()
                    .map(|c| format!("#{}", c.number))
                    .collect::<Vec<_>>()
                    .join(" "),
                d.exceptions
                    .iter()
                    .map(|e| {
                        format!(
                            "#{} requested by {} at {}; {}",
                            e.change,
                            e.requester,
                            e.requested_at.to_rfc3339(),
                            e.approvals
                                .iter()
                                .map(|(role, by, at)| format!(
                                    "{role} by {by} at {}",
                                    at.to_rfc3339()
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" | "),
                d.owed.join("; "),
                d.reasons.join(" | "),
            ),
            None => Default::default(),
        };
        let fields = [
            r.id.clone(),
            time(r.decided_at),
            r.environment.clone(),
            r.sha.clone(),
            r.deployment_id.map(|i| i.to_string()).unwrap_or_default(),
            r.source.clone(),
            r.outcome.clone(),
            ms(r.until_at),
            ms(r.expires_at),
            timing,
            changes,
            exceptions,
            owed,
            reasons,
        ];
        let cells: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
