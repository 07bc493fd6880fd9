//! The training loop core: one optimizer step (micro-batches, global clipping, non-finite
//! skip, AdamW, schedule with the reference off-by-one) and one evaluation pass. The full
//! run ([`crate::run`]) and the deterministic replay of `train_run` both drive this.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use mtlora::{ModelConfig, MultiTaskSwin};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::heads::{task_heads, TaskHead};
use crate::losses::task_loss;
use crate::optim::{clip_with_norm, global_grad_norm_tensor, scale_grads, AdamW, AdamWConfig};
use crate::schedule::CosineSchedule;
use crate::TrainError;
use mtlora_metrics::{Baselines, Evaluator, Scores};

/// One batch: input `[B, 3, H, W]` and targets in task order.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Normalized images.
    pub image: Tensor<4>,
    /// Targets in the model's task order.
    pub targets: Vec<Tensor<4>>,
}

/// What one optimizer step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    /// 1-based global iteration.
    pub iteration: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Per-task loss (mean over micro-batches), task order.
    pub losses: Vec<f64>,
    /// Weighted total.
    pub total: f64,
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
    /// Whether clipping scaled the gradients.
    pub clipped: bool,
    /// Clipping factor applied.
    pub clip_coef: f64,
    /// The step was skipped (non-finite loss or gradients).
    pub skipped: bool,
}

/// Result of one evaluation pass.
#[derive(Debug, Clone)]
pub struct EvalResult {
    /// Named scores and Δm.
    pub scores: Scores,
    /// Mean validation loss per task (over batches), task order, plus the total last.
    pub val_losses: Vec<f64>,
    /// The meters (reference internals).
    pub evaluator: Evaluator,
}

/// Model, optimizer and schedule position of a training run. The fields are private: the
/// optimizer state belongs to this model's parameters and the schedule position to both, so
/// they change together, through [`Trainer::step`] or [`Trainer::resume`].
pub struct Trainer {
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    /// Task, loss and loss weight per head (model order).
    tasks: Vec<TaskHead>,
    baselines: Baselines,
    /// The model on an autodiff device, freezing applied.
    model: MultiTaskSwin,
    optim: AdamW,
    schedule: CosineSchedule,
    /// Optimizer steps taken or skipped so far (the scheduler position).
    iteration: usize,
    /// Steps skipped because of non-finite values.
    skipped_steps: usize,
    /// Of them, the ones since the last applied step.
    skipped_in_a_row: usize,
    /// Autodiff device.
    device: Device,
    /// Same device without autodiff (evaluation).
    inner_device: Device,
}

impl Trainer {
    /// The model (autodiff device, freezing applied).
    pub fn model(&self) -> &MultiTaskSwin {
        &self.model
    }
    /// The model configuration.
    pub fn model_cfg(&self) -> &ModelConfig {
        &self.model_cfg
    }
    /// The recipe.
    pub fn train_cfg(&self) -> &TrainConfig {
        &self.train_cfg
    }
    /// Task, loss and loss weight per head (model order).
    pub fn heads(&self) -> &[TaskHead] {
        &self.tasks
    }
    /// The optimizer (its state is read by checkpoints).
    pub fn optim(&self) -> &AdamW {
        &self.optim
    }
    /// The learning-rate schedule.
    pub fn schedule(&self) -> &CosineSchedule {
        &self.schedule
    }
    /// Optimizer steps taken or skipped so far (the scheduler position).
    pub fn iteration(&self) -> usize {
        self.iteration
    }
    /// Steps skipped because of non-finite values.
    pub fn skipped_steps(&self) -> usize {
        self.skipped_steps
    }
    /// Steps skipped since the last applied one.
    pub fn skipped_in_a_row(&self) -> usize {
        self.skipped_in_a_row
    }
    /// The autodiff device (training batches go here).
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The same device without autodiff (evaluation batches go here).
    pub fn inner_device(&self) -> &Device {
        &self.inner_device
    }

    /// Continue a run: the optimizer state written by [`AdamW::export`] for this model, and
    /// the position (`iteration` steps taken, `skipped` of them skipped). On a mismatch the
    /// problems are returned and nothing changes.
    pub fn resume(
        &mut self,
        optim: &mtlora::StateDict,
        iteration: usize,
        skipped: usize,
    ) -> Result<(), Vec<String>> {
        let mut restored = AdamW::new(self.optim.config);
        let bad = restored.import(&self.model, optim, &self.inner_device);
        if !bad.is_empty() {
            return Err(bad);
        }
        self.optim = restored;
        self.iteration = iteration;
        self.skipped_steps = skipped;
        Ok(())
    }
}

