//! The commands: their arguments (clap), the dispatcher and one file per command.

mod dataset;
mod eval;
mod params;
mod parity;
mod predict;
mod tools;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

/// The tiny CPU model of the embedded default run.
const TINY_MODEL: &str = include_str!("../../../../configs/mtlora_tiny_cpu.toml");
/// Recipe of the embedded default run: a few minutes on a laptop CPU.
const DEFAULT_TRAIN: &str = "
[train]
epochs = 8
warmup_epochs = 1
batch_size = 4
eval_batch_size = 8
accumulation_steps = 1
scale_lr = false
base_lr = 0.002
warmup_lr = 0.00002
min_lr = 0.00002
eval_every = 2
ckpt_every = 4
workers = 2
seed = 0
";
/// Synthetic dataset of the embedded default run.
const DEFAULT_DATA: &str = "datasets/pascal_mt_synth";

/// mtlora: MTLoRA (multi-task LoRA on a Swin backbone) training, evaluation and tools.
#[derive(Parser, Debug)]
#[command(name = "mtlora", version, long_about = None)]
pub struct Cli {
    /// Only warnings and errors; no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of the CLI (`cargo xtask` adds its developer chores, e.g. `bench`).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model. With no arguments: the embedded default (tiny model, synthetic data, CPU).
    Train(TrainArgs),
    /// Evaluate a checkpoint on a PASCAL_MT split: all metrics and Δm.
    Eval(EvalArgs),
    /// Predict the tasks for images and write viewable PNGs.
    Predict(PredictArgs),
    /// Compare with reference fixtures (`NAME.json` + `NAME.safetensors`); exit 0 only on PASS.
    Parity {
        /// Fixture sidecars.
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        /// Backend (see `train --device`).
        #[arg(long)]
        device: Option<String>,
    },
    /// Which backends this binary has, which adapters it sees, what the others need.
    Doctor,
    /// Compare two tensor files (safetensors, `.pth`) key by key: max |a−b| and max relative
    /// difference per tensor; exit 1 when keys differ or a tensor exceeds `--atol`.
    Diff {
        /// First file.
        a: PathBuf,
        /// Second file.
        b: PathBuf,
        /// Largest allowed absolute difference (0: bit-identical values).
        #[arg(long, default_value_t = 0.0)]
        atol: f64,
    },
    /// Initialise a model from a configuration and seed, as `train` does, and save its state
    /// dict (safetensors): the same seed gives the same file on every backend.
    Init {
        /// Model or run configuration (TOML or JSON; default: the embedded tiny model).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed (default: the run configuration's train.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Backend (see `train --device`).
        #[arg(long)]
        device: Option<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Parameter counts of a configuration.
    Params {
        /// Model or run configuration (TOML or JSON).
        #[arg(long)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// PASCAL_MT dataset tools.
    #[command(subcommand)]
    Dataset(DatasetCmd),
}

/// Arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run configuration: a model TOML with an optional `[train]` table (default: the embedded
    /// tiny CPU configuration).
    #[arg(long)]
    config: Option<PathBuf>,
    /// PASCAL_MT root (default: a synthetic dataset in datasets/pascal_mt_synth, created if absent).
    #[arg(long)]
    data: Option<PathBuf>,
    /// ImageNet Swin weights in Microsoft's `.pth` layout (e.g. swin_tiny_patch4_window7_224.pth).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Backend: flex (or cpu), wgpu, vulkan or cuda, as compiled in (`cargo xtask doctor`);
    /// a GPU backend takes the best adapter (discrete, integrated, virtual, else the software
    /// Vulkan device). Default: BURN_DEVICE, else the first backend of this build.
    #[arg(long)]
    device: Option<String>,
    /// Run folder (default: runs/<config name>-<UTC time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Override train.epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Data-parallel workers (sets train.data_parallel): discrete GPUs 0..N with `--device
    /// wgpu|vulkan|cuda` (an error when fewer exist); on the CPU backend the workers share its
    /// one device.
    #[arg(long)]
    devices: Option<usize>,
    /// Cache folder for regenerated Parts indexes.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Arguments of `eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint: ours (`.safetensors`) or an official MTLoRA `.pth`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// PASCAL_MT root.
    #[arg(long)]
    data: PathBuf,
    /// Split.
    #[arg(long, default_value = "val")]
    split: String,
    /// Configuration (required for checkpoints that carry none, e.g. official `.pth`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Evaluation batch size.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Data decoding threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Backend (see `train --device`).
    #[arg(long)]
    device: Option<String>,
    /// Output JSON (default: `<checkpoint>.eval-<split>.json` beside the checkpoint).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cache folder for regenerated Parts indexes.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Arguments of `predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Checkpoint (see `eval`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Images (JPEG or PNG).
    #[arg(long, required = true, num_args = 1..)]
    image: Vec<PathBuf>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Configuration (see `eval`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Backend (see `train --device`).
    #[arg(long)]
    device: Option<String>,
    /// Also write the raw model outputs (`<image>_outputs.safetensors`), e.g. to compare
    /// backends with `cargo xtask diff`.
    #[arg(long)]
    raw: bool,
}

/// The `dataset` subcommands.
#[derive(Subcommand, Debug)]
pub enum DatasetCmd {
    /// Check and decode every file of a PASCAL_MT folder; exit 1 on problems.
    Verify {
        /// Dataset root.
        root: PathBuf,
        /// Cache folder for regenerated Parts indexes.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Decoding threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Write a synthetic PASCAL_MT-format dataset.
    Synth {
        /// Output folder.
        out: PathBuf,
        /// Number of ids (half train, half val).
        #[arg(long, default_value_t = 16)]
        ids: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Image size WxH (default: several VOC-like sizes).
        #[arg(long)]
        size: Option<String>,
    },
}

/// Run one command.
pub fn run(command: Command, quiet: bool) -> Result<ExitCode> {
    match command {
        Command::Train(a) => train::train(a, quiet),
        Command::Eval(a) => eval::eval(a, quiet),
        Command::Predict(a) => predict::predict(a, quiet),
        Command::Parity { fixtures, device } => parity::parity(&fixtures, device.as_deref(), quiet),
        Command::Doctor => crate::doctor::run(),
        Command::Diff { a, b, atol } => tools::diff(&a, &b, atol),
        Command::Init {
            config,
            seed,
            device,
            out,
        } => tools::init(config.as_deref(), seed, device.as_deref(), &out, quiet),
        Command::Params { config, json } => params::params(&config, json),
        Command::Dataset(d) => dataset::dataset(d, quiet),
    }
}

/// The device named by `--device`, with its adapter printed.
pub(crate) fn device(name: Option<&str>, quiet: bool) -> Result<crate::backend::Chosen> {
    let c = crate::backend::choose(name)?;
    if !quiet {
        eprintln!("device: {} — {}", c.backend, c.adapter);
    }
    Ok(c)
}

/// `YYYYmmdd-HHMMSS` (UTC).
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil from days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
