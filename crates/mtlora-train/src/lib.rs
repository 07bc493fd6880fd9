//! Training pieces of MTLoRA: per-task losses, AdamW with the reference parameter grouping,
//! global-norm gradient clipping, one training step, the training loop, checkpoints and run
//! records (metrics as JSON and CSV), the evaluation of a trained model. The fixture checks live
//! in `mtlora-parity`; plots, predicted images and progress bars in `mtlora-cli`.

pub mod checkpoint;
pub mod config;
mod error;
pub mod grads;
pub mod heads;
pub mod inference;
pub mod losses;
pub mod optim;
pub mod parallel;
pub mod record;
pub mod run;
pub mod schedule;
pub mod step;
pub mod trainer;

pub use config::{RunConfig, TrainConfig};
pub use error::TrainError;
pub use heads::{task_heads, TaskHead};
pub use losses::{balanced_bce, masked_cross_entropy, normals_l1, task_loss, weighted_bce};
pub use mtlora_tasks::{LossKind, Task};
pub use optim::{AdamW, AdamWConfig};
pub use step::{train_step, StepOutput};
pub use trainer::{Batch, EvalResult, IterRecord, Trainer};
