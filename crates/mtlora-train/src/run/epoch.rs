//! One epoch of a run: its optimizer steps, then (when scheduled) the evaluation and its
//! records, then the checkpoints.

use mtlora_pascal::Task;

use super::data::{to_batch, Loaders};
use super::dir::{Log, RunDir};
use super::iter_log::IterLog;
use super::{Observer, RunOptions, RunRecords};
use crate::checkpoint::{self, RunState};
use crate::config::RunConfig;
use crate::parallel::DataParallel;
use crate::record::{self, EvalRecord};
use crate::trainer::Trainer;
use crate::TrainError;

/// What one epoch needs besides the trainer.
pub(super) struct EpochCtx<'a> {
    pub(super) cfg: &'a RunConfig,
    pub(super) opts: &'a RunOptions,
    pub(super) dir: &'a RunDir,
    pub(super) loaders: &'a Loaders<'a>,
    pub(super) dp: Option<&'a DataParallel>,
    /// Tasks in model order, typed and by name.
    pub(super) tasks: &'a [Task],
    pub(super) names: &'a [String],
    /// Loader batches per optimizer step.
    pub(super) per_step: usize,
}

/// The optimizer steps of `epoch`, each logged.
pub(super) fn train_epoch(
    trainer: &mut Trainer,
    cx: &EpochCtx<'_>,
    epoch: usize,
    iters: &mut IterLog,
    log: &mut Log,
    obs: &mut dyn Observer,
) -> Result<(), TrainError> {
    let steps = cx.loaders.steps;
    trainer.begin_epoch(epoch);
    obs.epoch_start(epoch, cx.cfg.train.epochs, steps);
    let mut micro = vec![];
    let mut done = 0;
    let device = trainer.device().clone();
    cx.loaders
        .train
        .epoch_prefetched(epoch as u64, &device, |b| -> Result<bool, TrainError> {
            if done == steps {
                return Ok(false);
            }
            micro.push(to_batch(b?, cx.tasks)?);
            if micro.len() == cx.per_step {
                let rec = match cx.dp {
                    Some(dp) => trainer.step_parallel(dp, &micro, epoch)?,
                    None => trainer.step(&micro, epoch),
                };
                micro.clear();
                done += 1;
                iters.push(&rec)?;
                if rec.skipped {
                    log.line(
                        obs,
                        &format!(
                            "iteration {}: non-finite loss or gradients, step skipped",
                            rec.iteration
                        ),
                    );
                    let limit = cx.cfg.train.max_skipped_in_a_row;
                    if limit > 0 && trainer.skipped_in_a_row() >= limit {
                        return Err(TrainError::Run(format!(
                            "{limit} optimizer steps in a row had non-finite losses or gradients \
                             (train.max_skipped_in_a_row): the run diverged at iteration {}; \
                             {} holds the last good state",
                            rec.iteration,
                            cx.dir.last().display()
                        )));
                    }
                }
                obs.iteration(&rec);
            }
            Ok(true)
        })?;
    obs.epoch_end(epoch);
    Ok(())
}

/// Evaluate after `epoch`, record it (metrics files; observers draw) and update the best Δm; whether
/// this evaluation is the best so far.
pub(super) fn evaluate_epoch(
    trainer: &mut Trainer,
    cx: &EpochCtx<'_>,
    epoch: usize,
    state: &mut RunState,
    iters: &IterLog,
    log: &mut Log,
    obs: &mut dyn Observer,
) -> Result<bool, TrainError> {
    obs.eval_start(epoch, cx.loaders.val.num_batches());
    let batches = cx.loaders.val.epoch(0, &cx.opts.device).map(|b| {
        b.map_err(TrainError::from)
            .and_then(|b| to_batch(b, cx.tasks))
    });
    let res = trainer.evaluate(batches, || obs.eval_batch())?;
    let rec = EvalRecord::from_result(epoch, trainer.iteration(), cx.names, &res);
    let mut improved = false;
    if let Some(dm) = rec.scores.get("delta_m").copied() {
        if state.best.is_none_or(|(b, _)| dm > b) {
            state.best = Some((dm, epoch));
            improved = true;
        }
    }
    state.history.push(rec.clone());
    obs.evaluated(&rec, improved);
    log.file(&format!("eval epoch {epoch}: {}", summary_line(&rec)));
    let out = &cx.opts.out;
    record::write_metrics(out, &state.history, state.best, &cx.opts.device_name)?;
    obs.recorded(&RunRecords {
        out,
        tasks: cx.names,
        losses: iters.history(),
        history: &state.history,
    })?;
    Ok(improved)
}

/// The checkpoints after `epoch`: `best` when it improved, `epoch_<e>` when scheduled, then
/// `last` — written after everything else of the epoch, so a run killed at any point resumes
/// from the previous complete epoch and redoes the rest identically.
pub(super) fn save_checkpoints(
    trainer: &Trainer,
    cx: &EpochCtx<'_>,
    epoch: usize,
    state: &RunState,
    improved: bool,
) -> Result<(), TrainError> {
    if improved {
        checkpoint::save(&cx.dir.best(), trainer, cx.cfg, state)?;
    }
    if cx.cfg.train.ckpt_after(epoch) {
        checkpoint::save(&cx.dir.epoch(epoch), trainer, cx.cfg, state)?;
    }
    checkpoint::save(&cx.dir.last(), trainer, cx.cfg, state)
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
