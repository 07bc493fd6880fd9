//! `cargo xtask <command>`: the mtlora-rs command line (see `cargo xtask --help`).

mod backend;
mod bench;
mod commands;
mod doctor;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mtlora_pascal::tune_allocator();
    let cli = commands::Cli::parse();
    let filter = if cli.quiet { "warn" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
