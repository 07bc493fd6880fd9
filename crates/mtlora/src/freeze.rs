//! Freezing policy of the reference (`models/lora.py:mark_only_lora_as_trainable` + `TRAIN.FREEZE_*`).

use burn::module::Param;
use burn::tensor::Tensor;

use crate::config::ModelConfig;
use crate::keyed::{map_keyed, Key, KeyedMapper};
use crate::model::MultiTaskSwin;
use crate::naming::is_buffer_key;

/// Whether the parameter with reference key `key` trains under `cfg`.
///
/// Outside the backbone everything trains. Inside it, with MTLoRA enabled and
/// `freeze_pretrained`, a parameter trains iff its name contains `lora_`, or one of the active
/// filters `patch_embed`, `norm`, `relative_position_bias_table`, `downsample.reduction`
/// (each switched off by its `freeze.*` flag; the reduction is also frozen in MTLoRA+), or
/// `bias` when `mtlora.bias = "all"`.
pub fn is_trainable(key: &str, cfg: &ModelConfig) -> bool {
    if is_buffer_key(key) {
        return false;
    }
    if !key.starts_with("backbone.") {
        return true;
    }
    let Some(m) = cfg
        .mtlora
        .as_ref()
        .filter(|m| m.enabled && m.freeze_pretrained)
    else {
        return true;
    };
    if key.contains("lora_") || (m.bias == "all" && key.contains("bias")) {
        return true;
    }
    let f = &cfg.freeze;
    [
        ("patch_embed", !f.patch_embed),
        ("norm", !f.layer_norm),
        ("relative_position_bias_table", !f.relative_position_bias),
        ("downsample.reduction", !cfg.reduction_frozen()),
    ]
    .iter()
    .any(|(pat, active)| *active && key.contains(pat))
}

struct Freezer<'a> {
    cfg: &'a ModelConfig,
}

impl KeyedMapper for Freezer<'_> {
    fn map<const D: usize>(&mut self, key: &Key<'_>, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if is_buffer_key(key) {
            return param;
        }
        param.set_require_grad(is_trainable(key, self.cfg))
    }
}

impl MultiTaskSwin {
    /// Apply the freezing policy of `cfg` (call after loading weights).
    pub fn apply_freezing(self, cfg: &ModelConfig) -> Self {
        let names = self.names().clone();
        map_keyed(self, &names, "", &mut Freezer { cfg })
    }
}
