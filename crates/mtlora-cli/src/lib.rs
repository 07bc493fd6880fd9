//! The mtlora-rs command line as a library: the `mtlora` binary and `cargo xtask` (which adds
//! developer chores such as `bench`) both parse [`Command`] and call [`run`].
//!
//! The backend is chosen here, at the top: the `flex`, `wgpu`, `vulkan` and `cuda` features
//! decide which ones the binary contains; devices are constructed directly ([`backend`]).

pub mod alloc;
pub mod backend;
mod commands;
mod doctor;
pub mod plot;
pub mod predict;
mod progress;

use std::process::ExitCode;

pub use commands::{run, timestamp, Cli, Command, DatasetCmd, EvalArgs, PredictArgs, TrainArgs};

/// Logging to stderr (`RUST_LOG` overrides; `quiet`: warnings and errors only).
pub fn init_logging(quiet: bool) {
    let filter = if quiet { "warn" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The process exit code of a command's result: its own code, or 2 with the error printed.
pub fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Start-up shared by the binaries: allocator tuning for the data pipeline, then logging.
pub fn start(quiet: bool) {
    alloc::tune_allocator();
    init_logging(quiet);
}