impl Trainer {
    /// A trainer for `model` (already on `device`, an autodiff device, with weights loaded);
    /// freezing is applied here. `steps_per_epoch` sizes the schedule.
    pub fn new(
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        model: MultiTaskSwin,
        device: Device,
        inner_device: Device,
        steps_per_epoch: usize,
    ) -> Result<Self, TrainError> {
        let tasks = task_heads(&model_cfg)?;
        let baselines = Baselines::from_names(&train_cfg.delta_m_baselines)
            .map_err(|e| TrainError::Config(format!("train.delta_m_baselines: {e}")))?;
        let model = model.apply_freezing(&model_cfg);
        let optim = AdamW::new(AdamWConfig {
            weight_decay: train_cfg.weight_decay,
            ..Default::default()
        });
        let schedule = train_cfg.schedule(steps_per_epoch);
        Ok(Self {
            model_cfg,
            train_cfg,
            tasks,
            baselines,
            model,
            optim,
            schedule,
            iteration: 0,
            skipped_steps: 0,
            skipped_in_a_row: 0,
            device,
            inner_device,
        })
    }

    /// Seed dropout / DropPath for `epoch` (so a resumed run draws what an uninterrupted one
    /// would).
    pub fn begin_epoch(&self, epoch: usize) {
        let s = self
            .train_cfg
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(epoch as u64 + 1);
        self.device.seed(s);
    }

    /// One optimizer step over `micro` micro-batches (gradients averaged), then clipping,
    /// the non-finite check, AdamW and the schedule advance.
    pub fn step(&mut self, micro: &[Batch], epoch: usize) -> IterRecord {
        self.step_inspect(micro, epoch, &mut |_, _| {})
    }

    /// [`Trainer::step`] that shows `inspect` the averaged gradients before clipping.
    pub fn step_inspect(
        &mut self,
        micro: &[Batch],
        epoch: usize,
        inspect: &mut dyn FnMut(&MultiTaskSwin, &GradientsParams),
    ) -> IterRecord {
        assert!(!micro.is_empty(), "Trainer::step: no micro-batches");
        let mut acc = GradientsAccumulator::new();
        let mut per = Vec::with_capacity(micro.len());
        for b in micro {
            let (out, _) = crate::step::train_step_deferred(
                &self.model,
                b.image.clone(),
                &b.targets,
                &self.tasks,
            );
            acc.accumulate(&self.model, out.grads);
            per.push(out.values);
        }
        self.apply(acc.grads(), Losses::Device(per), epoch, inspect)
    }

    /// [`Trainer::step`] with the micro-batches spread over data-parallel workers (one per
    /// device and round, `micro.len()` a multiple of the worker count): the same update as
    /// accumulating the same micro-batches on one device (see [`crate::parallel`]).
    pub fn step_parallel(
        &mut self,
        dp: &crate::parallel::DataParallel,
        micro: &[Batch],
        epoch: usize,
    ) -> Result<IterRecord, TrainError> {
        let sm = crate::parallel::StepModel {
            model: self.model.clone(),
            tasks: self.tasks.clone(),
        };
        let (grads, per) = dp
            .grads(&sm, micro)
            .map_err(|e| TrainError::Config(format!("data-parallel step: {e}")))?;
        Ok(self.apply(grads, Losses::Host(per), epoch, &mut |_, _| {}))
    }

