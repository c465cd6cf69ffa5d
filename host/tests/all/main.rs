//! The host's integration tests: one binary, one module per concern. Guest components are
//! compiled by `build.rs`; their paths arrive as `CARBONAUT_GUEST_*` variables.

mod support;

mod accuracy;
mod auth;
mod aws;
mod azure;
mod capabilities;
mod carbon_aware;
mod cli_author;
mod cli_config;
mod cli_inspect;
mod collection;
mod contracts;
mod crash;
mod dashboard;
mod deploy_monitoring;
mod e2e_quickstart;
mod fake_api;
mod floors;
mod footprint;
mod forecasts;
mod fuzz;
mod gcp;
mod grid_providers;
mod hetzner_cloud;
mod hostile;
mod kubernetes;
mod linux_host;
mod machine_faults;
mod manage_api;
mod openapi;
mod plugins_load;
mod polyglot;
mod prometheus_ingest;
mod prometheus_server;
mod reload;
mod reports;
mod sharding;
mod static_grid;
mod tls;
mod trust;
mod untrusted;
