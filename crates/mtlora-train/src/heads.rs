//! The tasks of a model configuration, typed once: what the step, the trainer and the
//! evaluation need to know per task, in the model's task order.

use burn::tensor::{Device, Distribution, Tensor};
use mtlora::ModelConfig;
use mtlora_tasks::{LossKind, MetricKind, Task};

use crate::TrainError;

/// One task as training sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskHead {
    /// The task.
    pub task: Task,
    /// Its loss.
    pub loss: LossKind,
    /// Its weight in the total loss.
    pub weight: f64,
    /// Output channels of its head (classes for segmentation).
    pub num_output: usize,
}

/// The heads of `cfg` in its task order. A task missing from `loss_weights` gets weight 1
/// (the configuration's documented default); a task without a loss is an error.
pub fn task_heads(cfg: &ModelConfig) -> Result<Vec<TaskHead>, TrainError> {
    cfg.tasks
        .iter()
        .map(|t| {
            let task = Task::from_name(&t.name).map_err(|e| TrainError::Config(e.to_string()))?;
            let loss = task
                .loss()
                .ok_or_else(|| TrainError::Config(format!("task {task} has no loss yet")))?;
            Ok(TaskHead {
                task,
                loss,
                weight: cfg.loss_weights.get(&t.name).copied().unwrap_or(1.0),
                num_output: t.num_output,
            })
        })
        .collect()
}

/// The tasks of `heads`, in order.
pub fn tasks_of(heads: &[TaskHead]) -> Vec<Task> {
    heads.iter().map(|h| h.task).collect()
}

/// Random targets of each head's shape and value range, `[B, C, H, W]` in head order (for
/// benchmarks and tests): normals N(0, 1), saliency Bernoulli(0.3), class maps uniform integer
/// classes below `num_output`.
pub fn random_targets(
    heads: &[TaskHead],
    b: usize,
    [h, w]: [usize; 2],
    device: &Device,
) -> Vec<Tensor<4>> {
    heads
        .iter()
        .map(|t| match t.task.metric() {
            Some(MetricKind::Normals) => {
                Tensor::random([b, 3, h, w], Distribution::Normal(0.0, 1.0), device)
            }
            Some(MetricKind::Saliency) => {
                Tensor::random([b, 1, h, w], Distribution::Bernoulli(0.3), device)
            }
            _ => Tensor::random(
                [b, 1, h, w],
                Distribution::Uniform(0.0, t.num_output as f64),
                device,
            )
            .floor(),
        })
        .collect()
}
