//! Training checkpoints in the model crate's one format ([`mtlora::checkpoint`]): the model's
//! state dict, the AdamW moments and step counts (`optim.*`), and in the metadata the run
//! config (`mtlora.run`) and the position in the run with the evaluation history
//! (`mtlora.state`). Written atomically (temp file + rename).

use std::path::Path;

use mtlora::{CheckpointFile, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::record::EvalRecord;
use crate::trainer::Trainer;
use crate::TrainError;

const RUN_KEY: &str = "mtlora.run";
const STATE_KEY: &str = "mtlora.state";

/// Where a run stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Completed epochs (the next epoch to train).
    pub epochs_done: usize,
    /// Optimizer steps taken or skipped (scheduler position).
    pub iteration: usize,
    /// Steps skipped for non-finite values.
    pub skipped_steps: usize,
    /// Every evaluation so far.
    pub history: Vec<EvalRecord>,
    /// Best Δm so far and its epoch.
    pub best: Option<(f64, usize)>,
}

/// A loaded checkpoint: the file's parts with the training sections parsed.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The file (model and optimizer tensors, metadata).
    pub file: CheckpointFile,
    /// Run configuration (absent for model-only and `.pth` checkpoints).
    pub run: Option<RunConfig>,
    /// Model configuration from the metadata, when present.
    pub model_config: Option<ModelConfig>,
    /// Run position (absent for model-only and `.pth` checkpoints).
    pub state: Option<RunState>,
}

/// Save the trainer's model and optimizer with the run state.
pub fn save(
    path: &Path,
    trainer: &Trainer,
    run: &RunConfig,
    state: &RunState,
) -> Result<(), TrainError> {
    let json = |v: serde_json::Result<String>| {
        v.map_err(|e| TrainError::Config(format!("checkpoint metadata: {e}")))
    };
    let sections = [
        (RUN_KEY.to_string(), json(serde_json::to_string(run))?),
        (STATE_KEY.to_string(), json(serde_json::to_string(state))?),
    ];
    let optim = trainer.optim().export(trainer.model());
    mtlora::write_checkpoint(path, trainer.model(), &run.model, optim, sections)?;
    Ok(())
}

/// Load any checkpoint: ours (with or without training state) or an official `.pth`.
pub fn load(path: &Path) -> Result<Checkpoint, TrainError> {
    let file = CheckpointFile::read(path)?;
    let run = file.section::<RunConfig>(RUN_KEY)?;
    let state = file.section::<RunState>(STATE_KEY)?;
    let model_config = file.model_config()?;
    Ok(Checkpoint {
        file,
        run,
        model_config,
        state,
    })
}
