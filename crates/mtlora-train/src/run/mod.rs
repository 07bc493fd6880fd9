//! A whole training run: data, model, [`Trainer`](crate::trainer::Trainer), evaluation
//! schedule, checkpoints with exact resumption, metrics files, plots and a log, all under one
//! run folder. [`train`] reads as the run does; each step is a function of its own file.

mod data;
mod dir;
mod epoch;
mod iter_log;
mod setup;

use std::path::PathBuf;

use burn::data::dataset::Dataset;
use burn::tensor::Device;

pub use data::{check_heads, open_split, to_batch};
pub use dir::{ensure_writable, RunDir};
pub use epoch::summary_line;
pub use setup::fresh_model;

use crate::checkpoint::RunState;
use crate::config::RunConfig;
use crate::heads::{task_heads, tasks_of};
use crate::record::{self, EvalRecord};
use crate::trainer::IterRecord;
use crate::TrainError;
use data::RunData;
use dir::Log;
use epoch::EpochCtx;
use iter_log::IterLog;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run folder (`runs/<name>`).
    pub out: PathBuf,
    /// PASCAL_MT root.
    pub data: PathBuf,
    /// Cache folder for regenerated Parts indexes (default: the user cache).
    pub cache_dir: Option<PathBuf>,
    /// ImageNet Swin checkpoint (Microsoft `.pth` layout) for the backbone.
    pub weights: Option<PathBuf>,
    /// Continue from `<out>/checkpoints/last.safetensors`.
    pub resume: bool,
    /// Device (without autodiff; the trainer adds it).
    pub device: Device,
    /// What the device is (backend and adapter name), for `train.log` and `metrics.json`.
    pub device_name: String,
    /// Stop after this many epochs in this process (the run stays resumable).
    pub stop_after_epochs: Option<usize>,
    /// Data-parallel worker devices (without autodiff) when `train.data_parallel > 1`; empty:
    /// every worker uses `device` (the CPU backend has one device, which workers share).
    pub worker_devices: Vec<Device>,
}

/// Progress callbacks (progress bars, logs). Every method has a no-op default.
pub trait Observer {
    /// A message for the user (also written to `train.log`).
    fn message(&mut self, _msg: &str) {}
    /// An epoch starts with `steps` optimizer steps.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// An optimizer step finished.
    fn iteration(&mut self, _rec: &IterRecord) {}
    /// An epoch finished.
    fn epoch_end(&mut self, _epoch: usize) {}
    /// An evaluation of `batches` batches starts.
    fn eval_start(&mut self, _epoch: usize, _batches: usize) {}
    /// One evaluation batch finished.
    fn eval_batch(&mut self) {}
    /// An evaluation finished; `best` if it has the best Δm so far.
    fn evaluated(&mut self, _rec: &EvalRecord, _best: bool) {}
    /// The run's records were rewritten after an evaluation (`metrics.json`, `metrics.csv`);
    /// `run` is everything recorded so far, for observers that draw it (the CLI writes the
    /// plots here). An error stops the run.
    fn recorded(&mut self, _run: &RunRecords<'_>) -> Result<(), TrainError> {
        Ok(())
    }
}

/// What a run has recorded so far.
pub struct RunRecords<'a> {
    /// The run folder.
    pub out: &'a std::path::Path,
    /// Task names in model order.
    pub tasks: &'a [String],
    /// Loss history per optimizer step.
    pub losses: &'a record::LossHistory,
    /// Every evaluation.
    pub history: &'a [EvalRecord],
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// Result of [`train`].
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Final run state.
    pub state: RunState,
    /// Whether every epoch has run.
    pub finished: bool,
}

/// Train (or resume) a run. `cfg` is required for a fresh run; on resume it must equal the
/// run's stored config when given.
pub fn train(
    cfg: Option<RunConfig>,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<RunSummary, TrainError> {
    let dir = RunDir(opts.out.clone());
    ensure_writable(&opts.out)?;
    let (ckpt, cfg) = setup::open(cfg, opts, &dir)?;
    let names = cfg.model.task_names();
    let heads = task_heads(&cfg.model)?;
    data::check_heads(&heads)?;
    let tasks = tasks_of(&heads);
    let data = RunData::open(&cfg, opts, &tasks)?;
    let loaders = data.loaders(&cfg);
    let mut log = Log::open(&dir.text_log());
    log.line(obs, &format!("device: {}", opts.device_name));
    let (mut trainer, mut state) =
        setup::trainer(&cfg, opts, ckpt.as_ref(), loaders.steps, &mut log, obs)?;
    let t = &cfg.train;
    if ckpt.is_some() {
        log.line(
            obs,
            &format!(
                "resuming {} after epoch {} (iteration {})",
                opts.out.display(),
                state.epochs_done,
                state.iteration
            ),
        );
    } else {
        record::write_text(&dir.config(), &cfg.to_toml_string()?)?;
        log.line(
            obs,
            &format!(
                "run {}: {} train / {} val images, {} steps per epoch, {} epochs, seed {}",
                opts.out.display(),
                data.train.len(),
                data.val.len(),
                loaders.steps,
                t.epochs,
                t.seed
            ),
        );
    }
    let resume_at = ckpt.is_some().then_some(state.iteration);
    let mut iters = IterLog::open(&dir.iter_log(), &names, resume_at)?;
    let dp = setup::data_parallel(&cfg, opts)?;
    let cx = EpochCtx {
        cfg: &cfg,
        opts,
        dir: &dir,
        loaders: &loaders,
        dp: dp.as_ref(),
        tasks: &tasks,
        names: &names,
        per_step: data.per_step,
    };
    for (ran, epoch) in (state.epochs_done..t.epochs).enumerate() {
        if opts.stop_after_epochs.is_some_and(|n| ran >= n) {
            return Ok(RunSummary {
                state,
                finished: false,
            });
        }
        epoch::train_epoch(&mut trainer, &cx, epoch, &mut iters, &mut log, obs)?;
        state.epochs_done = epoch + 1;
        state.iteration = trainer.iteration();
        state.skipped_steps = trainer.skipped_steps();
        let improved = t.eval_after(epoch)
            && epoch::evaluate_epoch(&mut trainer, &cx, epoch, &mut state, &iters, &mut log, obs)?;
        epoch::save_checkpoints(&trainer, &cx, epoch, &state, improved)?;
    }
    log.line(
        obs,
        &format!(
            "finished {} epochs ({} steps, {} skipped)",
            t.epochs,
            trainer.iteration(),
            trainer.skipped_steps()
        ),
    );
    Ok(RunSummary {
        state,
        finished: true,
    })
}
