//! Run configuration: the model (`[model]` table, or a flat model file) plus the training
//! recipe (`[train]` table, training.md §1). Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::Path;

use mtlora::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::schedule::{scale_lr, CosineSchedule};

/// Largest accepted `train.epochs` (the paper trains 300).
pub const MAX_EPOCHS: usize = 100_000;
/// Largest accepted batch size, accumulation, worker or device count.
pub const MAX_BATCH: usize = 65_536;

/// Training recipe. Defaults are the paper's (training.md §1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs.
    pub epochs: usize,
    /// Linear warmup epochs.
    pub warmup_epochs: usize,
    /// Micro-batch size.
    pub batch_size: usize,
    /// Micro-batches per optimizer step and worker (gradients averaged, training.md §5.1).
    pub accumulation_steps: usize,
    /// Data-parallel workers (one micro-batch each per round; see `parallel.rs`).
    pub data_parallel: usize,
    /// Peak LR before the linear scaling.
    pub base_lr: f64,
    /// Warmup start LR before the linear scaling.
    pub warmup_lr: f64,
    /// Final LR before the linear scaling.
    pub min_lr: f64,
    /// Scale the three LRs by `batch·workers·accumulation/512` (reference `main.py`).
    pub scale_lr: bool,
    /// AdamW weight decay of the decay group.
    pub weight_decay: f64,
    /// Global gradient-norm clipping (0 = off).
    pub clip_grad: f64,
    /// Evaluate after 0-based epochs `e % eval_every == 0` and after the last epoch.
    pub eval_every: usize,
    /// Checkpoint after epochs `e % ckpt_every == 0` and after the last epoch.
    pub ckpt_every: usize,
    /// Evaluation batch size.
    pub eval_batch_size: usize,
    /// Data decoding threads.
    pub workers: usize,
    /// Training augmentation (flip, scale/rotate).
    pub augment: bool,
    /// Seed of data order, augmentation, dropout and DropPath.
    pub seed: u64,
    /// Δm baselines (percent for mIoU tasks, degrees for normals).
    pub delta_m_baselines: BTreeMap<String, f64>,
    /// Stop the run with an error after this many optimizer steps in a row were skipped for
    /// non-finite losses or gradients (0: never stop); the last checkpoint stays the last good
    /// state.
    pub max_skipped_in_a_row: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 300,
            warmup_epochs: 20,
            batch_size: 32,
            accumulation_steps: 1,
            data_parallel: 1,
            base_lr: 5e-4,
            warmup_lr: 5e-7,
            min_lr: 5e-6,
            scale_lr: true,
            weight_decay: 0.05,
            clip_grad: 5.0,
            eval_every: 5,
            ckpt_every: 5,
            eval_batch_size: 32,
            workers: 2,
            augment: true,
            seed: 0,
            delta_m_baselines: mtlora_metrics::Baselines::default().to_names(),
            max_skipped_in_a_row: 25,
        }
    }
}

impl TrainConfig {
    /// The schedule for `n` optimizer steps per epoch.
    pub fn schedule(&self, n: usize) -> CosineSchedule {
        let f = |lr| {
            if self.scale_lr {
                scale_lr(
                    lr,
                    self.batch_size,
                    self.data_parallel,
                    self.accumulation_steps,
                )
            } else {
                lr
            }
        };
        CosineSchedule::from_epochs(
            f(self.base_lr),
            f(self.warmup_lr),
            f(self.min_lr),
            self.epochs,
            self.warmup_epochs,
            n,
        )
    }

    /// Whether to evaluate after 0-based epoch `e`.
    pub fn eval_after(&self, e: usize) -> bool {
        e + 1 == self.epochs || (self.eval_every > 0 && e.is_multiple_of(self.eval_every))
    }

    /// Whether to checkpoint after 0-based epoch `e`.
    pub fn ckpt_after(&self, e: usize) -> bool {
        e + 1 == self.epochs || (self.ckpt_every > 0 && e.is_multiple_of(self.ckpt_every))
    }

