//! `mtlora-bench`: the benchmark driver behind `cargo xtask bench` (see [`driver`]).

mod driver;

use std::process::ExitCode;

use clap::Parser;

/// Benchmarks: table of median/min/max/images per second/peak memory, appended to
/// benches/RESULTS.md.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask bench", bin_name = "cargo xtask bench", long_about = None)]
struct Cli {
    /// Only warnings and errors.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    args: driver::BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mtlora_cli::start(cli.quiet);
    let line = std::iter::once("mtlora-bench".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    mtlora_cli::exit_code(driver::run(cli.args, line))
}
