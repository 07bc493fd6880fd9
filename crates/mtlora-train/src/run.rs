//! A whole training run: data, model, [`Trainer`], evaluation schedule, checkpoints with exact
//! resumption, metrics files, plots and a log, all under one run folder.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::tensor::Device;
use mtlora::MultiTaskSwin;
use mtlora_pascal::dataset::{DatasetConfig, MultiTaskBatch, PascalDataset, PascalLoader};
use mtlora_pascal::{PascalRoot, Task, TransformConfig};

use crate::checkpoint::{self, RunState};
use crate::config::RunConfig;
use crate::heads::{task_heads, tasks_of};
use crate::record::{self, EvalRecord};
use crate::trainer::{Batch, IterRecord, Trainer};
use crate::TrainError;

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

/// Paths inside a run folder.
pub struct RunDir(pub PathBuf);

impl RunDir {
    /// `checkpoints/last.safetensors`.
    pub fn last(&self) -> PathBuf {
        self.0.join("checkpoints/last.safetensors")
    }
    /// `checkpoints/best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.0.join("checkpoints/best.safetensors")
    }
    /// `checkpoints/epoch_<e>.safetensors`.
    pub fn epoch(&self, e: usize) -> PathBuf {
        self.0.join(format!("checkpoints/epoch_{e}.safetensors"))
    }
    /// `train_log.csv`.
    pub fn iter_log(&self) -> PathBuf {
        self.0.join("train_log.csv")
    }
}

/// Make sure `dir` exists and accepts files.
pub fn ensure_writable(dir: &Path) -> Result<(), TrainError> {
    let err = TrainError::io(dir, "output folder not writable");
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(err)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Open a split of a PASCAL_MT root, with a hint to `dataset verify` on failure.
pub fn open_split(
    data: &Path,
    cache: Option<&Path>,
    split: &str,
    tasks: &[Task],
    size: [usize; 2],
    augment: bool,
    seed: u64,
) -> Result<PascalDataset, TrainError> {
    let mut root = PascalRoot::new(data);
    if let Some(c) = cache {
        root = root.with_cache_dir(c);
    }
    PascalDataset::new(
        root,
        DatasetConfig {
            splits: vec![split.into()],
            tasks: tasks.to_vec(),
            transform: TransformConfig { size, ..Default::default() },
            augment,
            seed,
        },
    )
    .map_err(|e| {
        TrainError::Dataset(format!(
            "{} is not a usable PASCAL_MT folder: {e}\n  check it with `cargo xtask dataset verify {}`",
            data.display(),
            data.display()
        ))
    })
}

/// A loader batch in the model's task order.
pub fn to_batch(b: MultiTaskBatch, tasks: &[Task]) -> Result<Batch, TrainError> {
    let mut targets = vec![];
    let mut map = b.targets;
    for t in tasks {
        targets.push(
            map.remove(t)
                .ok_or_else(|| TrainError::Dataset(format!("batch has no {t} targets")))?,
        );
    }
    Ok(Batch {
        image: b.image,
        targets,
    })
}

struct Log(Option<std::fs::File>);
impl Log {
    fn line(&mut self, obs: &mut dyn Observer, msg: &str) {
        obs.message(msg);
        self.file(msg);
    }
    fn file(&mut self, msg: &str) {
        tracing::debug!("{msg}");
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, "{msg}");
        }
    }
}

