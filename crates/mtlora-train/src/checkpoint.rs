//! Training checkpoints: one safetensors file with the full model state dict (reference keys),
//! the AdamW moments and step counts (`optim.*`), and in its metadata the run config, the
//! position in the run and the evaluation history. Written atomically (temp file + rename).

use std::collections::HashMap;
use std::path::Path;

use mtlora::{MultiTaskSwin, StateDict};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::record::EvalRecord;
use crate::trainer::Trainer;
use crate::TrainError;

/// Format tag in the metadata.
pub const FORMAT: &str = "mtlora-rs-train-checkpoint-v1";
const OPTIM_PREFIX: &str = "optim.";

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

/// A loaded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Model state dict.
    pub model: StateDict,
    /// Optimizer state (`exp_avg.<key>`, `exp_avg_sq.<key>`, `step.<key>`).
    pub optim: StateDict,
    /// Run configuration (absent for plain model checkpoints).
    pub run: Option<RunConfig>,
    /// Model configuration from the metadata, when present.
    pub model_config: Option<mtlora::ModelConfig>,
    /// Run position (absent for plain model checkpoints).
    pub state: Option<RunState>,
}

fn ck_err(path: &Path, msg: impl Into<String>) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// Save the trainer's model and optimizer with the run state.
pub fn save(
    path: &Path,
    trainer: &Trainer,
    run: &RunConfig,
    state: &RunState,
) -> Result<(), TrainError> {
    let mut tensors = trainer.model.state_dict(&trainer.ctx);
    for (k, v) in trainer.optim.export(&trainer.model, &trainer.ctx) {
        tensors.insert(format!("{OPTIM_PREFIX}{k}"), v);
    }
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("mtlora.config".to_string(), json(&run.model)),
        ("mtlora.run".to_string(), json(run)),
        ("mtlora.state".to_string(), json(state)),
    ]);
    mtlora::write_safetensors(path, &tensors, Some(meta))?;
    Ok(())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Load any checkpoint: ours (safetensors, with or without training state) or an official
/// `.pth` (`{'model': state_dict}`).
pub fn load(path: &Path) -> Result<Checkpoint, TrainError> {
    if !path.exists() {
        return Err(ck_err(path, "no such file"));
    }
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        // official `.pth` (or another format `read_state_dict` names in its error)
        let model = mtlora::read_state_dict(path)?;
        return Ok(Checkpoint {
            model,
            optim: StateDict::new(),
            run: None,
            model_config: None,
            state: None,
        });
    }
    let (all, meta) = mtlora::read_safetensors_with_metadata(path)?;
    let mut model = StateDict::new();
    let mut optim = StateDict::new();
    for (k, v) in all {
        match k.strip_prefix(OPTIM_PREFIX) {
            Some(o) => {
                optim.insert(o.to_string(), v);
            }
            None => {
                model.insert(k, v);
            }
        }
    }
    let parse = |key: &str| -> Result<Option<serde_json::Value>, TrainError> {
        meta.get(key)
            .map(|s| {
                serde_json::from_str(s).map_err(|e| ck_err(path, format!("metadata {key}: {e}")))
            })
            .transpose()
    };
    let run = parse("mtlora.run")?
        .map(|v| {
            serde_json::from_value::<RunConfig>(v)
                .map_err(|e| ck_err(path, format!("metadata mtlora.run: {e}")))
        })
        .transpose()?;
    let model_config = match parse("mtlora.config")? {
        Some(v) => Some(mtlora::ModelConfig::from_json_value(&v)?),
        None => None,
    };
    let state = parse("mtlora.state")?
        .map(|v| {
            serde_json::from_value::<RunState>(v)
                .map_err(|e| ck_err(path, format!("metadata mtlora.state: {e}")))
        })
        .transpose()?;
    Ok(Checkpoint {
        model,
        optim,
        run,
        model_config,
        state,
    })
}

/// Load `sd` into `model` strictly: every missing, unexpected or mis-shaped key is listed.
pub fn load_model_strict(
    model: MultiTaskSwin,
    sd: &StateDict,
    cfg: &mtlora::ModelConfig,
    path: &Path,
) -> Result<MultiTaskSwin, TrainError> {
    let (model, report) = model.load_state_dict(sd, &mtlora::NameContext::new(cfg));
    report
        .ensure_strict()
        .map_err(|e| ck_err(path, format!("does not match the model: {e}")))?;
    Ok(model)
}
