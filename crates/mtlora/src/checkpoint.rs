//! The one checkpoint format: a safetensors file holding the model's full state dict under the
//! reference key names, optional training-state tensors under `optim.`, and string metadata —
//! `format`, `mtlora.config` (the model config as JSON) and whatever sections the writer adds
//! (the trainer adds `mtlora.run` and `mtlora.state`). Official `.pth` checkpoints
//! (`{'model': state_dict}`) are read as a model state dict without metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::model::MultiTaskSwin;
use crate::state_dict::{read_pth, read_safetensors_with_metadata, write_safetensors, StateDict};

/// The format tag written to the metadata.
pub const FORMAT: &str = "mtlora-rs-checkpoint-v1";
/// Tags accepted on reading: this format and the training checkpoints written before the two
/// formats were merged (same layout).
const ACCEPTED: [&str; 2] = [FORMAT, "mtlora-rs-train-checkpoint-v1"];
/// Prefix of the training-state tensors.
pub const OPTIM_PREFIX: &str = "optim.";
const CONFIG_KEY: &str = "mtlora.config";

/// Keys of the float tensors holding a NaN or an infinity.
pub fn non_finite(tensors: &StateDict) -> Vec<String> {
    tensors
        .iter()
        .filter(|(_, d)| match d.dtype() {
            burn::tensor::DType::F32 => d
                .as_slice::<f32>()
                .is_ok_and(|v| v.iter().any(|x| !x.is_finite())),
            burn::tensor::DType::F64 => d
                .as_slice::<f64>()
                .is_ok_and(|v| v.iter().any(|x| !x.is_finite())),
            _ => false,
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn ensure_finite(path: &Path, tensors: &StateDict) -> Result<(), ModelError> {
    let bad = non_finite(tensors);
    if bad.is_empty() {
        return Ok(());
    }
    let listed: Vec<&str> = bad.iter().take(8).map(String::as_str).collect();
    Err(ModelError::format(
        path,
        format!(
            "{} tensor(s) hold NaN or infinite values (a diverged or damaged run): {}{}",
            bad.len(),
            listed.join(", "),
            if bad.len() > 8 { ", ..." } else { "" }
        ),
    ))
}

/// A checkpoint read from disk, split into its parts.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The model state dict (reference keys).
    pub model: StateDict,
    /// Training-state tensors, `optim.` stripped (empty for model-only and `.pth` files).
    pub optim: StateDict,
    /// Metadata strings (empty for `.pth`).
    pub metadata: HashMap<String, String>,
}

impl CheckpointFile {
    /// Read a checkpoint: `.safetensors` in this format, or an official `.pth`/`.pt`. A
    /// checkpoint with any non-finite value (model or optimizer state) is refused.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        if !path.exists() {
            return Err(ModelError::not_found(path));
        }
        if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
            let model = read_pth(path)?;
            ensure_finite(path, &model)?;
            return Ok(Self {
                path: path.to_path_buf(),
                model,
                optim: StateDict::new(),
                metadata: HashMap::new(),
            });
        }
        let (all, metadata) = read_safetensors_with_metadata(path)?;
        if let Some(tag) = metadata.get("format") {
            if !ACCEPTED.contains(&tag.as_str()) {
                return Err(ModelError::format(
                    path,
                    format!("unknown checkpoint format {tag:?} (this build reads {FORMAT:?})"),
                ));
            }
        }
        ensure_finite(path, &all)?;
        let (mut model, mut optim) = (StateDict::new(), StateDict::new());
        for (k, v) in all {
            match k.strip_prefix(OPTIM_PREFIX) {
                Some(o) => optim.insert(o.to_string(), v),
                None => model.insert(k, v),
            };
        }
        Ok(Self {
            path: path.to_path_buf(),
            model,
            optim,
            metadata,
        })
    }

    /// The model config stored with the checkpoint (`None` for `.pth` files).
    pub fn model_config(&self) -> Result<Option<ModelConfig>, ModelError> {
        self.metadata
            .get(CONFIG_KEY)
            .map(|s| ModelConfig::from_json_str(s).map_err(|e| e.in_file(&self.path)))
            .transpose()
    }

    /// A metadata section parsed as JSON into `T` (`None` when absent).
    pub fn section<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ModelError> {
        self.metadata
            .get(key)
            .map(|s| {
                serde_json::from_str(s)
                    .map_err(|e| ModelError::format(&self.path, format!("metadata {key}: {e}")))
            })
            .transpose()
    }

    /// Load the model part into `model`, strictly (every problem listed, naming the file).
    pub fn load_into(&self, model: MultiTaskSwin) -> Result<MultiTaskSwin, ModelError> {
        model.load_strict(&self.model, &self.path)
    }
}

/// Write a checkpoint atomically: `model`'s state dict, `optim` tensors under `optim.`, the
/// format tag and model config, and the extra metadata `sections` (JSON strings).
pub fn write_checkpoint(
    path: &Path,
    model: &MultiTaskSwin,
    cfg: &ModelConfig,
    optim: StateDict,
    sections: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ModelError> {
    let mut tensors = model.state_dict()?;
    for (k, v) in optim {
        tensors.insert(format!("{OPTIM_PREFIX}{k}"), v);
    }
    let config = serde_json::to_string(cfg).map_err(|e| ModelError::Config(e.to_string()))?;
    let mut meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        (CONFIG_KEY.to_string(), config),
    ]);
    meta.extend(sections);
    write_safetensors(path, &tensors, Some(meta))
}

impl MultiTaskSwin {
    /// Save a model-only checkpoint (see the module docs), atomically.
    pub fn save_checkpoint(&self, path: &Path, cfg: &ModelConfig) -> Result<(), ModelError> {
        write_checkpoint(path, self, cfg, StateDict::new(), [])
    }

    /// Load the model part of a checkpoint (this format, with or without training state, or an
    /// official `.pth`) strictly: any missing, unexpected or mis-shaped key is an error that
    /// lists them all.
    pub fn load_checkpoint(self, path: &Path) -> Result<Self, ModelError> {
        CheckpointFile::read(path)?.load_into(self)
    }
}
