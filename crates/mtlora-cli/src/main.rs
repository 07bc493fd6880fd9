//! `mtlora <command>`: train, evaluate, predict and check MTLoRA models (see `mtlora --help`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mtlora_cli::Cli::parse();
    mtlora_cli::start(cli.quiet);
    mtlora_cli::exit_code(mtlora_cli::run(cli.command, cli.quiet))
}
