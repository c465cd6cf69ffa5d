//! Collection: the topology sync, resource samples and the energy mix, each on its interval,
//! with emissions derived as samples arrive. The collector owns the in-memory mirror, writes
//! it through to the state store and publishes a [`crate::snapshot::Snapshot`] after each step.

mod collector;
mod environment;
mod estimate;
mod failure;
mod forecast;
mod health;
mod locations;
mod mixes;
mod plan;
mod samples;
mod sync;
mod update;

pub use collector::{Collector, GiveUp};
pub use failure::Failure;
pub use health::Health;
pub use plan::{
    AccountPlan, EnvironmentPlan, Plan, PlanError, ProviderInstance, grid_zone, location_key,
    mapped_zone, offered, provider_grants,
};
pub use update::{FollowUp, PlanUpdate};

// How the environment batch sets refused locations apart; `plugin check` asks the same way.
pub use environment::{Isolated, is_refusal, isolate_refusals};
