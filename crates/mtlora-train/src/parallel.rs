//! Multi-device data parallelism: one scoped worker thread per device runs the forward and
//! backward of its micro-batch on its fork of the model (`Module::fork`); the gradients are moved
//! to the main device and summed in micro-batch order with `burn::optim::GradientsAccumulator`,
//! then averaged, clipped and applied once by [`Trainer`](crate::Trainer) — the same update as
//! gradient accumulation over the same micro-batches.
//!
//! BatchNorm running statistics are `RunningState`s shared by the forks: each worker updates them
//! once per step and burn averages the workers' values, so after a data-parallel step they
//! equal the average of one EMA update per micro-batch (accumulation applies the EMA once per
//! micro-batch in sequence). Batch statistics, losses and gradients are per micro-batch in both.
//!
//! The CPU backend (flex) exposes one device; several workers may share it (that is how the
//! tests check the equivalence). This does not use burn-train (whose dependency would compile
//! the flex backend into every GPU-only build).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;
use mtlora::MultiTaskSwin;

use crate::heads::TaskHead;
use crate::step::train_step;
use crate::trainer::Batch;

/// The model with its losses, as one training step.
#[derive(Module, Debug)]
pub struct StepModel {
    /// The multi-task model.
    pub model: MultiTaskSwin,
    /// Loss and weight per task.
    #[module(skip)]
    pub tasks: Vec<TaskHead>,
}

/// `(per-task losses, weighted total)` of one micro-batch.
pub type MicroLosses = (Vec<f32>, f32);

/// Worker threads over `devices` (autodiff devices; the first is the main device).
pub struct DataParallel {
    /// Devices, main first.
    pub devices: Vec<Device>,
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

impl DataParallel {
    /// One worker per device (at least one).
    pub fn new(devices: Vec<Device>) -> Result<Self, String> {
        if devices.is_empty() {
            return Err("data parallelism needs at least one device".into());
        }
        Ok(Self { devices })
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
        for chunk in micro.chunks(w) {
            let outs: Vec<Result<(GradientsParams, MicroLosses), String>> =
                std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .iter()
                        .zip(&self.devices)
                        .map(|(b, dev)| {
                            let fork = model.clone().fork(dev);
                            let image = b.image.clone().to_device(dev);
                            let targets: Vec<_> =
                                b.targets.iter().map(|t| t.clone().to_device(dev)).collect();
                            s.spawn(move || {
                                let out = train_step(&fork.model, image, &targets, &fork.tasks);
                                (out.grads, (out.losses, out.total))
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .enumerate()
                        .map(|(i, h)| {
                            h.join().map_err(|p| {
                                format!("worker on device {i} failed: {}", panic_message(&*p))
                            })
                        })
                        .collect()
                });
            for out in outs {
                let (grads, l) = out?;
                acc.accumulate(model, grads.to_device(main, model));
                losses.push(l);
            }
        }
        Ok((acc.grads(), losses))
    }
}
