//! Loading a trained model for evaluation and prediction, and evaluating it on a split.

use std::path::Path;

use burn::data::dataset::Dataset;
use burn::tensor::Device;
use mtlora::{ModelConfig, MultiTaskSwin};
use mtlora_pascal::dataset::PascalLoader;

use crate::checkpoint;
use crate::config::RunConfig;
use crate::heads::{task_heads, tasks_of};
use crate::record::EvalRecord;
use crate::run::{open_split, to_batch, Observer};
use crate::trainer::evaluate_model;
use crate::TrainError;
use mtlora_metrics::Baselines;

/// A model ready for inference.
pub struct Loaded {
    /// Its configuration.
    pub cfg: ModelConfig,
    /// Run configuration when the checkpoint carries one (our training checkpoints).
    pub run: Option<RunConfig>,
    /// The model on the inference device (evaluation mode).
    pub model: MultiTaskSwin,
}

impl Loaded {
    /// The model with shared LoRA branches folded into the base weights (faster; outputs equal
    /// up to float rounding). `eval` keeps the unmerged model so its numbers match training's.
    pub fn merged(&self) -> MultiTaskSwin {
        self.model.clone().merge_for_inference().0
    }
}

/// Load a checkpoint (ours, or an official MTLoRA `.pth`) strictly. The model configuration
/// comes from `config` when given, else from the checkpoint's metadata.
pub fn load(ckpt: &Path, config: Option<&Path>, device: &Device) -> Result<Loaded, TrainError> {
    let c = checkpoint::load(ckpt)?;
    let given = config.map(RunConfig::from_path).transpose()?;
    let cfg = match (&given, &c.model_config) {
        (Some(g), _) => g.model.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => {
            return Err(TrainError::Config(format!(
                "{} carries no model configuration; pass --config FILE (e.g. configs/mtlora_tiny_448_r64_scale4_pertask.toml)",
                ckpt.display()
            )))
        }
    };
    let model = c.file.load_into(cfg.init(device)?)?;
    Ok(Loaded {
        cfg,
        run: given.or(c.run),
        model,
    })
}

/// Evaluate `loaded` on `split` of a PASCAL_MT root (evaluation transform at the model's size).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    loaded: &Loaded,
    data: &Path,
    cache: Option<&Path>,
    split: &str,
    batch_size: usize,
    workers: usize,
    baselines: Baselines,
    device: &Device,
    obs: &mut dyn Observer,
) -> Result<EvalRecord, TrainError> {
    let tasks = loaded.cfg.task_names();
    let heads = task_heads(&loaded.cfg)?;
    crate::run::check_heads(&heads)?;
    let typed = tasks_of(&heads);
    let ds = open_split(data, cache, split, &typed, loaded.cfg.img_size, false, 0)?;
    if ds.is_empty() {
        return Err(TrainError::Dataset(format!(
            "{}: split {split} is empty",
            data.display()
        )));
    }
    let loader = PascalLoader::eval(&ds, batch_size.max(1), workers.max(1));
    obs.eval_start(0, loader.num_batches());
    let batches = loader.epoch(0, device).map(|b| {
        b.map_err(TrainError::from)
            .and_then(|b| to_batch(b, &typed))
    });
    let mut tick = || obs.eval_batch();
    let res = evaluate_model(&loaded.model, &heads, baselines, batches, &mut tick)?;
    Ok(EvalRecord::from_result(0, 0, &tasks, &res))
}
