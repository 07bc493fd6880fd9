//! The run's data: both splits, their loaders, and loader batches in the model's task order.

use std::path::Path;

use burn::data::dataset::Dataset;
use mtlora_pascal::dataset::{DatasetConfig, MultiTaskBatch, PascalDataset, PascalLoader};
use mtlora_pascal::{PascalRoot, Task, TransformConfig};

use super::RunOptions;
use crate::config::RunConfig;
use crate::trainer::Batch;
use crate::TrainError;

/// Open a split of a PASCAL_MT root, with a hint to `dataset verify` on failure.
pub fn open_split(
    data: &Path,
    cache: Option<&Path>,
    split: &str,
    tasks: &[Task],
    size: [usize; 2],
    augment: bool,
    seed: u64,
) -> Result<PascalDataset, TrainError> {
    let mut root = PascalRoot::new(data);
    if let Some(c) = cache {
        root = root.with_cache_dir(c);
    }
    PascalDataset::new(
        root,
        DatasetConfig {
            splits: vec![split.into()],
            tasks: tasks.to_vec(),
            transform: TransformConfig { size, ..Default::default() },
            augment,
            seed,
        },
    )
    .map_err(|e| {
        TrainError::Dataset(format!(
            "{} is not a usable PASCAL_MT folder: {e}\n  check it with `cargo xtask dataset verify {}`",
            data.display(),
            data.display()
        ))
    })
}

/// Every head has the outputs its PASCAL_MT labels need (21 semseg classes, 7 part classes,
/// 1 saliency logit, 3 normal components): a mismatch is named here, before any batch reaches
/// a loss kernel.
pub fn check_heads(heads: &[crate::TaskHead]) -> Result<(), TrainError> {
    for h in heads {
        match mtlora_pascal::classes::outputs_for(h.task) {
            Some(n) if n != h.num_output => {
                return Err(TrainError::Config(format!(
                    "task {}: num_output = {}, but PASCAL_MT's {} labels need {n}",
                    h.task, h.num_output, h.task
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A loader batch in the model's task order.
pub fn to_batch(b: MultiTaskBatch, tasks: &[Task]) -> Result<Batch, TrainError> {
    let mut targets = vec![];
    let mut map = b.targets;
    for t in tasks {
        targets.push(
            map.remove(t)
                .ok_or_else(|| TrainError::Dataset(format!("batch has no {t} targets")))?,
        );
    }
    Ok(Batch {
        image: b.image,
        targets,
    })
}

/// Both splits of a run.
pub(super) struct RunData {
    pub(super) train: PascalDataset,
    pub(super) val: PascalDataset,
    /// Loader batches per optimizer step (accumulation × data parallel).
    pub(super) per_step: usize,
}

/// The loaders of a run's splits.
pub(super) struct Loaders<'a> {
    pub(super) train: PascalLoader<'a>,
    pub(super) val: PascalLoader<'a>,
    /// Optimizer steps per epoch.
    pub(super) steps: usize,
}

impl RunData {
    pub(super) fn open(
        cfg: &RunConfig,
        opts: &RunOptions,
        tasks: &[Task],
    ) -> Result<Self, TrainError> {
        let t = &cfg.train;
        let split = |name: &str, augment: bool| {
            open_split(
                &opts.data,
                opts.cache_dir.as_deref(),
                name,
                tasks,
                cfg.model.img_size,
                augment,
                t.seed,
            )
        };
        let train = split("train", t.augment)?;
        let val = split("val", false)?;
        let per_step = t.accumulation_steps * t.data_parallel;
        if train.len() < t.batch_size * per_step {
            return Err(TrainError::Dataset(format!(
                "{}: {} training images, fewer than one optimizer step needs ({} × {} × {})",
                opts.data.display(),
                train.len(),
                t.batch_size,
                t.accumulation_steps,
                t.data_parallel
            )));
        }
        Ok(Self {
            train,
            val,
            per_step,
        })
    }

    pub(super) fn loaders(&self, cfg: &RunConfig) -> Loaders<'_> {
        let t = &cfg.train;
        let train = PascalLoader::train(&self.train, t.batch_size, t.workers, t.seed);
        let val = PascalLoader::eval(&self.val, t.eval_batch_size, t.workers);
        let steps = train.num_batches() / self.per_step;
        Loaders { train, val, steps }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_with_the_wrong_number_of_outputs_is_named() {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/mtlora_tiny_cpu.toml"
        );
        let cfg = mtlora::ModelConfig::from_path(Path::new(p)).unwrap();
        let mut heads = crate::task_heads(&cfg).unwrap();
        check_heads(&heads).expect("the shipped config fits PASCAL_MT");
        let semseg = heads.iter_mut().find(|h| h.task == Task::Semseg).unwrap();
        semseg.num_output = 5;
        let e = check_heads(&heads).unwrap_err().to_string();
        assert!(
            e.contains("semseg: num_output = 5") && e.contains("need 21"),
            "{e}"
        );
    }
}
