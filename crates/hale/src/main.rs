//! `hale`: a Kubernetes-style self-healing controller for Docker hosts.

mod api;
mod api_client;
mod cli;
mod client;
mod commands;
mod error;
mod events;
mod fleet;
mod fleet_events;
mod fleet_leave;
mod fleet_publisher;
mod fleet_shipper;
mod fleet_targets;
mod fleet_transitions;
mod fleet_view;
mod import;
mod import_alerts;
mod import_coolify;
mod output;
mod reloads;
mod render;
mod routes;
mod run;
mod sse;
mod supervisor;
mod telemetry;
mod url_password;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    commands::run(cli)
}
