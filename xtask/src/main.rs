//! `cargo xtask <command>`: the `mtlora` command line (crates/mtlora-cli) plus developer chores
//! (`bench`), see `cargo xtask --help`.

use std::process::{Command, ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mtlora-rs: MTLoRA (multi-task LoRA on a Swin backbone) training, evaluation and tools.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, long_about = None)]
struct Cli {
    /// Only warnings and errors; no progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: XCommand,
}

#[derive(Subcommand, Debug)]
enum XCommand {
    #[command(flatten)]
    Cli(mtlora_cli::Command),
    /// Benchmarks: table of median/min/max/images per second/peak memory, appended to
    /// benches/RESULTS.md (`cargo xtask bench --help` for the options).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed to the bench driver (benches/bench_main.rs).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// The backend features this xtask was built with, for the bench driver's build.
fn backend_features() -> Vec<&'static str> {
    [
        ("flex", cfg!(feature = "flex")),
        ("wgpu", cfg!(feature = "wgpu")),
        ("vulkan", cfg!(feature = "vulkan")),
        ("cuda", cfg!(feature = "cuda")),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect()
}

/// `cargo xtask bench ...`: build and run the `mtlora-bench` driver of the benches crate with
/// this build's backends (xtask itself links no bench code).
fn bench(args: Vec<String>, quiet: bool) -> anyhow::Result<ExitCode> {
    let cmdline = std::iter::once("cargo xtask".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "run",
        "--quiet",
        "--package",
        "mtlora-benches",
        "--bin",
        "mtlora-bench",
    ]);
    let features = backend_features();
    if features != ["flex"] {
        cmd.args(["--no-default-features", "--features", &features.join(",")]);
    }
    cmd.arg("--").args(&args);
    if quiet {
        cmd.arg("--quiet");
    }
    if !args.iter().any(|a| a == "--help" || a == "-h") {
        cmd.args(["--record-as", &cmdline]);
    }
    let status = cmd.status().context("running cargo for the bench driver")?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mtlora_cli::start(cli.quiet);
    mtlora_cli::exit_code(match cli.command {
        XCommand::Cli(c) => mtlora_cli::run(c, cli.quiet),
        XCommand::Bench { args } => bench(args, cli.quiet),
    })
}
