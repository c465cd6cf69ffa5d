//! The JSON API: topology (with filters), one resource, plugins and collection status.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::snapshot::render::kind_label;
use crate::snapshot::{AccountStatus, LocationStatus, PluginStatus, ProviderStatus, Snapshot};
use crate::telemetry::CallSummary;
use carbonaut_model::{Hardware, Location, ResourceSample};
use carbonaut_store::state::{ProjectNode, ResourceRecord};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopologyFilter {
    /// Only this account.
    account: Option<String>,
    /// Only this project (its id).
    project: Option<String>,
    /// `key=value`: only resources carrying that label (the key is not empty; the value may
    /// be, and may contain `=`).
    #[param(pattern = "^[^=]+=", example = "team=team-0")]
    label: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TopologyView {
    accounts: Vec<AccountView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AccountView {
    name: String,
    first_seen_ms: u64,
    last_seen_ms: u64,
    status: Option<AccountStatus>,
    projects: Vec<ProjectView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProjectView {
    id: String,
    name: String,
    labels: BTreeMap<String, String>,
    first_seen_ms: u64,
    last_seen_ms: u64,
    resources: Vec<ResourceView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceView {
    id: String,
    provider_id: String,
    name: String,
    #[schema(value_type = String, example = "vm")]
    kind: &'static str,
    /// Country, region, zone and coordinates.
    #[schema(value_type = Object)]
    location: Location,
    /// The grid location its emissions are computed with.
    grid_location: Option<String>,
    /// vCPUs, memory bytes, CPU model.
    #[schema(value_type = Object)]
    hardware: Hardware,
    labels: BTreeMap<String, String>,
    provider: String,
    first_seen_ms: u64,
    last_seen_ms: u64,
    /// IT energy, as metered (or modelled).
    energy_joules_total: Option<f64>,
    /// Operational emissions: facility energy times the grid's intensity.
    emissions_grams_total: Option<f64>,
    /// IT energy times the PUE of its location, summed per interval.
    facility_energy_joules_total: Option<f64>,
    /// Its share of its machine's manufacturing emissions, for the time watched; none when the
    /// estimation provider knows nothing about it.
    embodied_emissions_grams_total: Option<f64>,
    /// IT energy per component (`cpu`, `dram`, `gpu`, `other`), where told apart.
    #[schema(value_type = Object)]
    component_energy_joules_total: BTreeMap<&'static str, f64>,
    /// Whether its latest sample was estimated (from utilisation) rather than measured; none
    /// before the first sample.
    estimated: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceDetail {
    account: String,
    project: String,
    #[serde(flatten)]
    resource: ResourceView,
    /// Energy counter (J), power (W), CPU frequency (Hz) and utilisation, read-at time.
    #[schema(value_type = Option<Object>)]
    last_sample: Option<ResourceSample>,
    power_watts: Option<f64>,
    carbon_intensity_grams_per_kilowatt_hour: Option<f64>,
}

fn resource_view(s: &Snapshot, r: &ResourceRecord) -> ResourceView {
    let counters = s.counters.get(&r.id);
    ResourceView {
        id: r.id.to_string(),
        provider_id: r.info.id.clone(),
        name: r.info.name.clone(),
        kind: kind_label(r.info.kind),
        location: r.info.location.clone(),
        grid_location: s.location_of.get(&r.id).cloned(),
        hardware: r.info.hardware.clone(),
        labels: r.info.labels.iter().cloned().collect(),
        provider: r.provider.clone(),
        first_seen_ms: r.first_seen_ms,
        last_seen_ms: r.last_seen_ms,
        energy_joules_total: counters.map(|c| c.energy_joules_total),
        emissions_grams_total: counters.map(|c| c.emissions_grams_total),
        facility_energy_joules_total: counters.map(|c| c.facility_joules_total()),
        embodied_emissions_grams_total: counters
            .and_then(carbonaut_store::state::Counters::embodied_grams_total),
        component_energy_joules_total: counters
            .map(|c| {
                carbonaut_model::Component::ALL
                    .into_iter()
                    .map(|k| (k.as_str(), c.component_joules(k)))
                    .filter(|(_, j)| *j > 0.0)
                    .collect()
            })
            .unwrap_or_default(),
        estimated: s.samples.get(&r.id).map(|x| x.estimated),
    }
}

/// Accounts, their projects and resources, with per-account collection status.
#[utoipa::path(get, path = "/api/v1/topology", params(TopologyFilter), security(("bearer" = [])),
    responses((status = 200, body = TopologyView), (status = 400, description = "A malformed label filter"),
        (status = 401, description = "No or unknown bearer token (when tokens are configured)")))]
pub async fn topology(
    State(state): State<AppState>,
    Query(filter): Query<TopologyFilter>,
) -> Result<Json<TopologyView>, ApiError> {
    let label = match filter.label.as_deref() {
        None => None,
        Some(l) => Some(
            l.split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("label filter `{l}` must be key=value with a key"))
                })?,
        ),
    };
    let s = state.snapshot.get();
    let accounts = s
        .topology
        .accounts
        .values()
        .filter(|a| filter.account.as_ref().is_none_or(|f| *f == a.name))
        .map(|a| AccountView {
            name: a.name.clone(),
            first_seen_ms: a.first_seen_ms,
            last_seen_ms: a.last_seen_ms,
            status: s.accounts.get(&a.name).cloned(),
            projects: a
                .projects
                .values()
                .filter(|p| filter.project.as_ref().is_none_or(|f| *f == p.project.id))
                .map(|p| project_view(&s, p, label))
                .collect(),
        })
        .collect();
    Ok(Json(TopologyView { accounts }))
}