    /// Average the summed gradients and the losses of the micro-batches, clip, check, step,
    /// advance. Device-side losses are read back together with the gradient norm (one round
    /// trip).
    fn apply(
        &mut self,
        grads: GradientsParams,
        losses: Losses,
        epoch: usize,
        inspect: &mut dyn FnMut(&MultiTaskSwin, &GradientsParams),
    ) -> IterRecord {
        let k = match &losses {
            Losses::Host(p) => p.len(),
            Losses::Device(p) => p.len(),
        };
        let mut grads = grads;
        if k > 1 {
            grads = scale_grads(&self.model, grads, 1.0 / k as f64);
        }
        inspect(&self.model, &grads);
        let norm = global_grad_norm_tensor(&self.model, &grads);
        let (per, grad_norm) = match losses {
            Losses::Host(per) => {
                let n = norm.map_or(0.0, |n| n.into_scalar::<f32>() as f64);
                (per, n)
            }
            Losses::Device(values) => {
                let width = values[0].dims()[0];
                let mut all = values;
                let has_norm = norm.is_some();
                all.extend(norm);
                let v: Vec<f32> = Tensor::cat(all, 0)
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec()
                    .expect("f32 losses and norm");
                let per = v[..k * width]
                    .chunks_exact(width)
                    .map(crate::step::split_losses)
                    .collect();
                (per, if has_norm { v[k * width] as f64 } else { 0.0 })
            }
        };
        let mut losses = vec![0.0f64; self.tasks.len()];
        let mut total = 0.0f64;
        for (l, t) in &per {
            for (acc, v) in losses.iter_mut().zip(l) {
                *acc += *v as f64 / k as f64;
            }
            total += *t as f64 / k as f64;
        }
        let lr = self.schedule.lr_used(self.iteration);
        let max_norm = if self.train_cfg.clip_grad > 0.0 {
            self.train_cfg.clip_grad
        } else {
            f64::INFINITY
        };
        let (grads, clip_coef) = clip_with_norm(&self.model, grads, max_norm, grad_norm);
        let finite = total.is_finite() && grad_norm.is_finite();
        if finite {
            let model = self.model.clone();
            self.model = self.optim.step(lr, model, &grads);
            self.skipped_in_a_row = 0;
        } else {
            self.skipped_steps += 1;
            self.skipped_in_a_row += 1;
            tracing::warn!(
                iteration = self.iteration + 1,
                total,
                grad_norm,
                "non-finite loss or gradients: optimizer step skipped"
            );
        }
        self.iteration += 1;
        IterRecord {
            iteration: self.iteration,
            epoch,
            lr,
            losses,
            total,
            grad_norm,
            clipped: grad_norm > max_norm,
            clip_coef,
            skipped: !finite,
        }
    }

    /// The model without autodiff, in evaluation mode (BatchNorm uses running stats).
    pub fn eval_model(&self) -> MultiTaskSwin {
        self.model.valid()
    }

    /// Evaluate on `batches` (on the inner device): metrics over the whole split and the mean
    /// validation losses.
    pub fn evaluate<E>(
        &self,
        batches: impl Iterator<Item = Result<Batch, E>>,
        mut on_batch: impl FnMut(),
    ) -> Result<EvalResult, E> {
        let model = self.eval_model();
        evaluate_model(
            &model,
            &self.tasks,
            self.baselines.clone(),
            batches,
            &mut on_batch,
        )
    }
}

/// The micro-batches' loss values: read back already (data-parallel workers) or still on the
/// device (`[L_0, …, L_{T-1}, total]` each).
enum Losses {
    Host(Vec<crate::parallel::MicroLosses>),
    Device(Vec<Tensor<1>>),
}

/// Evaluate any model (evaluation mode) on `batches`.
pub fn evaluate_model<E>(
    model: &MultiTaskSwin,
    tasks: &[TaskHead],
    baselines: Baselines,
    batches: impl Iterator<Item = Result<Batch, E>>,
    on_batch: &mut dyn FnMut(),
) -> Result<EvalResult, E> {
    let spec: Vec<_> = tasks.iter().map(|h| (h.task, h.num_output)).collect();
    let mut ev = Evaluator::new(&spec, baselines);
    let nt = spec.len();
    let mut sums = vec![0.0f64; nt + 1];
    let mut n = 0usize;
    for b in batches {
        let b = b?;
        let out = model.forward(b.image);
        let mut terms = vec![];
        for (t, (pred, target)) in out.outputs.into_iter().zip(b.targets).enumerate() {
            terms.push(task_loss(tasks[t].loss, pred.clone(), target.clone()));
            ev.update_tensors(tasks[t].task, pred, target);
        }
        let vals: Vec<f32> = Tensor::cat(terms, 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("f32 loss values");
        let mut total = 0.0;
        for (t, v) in vals.iter().enumerate() {
            sums[t] += *v as f64;
            total += tasks[t].weight * *v as f64;
        }
        sums[nt] += total;
        n += 1;
        on_batch();
    }
    let val_losses = sums.iter().map(|s| s / n.max(1) as f64).collect();
    Ok(EvalResult {
        scores: ev.scores(),
        val_losses,
        evaluator: ev,
    })
}

/// Per-task loss values keyed by task name plus `total`.
pub fn named_losses(tasks: &[String], losses: &[f64], total: f64) -> BTreeMap<String, f64> {
    let mut m: BTreeMap<String, f64> = tasks.iter().cloned().zip(losses.iter().copied()).collect();
    m.insert("total".into(), total);
    m
}
