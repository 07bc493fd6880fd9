//! The whole-model configuration (fields of the fixtures' `model` object, FORMAT.md §2).

use std::collections::BTreeMap;
use std::path::Path;

use mtlora_lora::SharedMode;
use mtlora_swin::{LoraSpec, SwinConfig, TaskLoraSpec};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// One task: name and output channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    /// `semseg`, `human_parts`, `sal`, `normals`, ...
    pub name: String,
    /// Output channels of the head.
    pub num_output: usize,
}

/// `mtlora` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtLoraConfig {
    /// MTLoRA layers present.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Shared rank per stage.
    pub shared_rank: Vec<usize>,
    /// Task → rank per stage (missing tasks use `shared_rank`).
    #[serde(default)]
    pub task_rank: BTreeMap<String, Vec<usize>>,
    /// Shared scale per stage.
    pub shared_scale: Vec<f64>,
    /// Task → scale per stage (missing tasks use `shared_scale`).
    #[serde(default)]
    pub task_scale: BTreeMap<String, Vec<f64>>,
    /// LoRA dropout per stage.
    #[serde(default)]
    pub dropout: Vec<f64>,
    /// Wrap qkv.
    #[serde(default = "yes")]
    pub qkv_enabled: bool,
    /// Wrap proj.
    #[serde(default = "yes")]
    pub proj_enabled: bool,
    /// Wrap fc1.
    #[serde(default = "yes")]
    pub fc1_enabled: bool,
    /// Wrap fc2.
    #[serde(default = "yes")]
    pub fc2_enabled: bool,
    /// MTLoRA+: LoRA on the patch-merging reduction, which is then frozen.
    #[serde(default)]
    pub downsampler_enabled: bool,
    /// `matrix` (paper) or `matrixv2`.
    #[serde(default)]
    pub shared_mode: SharedMode,
    /// Reference flag; must be false (quirk Q15: its extra adapters never reach an output).
    #[serde(default)]
    pub intermediate_specialization: bool,
    /// Trainable shared scales (not supported).
    #[serde(default)]
    pub trainable_scale_shared: bool,
    /// Trainable task scales (not supported).
    #[serde(default)]
    pub trainable_scale_per_task: bool,
    /// `none`, `all` or `lora_only` (no-op).
    #[serde(default = "bias_none")]
    pub bias: String,
    /// Apply `mark_only_lora_as_trainable`.
    #[serde(default = "yes")]
    pub freeze_pretrained: bool,
}

/// `TRAIN.FREEZE_*` flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FreezeConfig {
    /// Freeze the patch embedding.
    #[serde(default)]
    pub patch_embed: bool,
    /// Freeze all LayerNorms.
    #[serde(default)]
    pub layer_norm: bool,
    /// Freeze the relative-position-bias tables.
    #[serde(default)]
    pub relative_position_bias: bool,
    /// Freeze the patch-merging reduction.
    #[serde(default)]
    pub downsample_reduction: bool,
    /// Informational (derived): whether the reduction ends up frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downsample_reduction_effective: Option<bool>,
}

fn yes() -> bool {
    true
}
fn bias_none() -> String {
    "none".into()
}
fn d_patch() -> usize {
    4
}
fn d_in_chans() -> usize {
    3
}
fn d_mlp() -> f64 {
    4.0
}
fn d_eps() -> f64 {
    1e-5
}
fn d_mom() -> f64 {
    0.1
}
fn d_act() -> String {
    "gelu_erf".into()
}

