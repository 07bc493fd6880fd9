//! Multi-device data parallelism through burn-train's own multi-device machinery: one worker
//! thread per device (`burn_train::MultiDevicesTrainStep`, the engine of
//! `ExecutionStrategy::MultiDevice` with `MultiDeviceOptim::OptimMainDevice`) runs the forward
//! and backward of its micro-batch on its fork of the model; the gradients are moved to the main
//! device and summed with `burn::optim::GradientsAccumulator`, then averaged, clipped and applied
//! once by [`Trainer`] — the same update as gradient accumulation over the same micro-batches.
//!
//! BatchNorm running statistics are `RunningState`s shared by the forks: each worker updates them
//! once per step and burn averages the workers' values, so after a data-parallel step they
//! equal the average of one EMA update per micro-batch (accumulation applies the EMA once per
//! micro-batch in sequence). Batch statistics, losses and gradients are per micro-batch in both.
//!
//! The CPU backend (flex) exposes one device; several workers may share it (that is how the
//! tests check the equivalence). burn's collective DDP (`ExecutionStrategy::ddp`) needs backend
//! collectives that flex does not implement.

use burn::data::dataloader::{DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, ExecutionError};
use burn_train::train::MultiDevicesTrainStep;
use burn_train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};
use mtlora::MultiTaskSwin;

use crate::losses::TaskLossKind;
use crate::step::train_step;
use crate::trainer::Batch;

/// The model with its losses, as a burn-train step.
#[derive(Module, Debug)]
pub struct StepModel {
    /// The multi-task model.
    pub model: MultiTaskSwin,
    /// Loss per task.
    #[module(skip)]
    pub kinds: Vec<TaskLossKind>,
    /// Loss weight per task.
    #[module(skip)]
    pub weights: Vec<f64>,
}

/// A micro-batch tagged with its position (outputs come back in completion order).
pub struct Tagged {
    /// Position in the step.
    pub index: usize,
    /// The micro-batch.
    pub batch: Batch,
}

/// Losses of one worker's micro-batch.
#[derive(Debug, Clone)]
pub struct WorkerLosses {
    /// Position of the micro-batch.
    pub index: usize,
    /// Per-task losses.
    pub losses: Vec<f32>,
    /// Weighted total.
    pub total: f32,
}

impl ItemLazy for WorkerLosses {
    fn sync(self) -> Result<Self, ExecutionError> {
        Ok(self)
    }
}

impl TrainStep for StepModel {
    type Input = Tagged;
    type Output = WorkerLosses;

    fn step(&self, item: Tagged) -> TrainOutput<WorkerLosses> {
        let out = train_step(
            &self.model,
            item.batch.image,
            &item.batch.targets,
            &self.kinds,
            &self.weights,
        );
        TrainOutput {
            grads: out.grads,
            item: WorkerLosses {
                index: item.index,
                losses: out.losses,
                total: out.total,
            },
        }
    }
}

impl InferenceStep for StepModel {
    type Input = Tagged;
    type Output = WorkerLosses;

    fn step(&self, item: Tagged) -> WorkerLosses {
        WorkerLosses {
            index: item.index,
            losses: vec![],
            total: 0.0,
        }
    }
}

/// One item, as a data-loader iterator (each worker gets exactly one micro-batch per round).
struct One(Option<Tagged>);

impl Iterator for One {
    type Item = Result<Tagged, DatasetError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Ok)
    }
}

impl DataLoaderIterator<Tagged> for One {
    fn progress(&self) -> Progress {
        Progress::new(usize::from(self.0.is_none()), 1, None)
    }
}

/// `(per-task losses, weighted total)` of one micro-batch.
pub type MicroLosses = (Vec<f32>, f32);

/// Worker threads over `devices` (autodiff devices; the first is the main device).
pub struct DataParallel {
    step: MultiDevicesTrainStep<StepModel>,
    /// Devices, main first.
    pub devices: Vec<Device>,
}

impl DataParallel {
    /// Start one worker per device.
    pub fn new(devices: Vec<Device>) -> Self {
        assert!(!devices.is_empty(), "DataParallel: no devices");
        Self {
            step: MultiDevicesTrainStep::new(&devices),
            devices,
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.devices.len()
    }

    /// Forward/backward of `micro` (one micro-batch per worker and round, `micro.len()` a
    /// multiple of the worker count), gradients summed on the main device in micro-batch order.
    /// Returns the summed gradients and per micro-batch `(losses, total)` in order.
    pub fn grads(
        &self,
        model: &StepModel,
        micro: &[Batch],
    ) -> Result<(GradientsParams, Vec<MicroLosses>), String> {
        let w = self.workers();
        if !micro.len().is_multiple_of(w) {
            return Err(format!("{} micro-batches for {w} workers", micro.len()));
        }
        let main = &self.devices[0];
        let mut acc = GradientsAccumulator::<StepModel>::new();
        let mut losses = vec![];
        for (round, chunk) in micro.chunks(w).enumerate() {
            let mut its: Vec<Box<dyn DataLoaderIterator<Tagged>>> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let dev = &self.devices[i];
                    let batch = Batch {
                        image: b.image.clone().to_device(dev),
                        targets: b.targets.iter().map(|t| t.clone().to_device(dev)).collect(),
                    };
                    Box::new(One(Some(Tagged {
                        index: round * w + i,
                        batch,
                    }))) as Box<dyn DataLoaderIterator<Tagged>>
                })
                .collect();
            let (outs, _) = self.step.step(&mut its, model).map_err(|e| e.to_string())?;
            let mut outs: Vec<TrainOutput<WorkerLosses>> =
                outs.into_iter().map(|o| o.output).collect();
            outs.sort_by_key(|o| o.item.index);
            for o in outs {
                acc.accumulate(model, o.grads.to_device(main, model));
                losses.push((o.item.losses, o.item.total));
            }
        }
        Ok((acc.grads(), losses))
    }
}