fn project_view(s: &Snapshot, p: &ProjectNode, label: Option<(&str, &str)>) -> ProjectView {
    ProjectView {
        id: p.project.id.clone(),
        name: p.project.name.clone(),
        labels: p.project.labels.iter().cloned().collect(),
        first_seen_ms: p.first_seen_ms,
        last_seen_ms: p.last_seen_ms,
        resources: p
            .resources
            .values()
            .filter(|r| {
                label.is_none_or(|(k, v)| r.info.labels.iter().any(|(rk, rv)| rk == k && rv == v))
            })
            .map(|r| resource_view(s, r))
            .collect(),
    }
}

/// One resource: static data, last sample, energy and emissions.
#[utoipa::path(get, path = "/api/v1/resources/{id}", params(("id" = String, Path, description = "The resource id from the topology")),
    security(("bearer" = [])),
    responses((status = 200, body = ResourceDetail), (status = 404, description = "No such resource"), (status = 401)))]
pub async fn resource(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResourceDetail>, ApiError> {
    let s = state.snapshot.get();
    let found = s.topology.resources().find(|(_, _, r)| r.id.as_str() == id);
    let Some((a, p, r)) = found else {
        return Err(ApiError::NotFound(format!(
            "no resource with id `{id}`; GET /api/v1/topology lists them"
        )));
    };
    let intensity = s
        .location_of
        .get(&r.id)
        .and_then(|l| s.locations.get(l))
        .and_then(|l| l.mix.as_ref())
        .map(|m| m.carbon_intensity);
    let last_sample = s.samples.get(&r.id).cloned();
    let power_watts = last_sample
        .as_ref()
        .and_then(|x| x.power_watts)
        .or_else(|| s.derived_power.get(&r.id).copied());
    Ok(Json(ResourceDetail {
        account: a.name.clone(),
        project: p.project.id.clone(),
        resource: resource_view(&s, r),
        last_sample,
        power_watts,
        carbon_intensity_grams_per_kilowatt_hour: intensity,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginView {
    #[serde(flatten)]
    status: PluginStatus,
    /// Its calls since the host started and the p99 of their durations.
    call_summary: CallSummary,
}

/// Every loaded plugin: metadata, sha256, kinds, WIT version, providers, status, calls. The
/// contract versions this host loads are in the `X-Carbonaut-Plugin-Contracts` header.
#[utoipa::path(get, path = "/api/v1/plugins", security(("bearer" = [])),
    responses((status = 200, body = Vec<PluginView>,
        headers(("X-Carbonaut-Plugin-Contracts" = String, description = "The plugin contract versions this host loads, e.g. `carbonaut:provider 0.1, 0.2, 0.3`"))),
        (status = 401)))]
pub async fn plugins(
    State(state): State<AppState>,
) -> ([(&'static str, String); 1], Json<Vec<PluginView>>) {
    let plugins = state.snapshot.get().plugins.clone();
    (
        [(
            "x-carbonaut-plugin-contracts",
            carbonaut_plugins::supported_range(),
        )],
        Json(
            plugins
                .into_iter()
                .map(|status| PluginView {
                    call_summary: state.telemetry.summary_of(&status.info.name),
                    status,
                })
                .collect(),
        ),
    )
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusView {
    ready: bool,
    taken_at_ms: u64,
    resources: usize,
    accounts: BTreeMap<String, AccountStatus>,
    locations: BTreeMap<String, LocationStatus>,
    environment_error: Option<String>,
    providers: BTreeMap<String, ProviderView>,
    /// This instance's shard; `accounts` lists only the accounts it owns.
    shard: crate::cluster::ShardStatus,
    /// Whether the state directory can be written (read live, not from the snapshot).
    state: StateView,
}

/// The state directory's health: while writes fail, counters are not published.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StateView {
    writable: bool,
    /// The current run of failed writes, when the latest write failed.
    failure: Option<crate::vitals::WriteFailure>,
    /// Failed writes per store since the start.
    write_failures: BTreeMap<String, u64>,
}

/// Readiness, per-account last sync and collection with their errors, locations.
#[utoipa::path(get, path = "/api/v1/status", security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 401)))]
pub async fn status(State(state): State<AppState>) -> Json<StatusView> {
    let s = state.snapshot.get();
    let failure = state.vitals.write_failure();
    Json(StatusView {
        ready: s.ready,
        taken_at_ms: s.taken_at_ms,
        resources: s.topology.resource_count(),
        accounts: s.accounts.clone(),
        locations: s.locations.clone(),
        environment_error: s.environment_error.clone(),
        providers: s
            .providers
            .iter()
            .map(|(name, status)| {
                let view = ProviderView {
                    status: status.clone(),
                    rejected: state.telemetry.rejections_of_provider(name),
                };
                (name.clone(), view)
            })
            .collect(),
        shard: s.shard.clone(),
        state: StateView {
            writable: failure.is_none(),
            failure,
            write_failures: state
                .vitals
                .write_failures()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        },
    })
}

/// A provider instance in `/api/v1/status`: grants and health, and what the host's checks
/// refused of its answers (a refused reading leaves its resource's gauges to go stale).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    #[serde(flatten)]
    status: ProviderStatus,
    rejected: crate::telemetry::ProviderRejections,
}