/// The whole MTLoRA model: backbone geometry, LoRA, decoders, tasks, freezing, loss weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `[H, W]`.
    pub img_size: [usize; 2],
    /// Patch size.
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "d_in_chans")]
    pub in_chans: usize,
    /// C₀.
    pub embed_dim: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Heads per stage.
    pub num_heads: Vec<usize>,
    /// Window.
    pub window_size: usize,
    /// MLP ratio.
    #[serde(default = "d_mlp")]
    pub mlp_ratio: f64,
    /// qkv bias.
    #[serde(default = "yes")]
    pub qkv_bias: bool,
    /// Scale override.
    #[serde(default)]
    pub qk_scale: Option<f64>,
    /// Absolute position embedding (unsupported; must be false).
    #[serde(default)]
    pub ape: bool,
    /// Patch norm.
    #[serde(default = "yes")]
    pub patch_norm: bool,
    /// Final norm (the MTLoRA backbone has none; must be false).
    #[serde(default)]
    pub final_norm: bool,
    /// LayerNorm eps.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// BatchNorm eps.
    #[serde(default = "d_eps")]
    pub batch_norm_eps: f64,
    /// BatchNorm momentum.
    #[serde(default = "d_mom")]
    pub batch_norm_momentum: f64,
    /// `gelu_erf` only.
    #[serde(default = "d_act")]
    pub activation: String,
    /// Token dropout (must be 0).
    #[serde(default)]
    pub drop_rate: f64,
    /// Attention dropout (must be 0).
    #[serde(default)]
    pub attn_drop_rate: f64,
    /// Stochastic depth maximum.
    #[serde(default)]
    pub drop_path_rate: f64,
    /// ChannelReduction output channels per scale.
    pub decoder_channels: Vec<usize>,
    /// 1×1 downsampler convs present.
    #[serde(default = "yes")]
    pub decoder_downsampler: bool,
    /// One downsampler per task (must be true).
    #[serde(default = "yes")]
    pub per_task_downsampler: bool,
    /// Task → head type (`hrnet` only).
    #[serde(default)]
    pub decoder_head: BTreeMap<String, String>,
    /// Tasks in order.
    pub tasks: Vec<TaskConfig>,
    /// MTLoRA settings (absent: full fine-tuning model).
    #[serde(default)]
    pub mtlora: Option<MtLoraConfig>,
    /// Freeze flags.
    #[serde(default)]
    pub freeze: FreezeConfig,
    /// Task → loss weight.
    #[serde(default)]
    pub loss_weights: BTreeMap<String, f64>,
}

