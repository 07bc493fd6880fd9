//! The tasks of a model configuration, typed once: what the step, the trainer and the
//! evaluation need to know per task, in the model's task order.

use mtlora::ModelConfig;
use mtlora_tasks::{LossKind, Task};

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