    /// Reject settings that cannot run.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.epochs == 0 {
            return bad("train.epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 || self.accumulation_steps == 0 {
            return bad(
                "train.batch_size, eval_batch_size and accumulation_steps must be at least 1"
                    .into(),
            );
        }
        if self.warmup_epochs > self.epochs {
            return bad(format!(
                "train.warmup_epochs ({}) exceeds train.epochs ({})",
                self.warmup_epochs, self.epochs
            ));
        }
        if self.clip_grad.is_nan() || self.clip_grad < 0.0 {
            return bad("train.clip_grad must be >= 0".into());
        }
        // sizes whose products (iterations, LR scaling) must not overflow or run for ever
        for (name, v, max) in [
            ("epochs", self.epochs, MAX_EPOCHS),
            ("batch_size", self.batch_size, MAX_BATCH),
            ("eval_batch_size", self.eval_batch_size, MAX_BATCH),
            ("accumulation_steps", self.accumulation_steps, MAX_BATCH),
            ("data_parallel", self.data_parallel, MAX_BATCH),
            ("workers", self.workers, MAX_BATCH),
        ] {
            if v > max {
                return bad(format!("train.{name} = {v} is above the limit {max}"));
            }
        }
        if self.data_parallel == 0 {
            return bad("train.data_parallel must be at least 1".into());
        }
        if !(self.base_lr.is_finite() && self.base_lr > 0.0) {
            return bad(format!(
                "train.base_lr must be finite and > 0, got {}",
                self.base_lr
            ));
        }
        for (name, v) in [
            ("warmup_lr", self.warmup_lr),
            ("min_lr", self.min_lr),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("train.{name} must be finite and >= 0, got {v}"));
            }
        }
        if let Some((k, v)) = self.delta_m_baselines.iter().find(|(_, v)| !v.is_finite()) {
            return bad(format!(
                "train.delta_m_baselines.{k} must be finite, got {v}"
            ));
        }
        if let Err(e) = mtlora_metrics::Baselines::from_names(&self.delta_m_baselines) {
            return bad(format!("train.delta_m_baselines: {e}"));
        }
        Ok(())
    }
}

/// Model + training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Model.
    pub model: ModelConfig,
    /// Training recipe.
    pub train: TrainConfig,
}

/// Keys of `input` (recursively) that `known` does not have.
fn unknown_keys(input: &toml::Value, known: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    if let (Some(a), Some(b)) = (input.as_table(), known.as_table()) {
        for (k, v) in a {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match b.get(k) {
                Some(kv) => unknown_keys(v, kv, &path, out),
                None => out.push(path),
            }
        }
    }
}

impl RunConfig {
    /// Parse TOML: either `[model]` + `[train]` tables or a flat model file with an optional
    /// `[train]` table.
    pub fn from_toml_str(text: &str) -> Result<Self, TrainError> {
        let mut v: toml::Value =
            toml::from_str(text).map_err(|e| TrainError::Config(format!("TOML: {e}")))?;
        let table = v
            .as_table_mut()
            .ok_or_else(|| TrainError::Config("TOML: not a table".into()))?;
        let train_v = table.remove("train");
        let model_v = match table.remove("model") {
            Some(m) => {
                if let Some(k) = table.keys().next() {
                    return Err(TrainError::Config(format!(
                        "unknown top-level key {k:?} (expected [model] and [train])"
                    )));
                }
                m
            }
            None => toml::Value::Table(table.clone()),
        };
        let model: ModelConfig = model_v.clone().try_into().map_err(|e: toml::de::Error| {
            TrainError::Config(format!("[model]: {}", e.message()))
        })?;
        for t in &model.tasks {
            if let Err(e) = mtlora_pascal::pascal_task(&t.name) {
                return Err(TrainError::Config(e.to_string()));
            }
        }
        model.validate()?;
        let known = toml::Value::try_from(&model)
            .map_err(|e| TrainError::Config(format!("[model]: {e}")))?;
        let mut unknown = vec![];
        unknown_keys(&model_v, &known, "", &mut unknown);
        // optional keys that serialize only when set
        unknown.retain(|k| k != "freeze.downsample_reduction_effective");
        if !unknown.is_empty() {
            return Err(TrainError::Config(format!(
                "unknown model key(s): {}",
                unknown.join(", ")
            )));
        }
        let train: TrainConfig = match train_v {
            Some(t) => t.clone().try_into().map_err(|e: toml::de::Error| {
                // name the offending key: the first one that fails on its own
                let key = t.as_table().and_then(|tab| {
                    tab.iter().find_map(|(k, v)| {
                        let mut one = toml::map::Map::new();
                        one.insert(k.clone(), v.clone());
                        toml::Value::Table(one)
                            .try_into::<TrainConfig>()
                            .is_err()
                            .then(|| k.clone())
                    })
                });
                match key {
                    Some(k) => TrainError::Config(format!("[train] {k}: {}", e.message())),
                    None => TrainError::Config(format!("[train]: {}", e.message())),
                }
            })?,
            None => TrainConfig::default(),
        };
        train.validate()?;
        Ok(Self { model, train })
    }