impl ModelConfig {
    /// Parse JSON text (a bare model object, or any object with a `model` field).
    pub fn from_json_str(text: &str) -> Result<Self, ModelError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Config(format!("JSON: {e}")))?;
        Self::from_json_value(&v)
    }

    /// From a JSON value (a bare model object, or an object with a `model` field).
    pub fn from_json_value(v: &serde_json::Value) -> Result<Self, ModelError> {
        let v = v.get("model").unwrap_or(v);
        let cfg: Self =
            serde_json::from_value(v.clone()).map_err(|e| ModelError::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse TOML text (a bare model table or a `[model]` table).
    pub fn from_toml_str(text: &str) -> Result<Self, ModelError> {
        let v: toml::Value =
            toml::from_str(text).map_err(|e| ModelError::Config(format!("TOML: {e}")))?;
        let v = v.get("model").cloned().unwrap_or(v);
        let cfg: Self = v
            .try_into()
            .map_err(|e: toml::de::Error| ModelError::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Load `.json` or `.toml` by extension.
    pub fn from_path(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(ModelError::io(path))?;
        let r = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Self::from_toml_str(&text),
            Some("json") => Self::from_json_str(&text),
            _ => Err(ModelError::Config("expected a .toml or .json file".into())),
        };
        r.map_err(|e| e.in_file(path))
    }

    /// Serialize to TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }

    /// Task names in order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// Whether MTLoRA layers exist.
    pub fn lora_enabled(&self) -> bool {
        self.mtlora.as_ref().is_some_and(|m| m.enabled)
    }

    /// Whether the patch-merging reduction weight is frozen (flag or MTLoRA+).
    pub fn reduction_frozen(&self) -> bool {
        self.freeze.downsample_reduction
            || self
                .mtlora
                .as_ref()
                .is_some_and(|m| m.enabled && m.downsampler_enabled)
    }

    /// Stage channels of the decoder inputs (after merging).
    pub fn feature_channels(&self) -> Vec<usize> {
        let n = self.depths.len();
        (0..n)
            .map(|i| {
                if i + 1 < n {
                    self.embed_dim << (i + 1)
                } else {
                    self.embed_dim << i
                }
            })
            .collect()
    }

    /// The backbone part.
    pub fn swin(&self) -> SwinConfig {
        let n = self.depths.len();
        let lora = self.mtlora.as_ref().filter(|m| m.enabled).map(|m| {
            let tasks = self
                .tasks
                .iter()
                .map(|t| TaskLoraSpec {
                    rank: m
                        .task_rank
                        .get(&t.name)
                        .cloned()
                        .unwrap_or_else(|| m.shared_rank.clone()),
                    // quirk Q3: per-task scales default to the shared scale
                    scale: m
                        .task_scale
                        .get(&t.name)
                        .cloned()
                        .unwrap_or_else(|| m.shared_scale.clone()),
                })
                .collect();
            LoraSpec {
                shared_rank: m.shared_rank.clone(),
                shared_scale: m.shared_scale.clone(),
                dropout: if m.dropout.is_empty() {
                    vec![0.0; n]
                } else {
                    m.dropout.clone()
                },
                tasks,
                qkv_enabled: m.qkv_enabled,
                proj_enabled: m.proj_enabled,
                fc1_enabled: m.fc1_enabled,
                fc2_enabled: m.fc2_enabled,
                downsampler_enabled: m.downsampler_enabled,
                shared_mode: m.shared_mode,
            }
        });
        SwinConfig {
            img_size: self.img_size,
            patch_size: self.patch_size,
            in_chans: self.in_chans,
            embed_dim: self.embed_dim,
            depths: self.depths.clone(),
            num_heads: self.num_heads.clone(),
            window_size: self.window_size,
            mlp_ratio: self.mlp_ratio,
            qkv_bias: self.qkv_bias,
            qk_scale: self.qk_scale,
            patch_norm: self.patch_norm,
            layer_norm_eps: self.layer_norm_eps,
            drop_path_rate: self.drop_path_rate,
            lora,
        }
    }

    /// Reject settings this implementation does not support, and inconsistent lists.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.img_size[0] != self.img_size[1] {
            return bad(format!(
                "img_size {:?}: only square inputs are supported",
                self.img_size
            ));
        }
        if self.ape {
            return bad("ape = true (absolute position embedding) is not supported".into());
        }
        if self.final_norm {
            return bad("final_norm = true is not supported (the MTLoRA backbone has none)".into());
        }
        if self.activation != "gelu_erf" && self.activation != "gelu" {
            return bad(format!(
                "activation {:?} is not supported (gelu_erf only)",
                self.activation
            ));
        }
        if self.drop_rate != 0.0 || self.attn_drop_rate != 0.0 {
            return bad("drop_rate and attn_drop_rate must be 0".into());
        }
        if !self.per_task_downsampler && self.decoder_downsampler {
            return bad("per_task_downsampler = false is not supported".into());
        }
        if self.tasks.is_empty() {
            return bad("no tasks".into());
        }
        let n = self.depths.len();
        if self.decoder_channels.len() != n {
            return bad(format!(
                "decoder_channels has {} entries for {n} stages",
                self.decoder_channels.len()
            ));
        }
        for (t, h) in &self.decoder_head {
            if h != "hrnet" {
                return bad(format!(
                    "task {t}: decoder head {h:?} is not supported (hrnet only)"
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tasks {
            if !seen.insert(&t.name) {
                return bad(format!("task {} listed twice", t.name));
            }
            if t.num_output == 0 {
                return bad(format!("task {}: num_output is 0", t.name));
            }
        }
        if let Some(m) = &self.mtlora {
            if m.trainable_scale_shared || m.trainable_scale_per_task {
                return bad("trainable LoRA scales are not supported".into());
            }
            if m.enabled && m.intermediate_specialization {
                return bad(
                    "intermediate_specialization = true is not supported: its task adapters in \
                     every block never reach an output (quirk Q15) but change the parameter set"
                        .into(),
                );
            }
            if !["none", "all", "lora_only"].contains(&m.bias.as_str()) {
                return bad(format!("mtlora.bias {:?} unknown", m.bias));
            }
            for name in m.task_rank.keys().chain(m.task_scale.keys()) {
                if !self.tasks.iter().any(|t| &t.name == name) {
                    return bad(format!("mtlora: rank/scale given for unknown task {name}"));
                }
            }
        }
        self.swin().validate().map_err(|e| ModelError::Config(e.0))
    }
}