/// Build the model for a fresh run: random init, then the optional Swin backbone import.
pub fn fresh_model(
    cfg: &RunConfig,
    weights: Option<&Path>,
    device: &Device,
) -> Result<(MultiTaskSwin, Option<String>), TrainError> {
    // random init (and LoRA A) from the run seed, drawn on the host (the same model on every
    // backend); the device generator (dropout, drop path) from the same seed
    device.seed(cfg.train.seed);
    let model = cfg.model.init_seeded(cfg.train.seed, device)?;
    let Some(w) = weights else {
        return Ok((model, None));
    };
    let sd = mtlora::read_state_dict(w)?;
    let (model, report, ignored) = model.import_swin_backbone(&sd);
    report
        .ensure(|k| k.contains("lora_"))
        .map_err(|e| TrainError::Checkpoint {
            path: w.to_path_buf(),
            msg: format!("not a matching Swin backbone: {e}"),
        })?;
    Ok((
        model,
        Some(format!(
            "backbone from {}: {} tensors loaded, {} ignored (head/norm)",
            w.display(),
            report.applied.len(),
            ignored.len()
        )),
    ))
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
    let last = dir.last();
    let ckpt = if opts.resume {
        if !last.exists() {
            return Err(TrainError::Run(format!(
                "--resume: no checkpoint at {} (nothing to resume; start the run without --resume)",
                last.display()
            )));
        }
        Some(checkpoint::load(&last)?)
    } else {
        if last.exists() {
            return Err(TrainError::Run(format!(
                "{} already holds a run ({}); pass --resume to continue it or choose another --out",
                opts.out.display(),
                last.display()
            )));
        }
        None
    };
    let cfg = match (&ckpt, cfg) {
        (Some(c), given) => {
            let stored = c.run.clone().ok_or_else(|| TrainError::Checkpoint {
                path: last.clone(),
                msg: "has no run configuration (not a training checkpoint)".into(),
            })?;
            if let Some(g) = given {
                if g != stored {
                    return Err(TrainError::Config(format!(
                        "the given config differs from the one of the run in {}; resume without --config",
                        opts.out.display()
                    )));
                }
            }
            stored
        }
        (None, Some(g)) => g,
        (None, None) => return Err(TrainError::Config("no configuration given".into())),
    };
    let tasks = cfg.model.task_names();
    let typed = tasks_of(&task_heads(&cfg.model)?);
    let t = &cfg.train;
    let cache = opts.cache_dir.as_deref();
    let train_ds = open_split(
        &opts.data,
        cache,
        "train",
        &typed,
        cfg.model.img_size,
        t.augment,
        t.seed,
    )?;
    let val_ds = open_split(
        &opts.data,
        cache,
        "val",
        &typed,
        cfg.model.img_size,
        false,
        t.seed,
    )?;
    let per_step = t.accumulation_steps * t.data_parallel;
    if train_ds.len() < t.batch_size * per_step {
        return Err(TrainError::Dataset(format!(
            "{}: {} training images, fewer than one optimizer step needs ({} × {} × {})",
            opts.data.display(),
            train_ds.len(),
            t.batch_size,
            t.accumulation_steps,
            t.data_parallel
        )));
    }
    let train_loader = PascalLoader::train(&train_ds, t.batch_size, t.workers, t.seed);
    let val_loader = PascalLoader::eval(&val_ds, t.eval_batch_size, t.workers);
    let steps = train_loader.num_batches() / per_step;

    let ad = opts.device.clone().autodiff();
    let mut log = Log(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(opts.out.join("train.log"))
        .ok());
    log.line(obs, &format!("device: {}", opts.device_name));
    let (model, mut state) = match &ckpt {
        Some(c) => {
            let model = c.file.load_into(cfg.model.init(&ad)?)?;
            (model, c.state.clone().unwrap_or_default())
        }
        None => {
            let (model, note) = fresh_model(&cfg, opts.weights.as_deref(), &ad)?;
            if let Some(n) = note {
                log.line(obs, &n);
            }
            (model, RunState::default())
        }
    };
    let dp = (t.data_parallel > 1).then(|| {
        let devs: Vec<Device> = (0..t.data_parallel)
            .map(|i| {
                opts.worker_devices
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| opts.device.clone())
                    .autodiff()
            })
            .collect();
        crate::parallel::DataParallel::new(devs)
    });
    let dp = dp.transpose().map_err(TrainError::Config)?;
    let mut trainer = Trainer::new(
        cfg.model.clone(),
        cfg.train.clone(),
        model,
        ad.clone(),
        opts.device.clone(),
        steps,
    )?;
    if let Some(c) = &ckpt {
        let bad = trainer
            .optim
            .import(&trainer.model, &c.file.optim, &opts.device);
        if !bad.is_empty() {
            return Err(TrainError::Checkpoint {
                path: last.clone(),
                msg: format!(
                    "optimizer state does not match the model:\n  {}",
                    bad.join("\n  ")
                ),
            });
        }
        trainer.iteration = state.iteration;
        trainer.skipped_steps = state.skipped_steps;
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
        record::write_text(&opts.out.join("config.toml"), &cfg.to_toml_string())?;
        log.line(
            obs,
            &format!(
                "run {}: {} train / {} val images, {} steps per epoch, {} epochs, seed {}",
                opts.out.display(),
                train_ds.len(),
                val_ds.len(),
                steps,
                t.epochs,
                t.seed
            ),
        );
    }
    // iteration log: keep only rows up to the checkpoint
    let header = record::iter_csv_header(&tasks);
    let mut rows: Vec<String> = std::fs::read_to_string(dir.iter_log())
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|x| x.parse::<usize>().ok())
                .is_some_and(|k| k <= state.iteration)
        })
        .map(String::from)
        .collect();
    if ckpt.is_none() {
        rows.clear();
    }
    // the plotted history: read once here, then kept in memory
    let mut iters = record::parse_iter_rows(rows.iter().map(String::as_str), tasks.len());
    record::write_text(
        &dir.iter_log(),
        &format!(
            "{header}\n{}",
            rows.iter().map(|r| format!("{r}\n")).collect::<String>()
        ),
    )?;
    let mut iter_log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.iter_log())
        .map_err(TrainError::io(&dir.iter_log(), "cannot append to the log"))?;

    for (ran, epoch) in (state.epochs_done..t.epochs).enumerate() {
        if opts.stop_after_epochs.is_some_and(|n| ran >= n) {
            return Ok(RunSummary {
                state,
                finished: false,
            });
        }
        trainer.begin_epoch(epoch);
        obs.epoch_start(epoch, t.epochs, steps);
        let mut micro = vec![];
        let mut done = 0;
        train_loader.epoch_prefetched(epoch as u64, &ad, |b| -> Result<bool, TrainError> {
            if done == steps {
                return Ok(false);
            }
            micro.push(to_batch(b?, &typed)?);
            if micro.len() == per_step {
                let rec = match &dp {
                    Some(dp) => trainer.step_parallel(dp, &micro, epoch)?,
                    None => trainer.step(&micro, epoch),
                };
                micro.clear();
                done += 1;
                let _ = writeln!(iter_log, "{}", record::iter_csv_row(&rec));
                let mut values = rec.losses.clone();
                values.push(rec.total);
                iters.push((rec.iteration, values));
                if rec.skipped {
                    log.line(
                        obs,
                        &format!(
                            "iteration {}: non-finite loss or gradients, step skipped",
                            rec.iteration
                        ),
                    );
                }
                obs.iteration(&rec);
            }
            Ok(true)
        })?;
        obs.epoch_end(epoch);
        state.epochs_done = epoch + 1;
        state.iteration = trainer.iteration;
        state.skipped_steps = trainer.skipped_steps;
        let mut improved = false;
        if t.eval_after(epoch) {
            obs.eval_start(epoch, val_loader.num_batches());
            let batches = val_loader.epoch(0, &opts.device).map(|b| {
                b.map_err(TrainError::from)
                    .and_then(|b| to_batch(b, &typed))
            });
            let res = trainer.evaluate(batches, || obs.eval_batch())?;
            let rec = EvalRecord::from_result(epoch, trainer.iteration, &tasks, &res);
            if let Some(dm) = rec.scores.get("delta_m").copied() {
                if state.best.is_none_or(|(b, _)| dm > b) {
                    state.best = Some((dm, epoch));
                    improved = true;
                }
            }
            state.history.push(rec.clone());
            obs.evaluated(&rec, improved);
            log.file(&format!("eval epoch {epoch}: {}", summary_line(&rec)));
            record::write_metrics(&opts.out, &state.history, state.best, &opts.device_name)?;
            record::write_plots(&opts.out, &tasks, &iters, &state.history)?;
        }
        if improved {
            checkpoint::save(&dir.best(), &trainer, &cfg, &state)?;
        }
        if t.ckpt_after(epoch) {
            checkpoint::save(&dir.epoch(epoch), &trainer, &cfg, &state)?;
        }
        // `last` is written after everything else of the epoch: a run killed at any point
        // resumes from the previous complete epoch and redoes the rest identically
        checkpoint::save(&last, &trainer, &cfg, &state)?;
    }
    log.line(
        obs,
        &format!(
            "finished {} epochs ({} steps, {} skipped)",
            t.epochs, trainer.iteration, trainer.skipped_steps
        ),
    );
    Ok(RunSummary {
        state,
        finished: true,
    })
}

/// One-line summary of an evaluation.
pub fn summary_line(rec: &EvalRecord) -> String {
    let mut parts = vec![];
    for (k, label) in [
        ("semseg.miou", "semseg mIoU"),
        ("human_parts.miou", "parts mIoU"),
        ("sal.miou_maxthr", "sal mIoU"),
        ("normals.mean_angle_deg", "normals mean°"),
        ("delta_m", "Δm %"),
    ] {
        if let Some(v) = rec.scores.get(k) {
            parts.push(format!("{label} {v:.2}"));
        }
    }
    parts.join(", ")
}