    /// Read a TOML file.
    pub fn from_path(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            TrainError::Config(m) => TrainError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The resolved configuration as TOML (`[model]` + `[train]`).
    pub fn to_toml_string(&self) -> Result<String, TrainError> {
        toml::to_string_pretty(self).map_err(|e| TrainError::Config(format!("as TOML: {e}")))
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    const TINY: &str = include_str!("../../../configs/mtlora_tiny_cpu.toml");

    #[test]
    fn flat_and_nested_forms_roundtrip() {
        let a = RunConfig::from_toml_str(TINY).unwrap();
        assert_eq!(a.train, TrainConfig::default());
        let b = RunConfig::from_toml_str(&a.to_toml_string().unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_and_mistyped_keys_are_named() {
        let e = RunConfig::from_toml_str(&format!("window_sise = 7\n{TINY}")).unwrap_err();
        assert!(e.to_string().contains("window_sise"), "{e}");
        let e = RunConfig::from_toml_str(&format!("{TINY}\n[train]\nepochz = 3\n")).unwrap_err();
        assert!(e.to_string().contains("epochz"), "{e}");
        let e = RunConfig::from_toml_str(&format!("{TINY}\n[train]\nepochs = \"three\"\n"))
            .unwrap_err();
        assert!(
            e.to_string().contains("[train] epochs") && e.to_string().contains("usize"),
            "{e}"
        );
        let e = RunConfig::from_toml_str(&TINY.replace("name = \"sal\"", "name = \"saliency\""))
            .unwrap_err();
        assert!(e.to_string().contains("saliency"), "{e}");
    }

    #[test]
    fn schedule_uses_effective_batch() {
        let t = TrainConfig {
            batch_size: 8,
            accumulation_steps: 4,
            ..Default::default()
        };
        let s = t.schedule(10);
        assert!((s.base_lr - 5e-4 * 32.0 / 512.0).abs() < 1e-15);
        assert!(t.eval_after(0) && !t.eval_after(1) && t.eval_after(5) && t.eval_after(299));
    }

    #[test]
    fn recipe_values_out_of_range_are_named() {
        let check = |edit: &dyn Fn(&mut TrainConfig), what: &str| {
            let mut t = TrainConfig::default();
            edit(&mut t);
            let e = t.validate().expect_err(what).to_string();
            assert!(e.contains(what), "{what}: {e}");
        };
        check(&|t| t.epochs = usize::MAX, "train.epochs");
        check(&|t| t.batch_size = 1 << 40, "train.batch_size");
        check(&|t| t.data_parallel = 0, "train.data_parallel");
        check(&|t| t.base_lr = f64::NAN, "train.base_lr");
        check(&|t| t.base_lr = -1e-4, "train.base_lr");
        check(&|t| t.warmup_lr = f64::INFINITY, "train.warmup_lr");
        check(&|t| t.weight_decay = -0.05, "train.weight_decay");
        check(&|t| t.min_lr = f64::NAN, "train.min_lr");
        check(
            &|t| {
                t.delta_m_baselines.insert("semseg".into(), f64::NAN);
            },
            "train.delta_m_baselines.semseg",
        );
        check(
            &|t| {
                t.delta_m_baselines.insert("segm".into(), 50.0);
            },
            "unknown task \"segm\"",
        );
        TrainConfig::default()
            .validate()
            .expect("the paper's recipe is valid");
    }
}
