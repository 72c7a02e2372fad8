//! GitHub's `label` webhook (a repository label created, edited or deleted): acknowledged and
//! ignored. Label node ids are recorded only as read from GitHub's API (on a repository's first
//! sight, and as label events show them): a payload anyone holding the webhook secret can sign
//! must never bind a name to a label.

use crate::model::EventPayload;

/// What a `label` delivery does: nothing, whatever it says.
pub(super) fn label() -> EventPayload {
    EventPayload::Ignored {
        reason: "a label event: label ids are read from the API, never from a payload".into(),
    }
}
