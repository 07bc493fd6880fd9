//! `cargo xtask <command>`: the `mtlora` command line (crates/mtlora-cli) plus developer chores
//! (`bench`), see `cargo xtask --help`.

mod bench;

use std::process::ExitCode;

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
    /// benches/RESULTS.md.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mtlora_cli::start(cli.quiet);
    mtlora_cli::exit_code(match cli.command {
        XCommand::Cli(c) => mtlora_cli::run(c, cli.quiet),
        XCommand::Bench(b) => {
            let line = std::iter::once("cargo xtask".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ");
            bench::run(b, line)
        }
    })
}
