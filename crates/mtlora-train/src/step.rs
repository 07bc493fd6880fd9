//! Forward + multi-task loss + backward of one batch.

use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use mtlora::MultiTaskSwin;

use crate::heads::TaskHead;
use crate::losses::task_loss;

/// Result of [`train_step`].
pub struct StepOutput {
    /// Per-task loss values (task order).
    pub losses: Vec<f32>,
    /// Weighted total.
    pub total: f32,
    /// Gradients of every parameter that received one.
    pub grads: GradientsParams,
    /// Train-mode head outputs before the final upsampling (task order).
    pub heads: Vec<Tensor<4>>,
}

/// [`train_step`] with the loss values left on the device.
pub(crate) struct DeferredStep {
    /// `[L_0, …, L_{T-1}, total]`, detached.
    pub values: Tensor<1>,
    pub grads: GradientsParams,
}

/// `(per-task losses, total)` from a `[L_0, …, L_{T-1}, total]` read-back.
pub(crate) fn split_losses(values: &[f32]) -> (Vec<f32>, f32) {
    let n = values.len() - 1;
    (values[..n].to_vec(), values[n])
}

/// One forward/backward: `total = Σ_t w_t·L_t` in task order. The model must live on an
/// autodiff device and be in training mode; no optimizer step is taken.
///
/// # Shapes
/// - `input`: `[B, 3, H, W]`; `targets[t]`: `[B, 1|3, H, W]` per task in task order
pub fn train_step(
    model: &MultiTaskSwin,
    input: Tensor<4>,
    targets: &[Tensor<4>],
    tasks: &[TaskHead],
) -> StepOutput {
    let (d, heads) = train_step_deferred(model, input, targets, tasks);
    let values: Vec<f32> = d
        .values
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .expect("f32 losses");
    let (losses, total) = split_losses(&values);
    StepOutput {
        losses,
        total,
        grads: d.grads,
        heads,
    }
}

/// [`train_step`] without reading anything back (the trainer reads the losses together with the
/// gradient norm: one device round trip per optimizer step).
pub(crate) fn train_step_deferred(
    model: &MultiTaskSwin,
    input: Tensor<4>,
    targets: &[Tensor<4>],
    tasks: &[TaskHead],
) -> (DeferredStep, Vec<Tensor<4>>) {
    assert_eq!(
        targets.len(),
        model.num_tasks(),
        "train_step: one target per task"
    );
    assert_eq!(tasks.len(), targets.len(), "train_step: one head per task");
    let out = model.forward(input);
    let mut total: Option<Tensor<1>> = None;
    let mut terms = Vec::with_capacity(targets.len());
    for (t, pred) in out.outputs.into_iter().enumerate() {
        let l = task_loss(tasks[t].loss, pred, targets[t].clone());
        terms.push(l.clone().detach());
        let term = l.mul_scalar(tasks[t].weight);
        total = Some(match total {
            Some(acc) => acc + term,
            None => term,
        });
    }
    let total = total.expect("at least one task");
    terms.push(total.clone().detach());
    let values = Tensor::cat(terms, 0);
    let grads = GradientsParams::from_grads(total.backward(), model);
    (DeferredStep { values, grads }, out.heads)
}
