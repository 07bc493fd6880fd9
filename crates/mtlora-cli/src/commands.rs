//! Subcommands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mtlora_metrics::Baselines;
use mtlora_train::run::RunOptions;
use mtlora_train::RunConfig;

use crate::progress::{bar, TrainProgress};

/// The tiny CPU model of the embedded default run.
const TINY_MODEL: &str = include_str!("../../../configs/mtlora_tiny_cpu.toml");
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
        Command::Train(a) => train(a, quiet),
        Command::Eval(a) => eval(a, quiet),
        Command::Predict(a) => predict(a, quiet),
        Command::Parity { fixtures, device } => parity(&fixtures, device.as_deref(), quiet),
        Command::Doctor => crate::doctor::run(),
        Command::Diff { a, b, atol } => diff(&a, &b, atol),
        Command::Init {
            config,
            seed,
            device,
            out,
        } => init(config.as_deref(), seed, device.as_deref(), &out, quiet),
        Command::Params { config, json } => params(&config, json),
        Command::Dataset(d) => dataset(d, quiet),
    }
}

/// The device named by `--device`, with its adapter printed.
fn device(name: Option<&str>, quiet: bool) -> Result<crate::backend::Chosen> {
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

fn train(a: TrainArgs, quiet: bool) -> Result<ExitCode> {
    let chosen = device(a.device.as_deref(), quiet)?;
    let workers = crate::backend::workers(&chosen, a.devices.unwrap_or(1))?;
    let (cfg, name) = match &a.config {
        Some(p) => (
            Some(RunConfig::from_path(p)?),
            p.file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().to_string()),
        ),
        None if a.resume => (None, "run".into()),
        None => (
            Some(RunConfig::from_toml_str(&format!(
                "{TINY_MODEL}\n{DEFAULT_TRAIN}"
            ))?),
            "tiny-default".into(),
        ),
    };
    let cfg = cfg.map(|mut c| {
        if let Some(d) = a.devices {
            c.train.data_parallel = d;
        }
        if let Some(e) = a.epochs {
            c.train.epochs = e;
            c.train.warmup_epochs = c.train.warmup_epochs.min(e);
        }
        c
    });
    if let Some(c) = &cfg {
        c.train.validate()?;
    }
    let out = match (&a.out, a.resume) {
        (Some(o), _) => o.clone(),
        (None, true) => bail!("--resume needs --out runs/NAME (the run to continue)"),
        (None, false) => PathBuf::from("runs").join(format!("{name}-{}", timestamp())),
    };
    let data = match &a.data {
        Some(d) => d.clone(),
        None => {
            let d = PathBuf::from(DEFAULT_DATA);
            if !d.join("ImageSets").exists() {
                eprintln!(
                    "synthesizing a mini PASCAL_MT dataset in {} ...",
                    d.display()
                );
                let (tr, va) = mtlora_pascal::synthesize(
                    &d,
                    &mtlora_pascal::SynthConfig {
                        ids: 96,
                        seed: 0,
                        ..Default::default()
                    },
                )?;
                eprintln!("  {} train / {} val images", tr.len(), va.len());
            }
            d
        }
    };
    let tasks = cfg
        .as_ref()
        .map(|c| c.model.task_names())
        .unwrap_or_default();
    let mut obs = TrainProgress::new(quiet, tasks);
    let opts = RunOptions {
        out: out.clone(),
        data,
        cache_dir: a.cache_dir.clone(),
        weights: a.weights.clone(),
        resume: a.resume,
        device: chosen.device.clone(),
        device_name: format!("{} — {}", chosen.backend, chosen.adapter),
        stop_after_epochs: None,
        worker_devices: workers,
    };
    let s = mtlora_train::run::train(cfg, &opts, &mut obs)?;
    let hist = &s.state.history;
    if let (Some(first), Some(last)) = (hist.first(), hist.last()) {
        let l = |r: &mtlora_train::record::EvalRecord| {
            r.val_loss.get("total").copied().unwrap_or(f64::NAN)
        };
        println!(
            "validation loss: {:.4} (epoch {}) -> {:.4} (epoch {})",
            l(first),
            first.epoch + 1,
            l(last),
            last.epoch + 1
        );
        println!(
            "last  (epoch {}): {}",
            last.epoch + 1,
            mtlora_train::run::summary_line(last)
        );
        if let Some((dm, e)) = s.state.best {
            println!("best Δm {dm:.2} % after epoch {}", e + 1);
        }
    }
    println!(
        "run folder: {} (metrics.csv, metrics.json, plots/, checkpoints/, train.log)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn eval(a: EvalArgs, quiet: bool) -> Result<ExitCode> {
    let dev = device(a.device.as_deref(), quiet)?.device;
    let loaded = mtlora_train::inference::load(&a.checkpoint, a.config.as_deref(), &dev)?;
    let baselines = match loaded.run.as_ref() {
        Some(r) => Baselines::from_names(&r.train.delta_m_baselines)
            .context("the checkpoint's train.delta_m_baselines")?,
        None => Baselines::default(),
    };
    struct P(Option<indicatif::ProgressBar>, bool);
    impl mtlora_train::run::Observer for P {
        fn eval_start(&mut self, _: usize, n: usize) {
            self.0 = Some(bar(n as u64, "eval".into(), self.1));
        }
        fn eval_batch(&mut self) {
            if let Some(b) = &self.0 {
                b.inc(1);
            }
        }
    }
    let mut p = P(None, quiet);
    let rec = mtlora_train::inference::evaluate(
        &loaded,
        &a.data,
        a.cache_dir.as_deref(),
        &a.split,
        a.batch_size,
        a.workers,
        baselines,
        &dev,
        &mut p,
    )?;
    if let Some(b) = p.0 {
        b.finish_and_clear();
    }
    let out = a.out.clone().unwrap_or_else(|| {
        let stem = a
            .checkpoint
            .file_stem()
            .map_or("checkpoint".into(), |s| s.to_string_lossy().to_string());
        a.checkpoint
            .with_file_name(format!("{stem}.eval-{}.json", a.split))
    });
    let doc = serde_json::json!({
        "checkpoint": a.checkpoint,
        "split": a.split,
        "scores": rec.scores,
        "per_class_iou": rec.per_class,
        "val_loss": rec.val_loss,
        "notes": {"normals.mean_angle_deg": "mean angular error (the papers' 'rmse' column)", "delta_m": "percent"}
    });
    mtlora_train::record::write_text(&out, &serde_json::to_string_pretty(&doc)?)?;
    for (k, v) in &rec.scores {
        println!("{k:<30} {v:>10.4}");
    }
    println!("written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn predict(a: PredictArgs, quiet: bool) -> Result<ExitCode> {
    let dev = device(a.device.as_deref(), quiet)?.device;
    let loaded = mtlora_train::inference::load(&a.checkpoint, a.config.as_deref(), &dev)?;
    mtlora_train::run::ensure_writable(&a.out)?;
    let model = loaded.merged();
    let pb = bar(a.image.len() as u64, "predict".into(), quiet);
    for img in &a.image {
        let p = mtlora_train::predict::predict(&loaded, &model, img, &dev)?;
        let stem = img
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy().to_string());
        let mut files = mtlora_train::predict::write_prediction(&a.out, &stem, &p)?;
        if a.raw {
            files.push(mtlora_train::predict::write_raw(&a.out, &stem, &p)?);
        }
        for f in files {
            pb.println(format!("wrote {}", f.display()));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(ExitCode::SUCCESS)
}

fn parity(files: &[PathBuf], device_name: Option<&str>, quiet: bool) -> Result<ExitCode> {
    let dev = device(device_name, quiet)?.device;
    let mut all_pass = true;
    for path in files {
        println!("== {}", path.display());
        match mtlora_parity::run(path, &dev) {
            Ok(report) => {
                print!("{}", report.render());
                all_pass &= report.passed();
            }
            Err(e) => {
                println!("error: {e}");
                println!("parity: FAIL (could not run)");
                all_pass = false;
            }
        }
    }
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn init(
    config: Option<&Path>,
    seed: Option<u64>,
    device_name: Option<&str>,
    out: &Path,
    quiet: bool,
) -> Result<ExitCode> {
    let dev = device(device_name, quiet)?.device;
    let run = match config {
        Some(p) => RunConfig::from_path(p)?,
        None => RunConfig::from_toml_str(&format!("{TINY_MODEL}\n{DEFAULT_TRAIN}"))?,
    };
    let seed = seed.unwrap_or(run.train.seed);
    let model = run.model.init_seeded(seed, &dev)?;
    model.save_checkpoint(out, &run.model)?;
    println!("initial state (seed {seed}) written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn diff(a: &Path, b: &Path, atol: f64) -> Result<ExitCode> {
    let sa = mtlora::read_state_dict(a)?;
    let sb = mtlora::read_state_dict(b)?;
    let only_a: Vec<&String> = sa.keys().filter(|k| !sb.contains_key(*k)).collect();
    let only_b: Vec<&String> = sb.keys().filter(|k| !sa.contains_key(*k)).collect();
    let mut ok = only_a.is_empty() && only_b.is_empty();
    for k in &only_a {
        println!("only in {}: {k}", a.display());
    }
    for k in &only_b {
        println!("only in {}: {k}", b.display());
    }
    let (mut worst, mut worst_key, mut identical) = (0.0f64, String::new(), 0usize);
    for (k, ta) in &sa {
        let Some(tb) = sb.get(k) else { continue };
        if ta.shape() != tb.shape() {
            println!("{k}: shape {:?} vs {:?}", ta.shape(), tb.shape());
            ok = false;
            continue;
        }
        let (va, vb): (Vec<f64>, Vec<f64>) = match (
            ta.clone().convert::<f64>().try_into_vec::<f64>(),
            tb.clone().convert::<f64>().try_into_vec::<f64>(),
        ) {
            (Ok(x), Ok(y)) => (x, y),
            _ => {
                println!("{k}: not a numeric tensor");
                ok = false;
                continue;
            }
        };
        let mut max_abs = 0.0f64;
        let mut max_ref = 0.0f64;
        for (x, y) in va.iter().zip(&vb) {
            let d = if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (x - y).abs()
            };
            max_abs = if d.is_nan() {
                f64::INFINITY
            } else {
                max_abs.max(d)
            };
            max_ref = max_ref.max(x.abs());
        }
        if max_abs == 0.0 {
            identical += 1;
        } else {
            println!(
                "{k}: max|a-b| {max_abs:.3e} (max|a| {max_ref:.3e}, rel {:.3e})",
                max_abs / max_ref.max(f64::MIN_POSITIVE)
            );
        }
        if max_abs > worst {
            worst = max_abs;
            worst_key = k.clone();
        }
        ok &= max_abs <= atol;
    }
    println!(
        "{} common tensors, {identical} identical; largest difference {worst:.3e}{} (atol {atol:e}): {}",
        sa.len() - only_a.len(),
        if worst_key.is_empty() { String::new() } else { format!(" in {worst_key}") },
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn params(path: &Path, json: bool) -> Result<ExitCode> {
    let cfg = mtlora::ModelConfig::from_path(path)?;
    let device = crate::backend::choose(None)?.device;
    let report = cfg.init(&device)?.param_report(&cfg);
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("trainable_names");
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("config     {}", path.display());
    println!("total      {:>12}", report.total);
    println!("trainable  {:>12}", report.trainable);
    println!("frozen     {:>12}", report.frozen);
    println!("trainable breakdown:");
    for (k, v) in &report.breakdown_trainable {
        println!("  {k:<30} {v:>12}");
    }
    println!("trainable by category:");
    for (k, v) in &report.breakdown_trainable_fine {
        println!("  {k:<30} {v:>12}");
    }
    println!("total by category:");
    for (k, v) in &report.breakdown_total_fine {
        println!("  {k:<30} {v:>12}");
    }
    let m = &report.main_py_printout;
    println!(
        "main.py printout: trainable {} | decoder {} | lora {} | extra {} | total {} | total without lora {}",
        m.number_of_trainable_params, m.decoder_params, m.lora_params, m.extra_params, m.total_params, m.total_params_without_lora
    );
    Ok(ExitCode::SUCCESS)
}

fn dataset(cmd: DatasetCmd, quiet: bool) -> Result<ExitCode> {
    match cmd {
        DatasetCmd::Verify {
            root,
            cache_dir,
            threads,
        } => {
            let mut r = mtlora_pascal::PascalRoot::new(&root);
            if let Some(c) = cache_dir {
                r = r.with_cache_dir(c);
            }
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let bars = std::sync::Mutex::new((String::new(), None::<indicatif::ProgressBar>));
            let report = mtlora_pascal::verify_with_progress(&r, threads, &|split, done, total| {
                let mut st = bars.lock().expect("progress lock");
                if st.0 != split || st.1.is_none() {
                    if let Some(b) = st.1.take() {
                        b.finish();
                    }
                    *st = (
                        split.to_string(),
                        Some(bar(total as u64, split.to_string(), quiet)),
                    );
                }
                if let Some(b) = &st.1 {
                    b.set_position(done as u64);
                    if done == total {
                        b.finish();
                    }
                }
            });
            print!("{}", report.render(&root));
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DatasetCmd::Synth {
            out,
            ids,
            seed,
            size,
        } => {
            let mut cfg = mtlora_pascal::SynthConfig {
                ids,
                seed,
                ..Default::default()
            };
            if let Some(s) = size {
                let (w, h) = s.split_once('x').context("--size WxH")?;
                cfg.sizes = vec![(
                    w.parse().context("--size W")?,
                    h.parse().context("--size H")?,
                )];
            }
            let (train, val) = mtlora_pascal::synthesize(&out, &cfg)?;
            println!(
                "wrote {} train and {} val ids to {}",
                train.len(),
                val.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
