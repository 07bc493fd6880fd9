//! Starting or resuming a run: which checkpoint and config, the model, the trainer with its
//! optimizer state, and the data-parallel workers.

use burn::tensor::Device;
use mtlora::MultiTaskSwin;

use super::dir::{Log, RunDir};
use super::{Observer, RunOptions};
use crate::checkpoint::{self, Checkpoint, RunState};
use crate::config::RunConfig;
use crate::parallel::DataParallel;
use crate::trainer::Trainer;
use crate::TrainError;

/// The checkpoint to resume from (`None` for a fresh run) and the run's config: the stored one
/// on resume (a given config must equal it), else the given one.
pub(super) fn open(
    cfg: Option<RunConfig>,
    opts: &RunOptions,
    dir: &RunDir,
) -> Result<(Option<Checkpoint>, RunConfig), TrainError> {
    let last = dir.last();
    let ckpt = match (opts.resume, last.exists()) {
        (true, true) => Some(checkpoint::load(&last)?),
        (true, false) => {
            return Err(TrainError::Run(format!(
                "--resume: no checkpoint at {} (nothing to resume; start the run without --resume)",
                last.display()
            )))
        }
        (false, true) => {
            return Err(TrainError::Run(format!(
                "{} already holds a run ({}); pass --resume to continue it or choose another --out",
                opts.out.display(),
                last.display()
            )))
        }
        (false, false) => None,
    };
    let cfg = match (&ckpt, cfg) {
        (Some(c), given) => {
            let stored = c.run.clone().ok_or_else(|| TrainError::Checkpoint {
                path: last.clone(),
                msg: "has no run configuration (not a training checkpoint)".into(),
            })?;
            // a stored config is validated like a given one (a damaged or hand-edited
            // checkpoint must not run zero steps or divide by zero)
            stored
                .train
                .validate()
                .map_err(|e| TrainError::Checkpoint {
                    path: last.clone(),
                    msg: format!("stored run configuration: {e}"),
                })?;
            if given.is_some_and(|g| g != stored) {
                return Err(TrainError::Config(format!(
                    "the given config differs from the one of the run in {}; resume without --config",
                    opts.out.display()
                )));
            }
            stored
        }
        (None, Some(g)) => g,
        (None, None) => return Err(TrainError::Config("no configuration given".into())),
    };
    Ok((ckpt, cfg))
}

/// Build the model for a fresh run: random init, then the optional Swin backbone import.
pub fn fresh_model(
    cfg: &RunConfig,
    weights: Option<&std::path::Path>,
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

/// The trainer at the run's position: the checkpoint's model, optimizer state and schedule
/// position, or a fresh model; with the run state to continue.
pub(super) fn trainer(
    cfg: &RunConfig,
    opts: &RunOptions,
    ckpt: Option<&Checkpoint>,
    steps: usize,
    log: &mut Log,
    obs: &mut dyn Observer,
) -> Result<(Trainer, RunState), TrainError> {
    let ad = opts.device.clone().autodiff();
    let (model, state) = match ckpt {
        Some(c) => {
            let state = c.state.clone().ok_or_else(|| TrainError::Checkpoint {
                path: c.file.path.clone(),
                msg: "has no run state (mtlora.state) to resume from".into(),
            })?;
            (c.file.load_into(cfg.model.init(&ad)?)?, state)
        }
        None => {
            let (model, note) = fresh_model(cfg, opts.weights.as_deref(), &ad)?;
            if let Some(n) = note {
                log.line(obs, &n);
            }
            (model, RunState::default())
        }
    };
    let mut trainer = Trainer::new(
        cfg.model.clone(),
        cfg.train.clone(),
        model,
        ad,
        opts.device.clone(),
        steps,
    )?;
    if let Some(c) = ckpt {
        trainer
            .resume(&c.file.optim, state.iteration, state.skipped_steps)
            .map_err(|bad| TrainError::Checkpoint {
                path: c.file.path.clone(),
                msg: format!(
                    "optimizer state does not match the model:\n  {}",
                    bad.join("\n  ")
                ),
            })?;
    }
    Ok((trainer, state))
}

/// The data-parallel workers when `train.data_parallel > 1`.
pub(super) fn data_parallel(
    cfg: &RunConfig,
    opts: &RunOptions,
) -> Result<Option<DataParallel>, TrainError> {
    let n = cfg.train.data_parallel;
    if n <= 1 {
        return Ok(None);
    }
    let devs: Vec<Device> = (0..n)
        .map(|i| {
            opts.worker_devices
                .get(i)
                .cloned()
                .unwrap_or_else(|| opts.device.clone())
                .autodiff()
        })
        .collect();
    DataParallel::new(devs)
        .map(Some)
        .map_err(TrainError::Config)
}
