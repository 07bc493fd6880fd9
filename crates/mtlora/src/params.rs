//! Parameter accounting with the reference's categories (FORMAT.md §9).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::ModelConfig;
use crate::freeze::is_trainable;
use crate::model::MultiTaskSwin;
use crate::weights::named_tensors;

/// Fine category of a parameter key (`param_counts.json` → `categories`).
pub fn category(key: &str) -> &'static str {
    if key.contains("lora_shared") {
        "shared_lora"
    } else if key.contains("lora_tasks") {
        "task_lora"
    } else if key.starts_with("downsampler.") {
        "decoder_downsampler"
    } else if key.starts_with("decoders.") {
        "decoder_head"
    } else if key.contains("downsample.reduction") {
        "patch_merge_reduction"
    } else if key.contains("patch_embed") {
        "patch_embed"
    } else if key.contains("relative_position_bias_table") {
        "relative_position_bias_table"
    } else if key.contains("norm") {
        "layer_norm"
    } else {
        "frozen_linear"
    }
}

/// The numbers the reference `main.py` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MainPyPrintout {
    /// Trainable parameters.
    pub number_of_trainable_params: usize,
    /// Parameters outside the backbone.
    pub decoder_params: usize,
    /// Trainable parameters with `lora` in the name.
    pub lora_params: usize,
    /// Trainable − LoRA − decoder.
    pub extra_params: usize,
    /// All parameters.
    pub total_params: usize,
    /// All − LoRA.
    pub total_params_without_lora: usize,
}

/// Parameter counts of a model under its freezing policy (buffers excluded).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParamReport {
    /// All parameters.
    pub total: usize,
    /// Trainable parameters.
    pub trainable: usize,
    /// Frozen parameters.
    pub frozen: usize,
    /// shared_lora, task_lora, decoder, other (trainable).
    pub breakdown_trainable: BTreeMap<String, usize>,
    /// Trainable per fine category.
    pub breakdown_trainable_fine: BTreeMap<String, usize>,
    /// All per fine category.
    pub breakdown_total_fine: BTreeMap<String, usize>,
    /// `main.py` printout.
    pub main_py_printout: MainPyPrintout,
    /// Number of trainable tensors.
    pub n_trainable_tensors: usize,
    /// Trainable reference keys, in module order.
    pub trainable_names: Vec<String>,
}

impl MultiTaskSwin {
    /// Count parameters by reference key and category.
    pub fn param_report(&self, cfg: &ModelConfig) -> ParamReport {
        let mut r = ParamReport::default();
        let mut lora = 0;
        for n in named_tensors(self, self.names(), "") {
            if n.buffer {
                continue;
            }
            let numel: usize = n.shape.iter().product();
            let cat = category(&n.key);
            r.total += numel;
            *r.breakdown_total_fine.entry(cat.into()).or_default() += numel;
            if !n.key.starts_with("backbone") {
                r.main_py_printout.decoder_params += numel;
            }
            if n.key.contains("lora") {
                lora += numel;
            }
            if is_trainable(&n.key, cfg) {
                r.trainable += numel;
                r.n_trainable_tensors += 1;
                *r.breakdown_trainable_fine.entry(cat.into()).or_default() += numel;
                if n.key.contains("lora") {
                    r.main_py_printout.lora_params += numel;
                }
                r.trainable_names.push(n.key);
            }
        }
        r.frozen = r.total - r.trainable;
        let fine = |k: &str| r.breakdown_trainable_fine.get(k).copied().unwrap_or(0);
        let decoder = fine("decoder_downsampler") + fine("decoder_head");
        let (sl, tl) = (fine("shared_lora"), fine("task_lora"));
        r.breakdown_trainable = BTreeMap::from([
            ("shared_lora".into(), sl),
            ("task_lora".into(), tl),
            ("decoder".into(), decoder),
            ("other".into(), r.trainable - sl - tl - decoder),
        ]);
        let p = &mut r.main_py_printout;
        p.number_of_trainable_params = r.trainable;
        p.total_params = r.total;
        p.extra_params = r.trainable - p.lora_params - p.decoder_params;
        p.total_params_without_lora = r.total - lora;
        r
    }
}
