//! What `/api/v1/status` and `/metrics` show of each location's last answer from the
//! environment provider (kept by `crate::collect`): priced, left out, refused with its
//! backoff, or failed.

use serde::Serialize;

/// What the last collection made of a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeState {
    /// The provider answered with its mix.
    Priced,
    /// The provider answered without it (a zone it does not know, no figure, or a mix the
    /// host's checks rejected).
    LeftOut,
    /// The provider refused it (`unauthorized`), asked alone; not asked again until
    /// `next_ask_at_ms`.
    Refused,
    /// The call that included it failed for another reason; its last mix is kept.
    Failed,
}

impl OutcomeState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeState::Priced => "priced",
            OutcomeState::LeftOut => "left_out",
            OutcomeState::Refused => "refused",
            OutcomeState::Failed => "failed",
        }
    }
}

/// A location's outcome, as `/api/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LocationOutcome {
    /// The environment provider instance that was asked.
    pub provider: String,
    pub outcome: OutcomeState,
    /// The provider's error, when refused or failed.
    pub message: Option<String>,
    /// When it was last asked, in ms since the epoch.
    pub asked_at_ms: u64,
    /// Refusals in a row by this provider; 0 once it answers.
    pub consecutive_refusals: u32,
    /// While refused: when it is asked again (alone), in ms since the epoch.
    pub next_ask_at_ms: Option<u64>,
}
