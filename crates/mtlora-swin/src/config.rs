//! Backbone configuration.

use mtlora_lora::SharedMode;
use serde::{Deserialize, Serialize};

/// Task-specific LoRA of one task: rank and scale per stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskLoraSpec {
    /// `r_t` per stage.
    pub rank: Vec<usize>,
    /// `s_t` per stage (used directly, no α/r).
    pub scale: Vec<f64>,
}

/// MTLoRA settings of the backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraSpec {
    /// Shared rank per stage (0 = plain linear in that stage).
    pub shared_rank: Vec<usize>,
    /// Shared scale per stage.
    pub shared_scale: Vec<f64>,
    /// LoRA dropout per stage.
    pub dropout: Vec<f64>,
    /// Task branches, in task order (empty: no task streams).
    pub tasks: Vec<TaskLoraSpec>,
    /// Wrap `attn.qkv`.
    pub qkv_enabled: bool,
    /// Wrap `attn.proj`.
    pub proj_enabled: bool,
    /// Wrap `mlp.fc1`.
    pub fc1_enabled: bool,
    /// Wrap `mlp.fc2`.
    pub fc2_enabled: bool,
    /// MTLoRA+: wrap the patch-merging reduction (shared LoRA only).
    pub downsampler_enabled: bool,
    /// Shared mode.
    pub shared_mode: SharedMode,
}

/// Swin backbone configuration (no final norm, no classifier head, no APE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwinConfig {
    /// `[H, W]` of the input image.
    pub img_size: [usize; 2],
    /// Patch size (conv kernel = stride).
    pub patch_size: usize,
    /// Input channels.
    pub in_chans: usize,
    /// Stage-0 channels; stage i has `embed_dim·2^i`.
    pub embed_dim: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Heads per stage.
    pub num_heads: Vec<usize>,
    /// Configured window size.
    pub window_size: usize,
    /// MLP hidden width = `int(C·mlp_ratio)`.
    pub mlp_ratio: f64,
    /// qkv has a bias.
    pub qkv_bias: bool,
    /// Attention scale override (`None`: `head_dim^-0.5`).
    pub qk_scale: Option<f64>,
    /// LayerNorm after the patch embedding.
    pub patch_norm: bool,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Maximum stochastic-depth rate (linspace over all blocks).
    pub drop_path_rate: f64,
    /// MTLoRA settings; `None` gives a plain Swin.
    pub lora: Option<LoraSpec>,
}

/// An invalid [`SwinConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct SwinConfigError(pub String);

impl std::fmt::Display for SwinConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid Swin config: {}", self.0)
    }
}

impl std::error::Error for SwinConfigError {}

impl SwinConfig {
    /// Number of stages.
    pub fn num_stages(&self) -> usize {
        self.depths.len()
    }

    /// Channels of stage `i` (before its patch merging).
    pub fn stage_dim(&self, i: usize) -> usize {
        self.embed_dim << i
    }

    /// Token grid of stage `i` (before its patch merging).
    pub fn stage_resolution(&self, i: usize) -> [usize; 2] {
        [
            (self.img_size[0] / self.patch_size) >> i,
            (self.img_size[1] / self.patch_size) >> i,
        ]
    }

    /// Per-block drop-path rates, `linspace(0, drop_path_rate, total_blocks)`.
    pub fn drop_path_rates(&self) -> Vec<f64> {
        let n: usize = self.depths.iter().sum();
        (0..n)
            .map(|k| {
                if n <= 1 {
                    0.0
                } else {
                    self.drop_path_rate * k as f64 / (n - 1) as f64
                }
            })
            .collect()
    }

    /// Whether the last block of stage `i` emits task streams.
    pub fn stage_has_tasks(&self, i: usize) -> bool {
        match &self.lora {
            Some(l) => !l.tasks.is_empty() && l.shared_rank[i] > 0,
            None => false,
        }
    }

    /// Check the geometry and list lengths.
    pub fn validate(&self) -> Result<(), SwinConfigError> {
        let err = |m: String| Err(SwinConfigError(m));
        let n = self.depths.len();
        if n == 0 {
            return err("depths is empty".into());
        }
        if self.num_heads.len() != n {
            return err(format!(
                "num_heads has {} entries for {n} stages",
                self.num_heads.len()
            ));
        }
        if self.patch_size == 0 || self.window_size == 0 {
            return err("patch_size and window_size must be positive".into());
        }
        if !(self.mlp_ratio.is_finite() && self.mlp_ratio > 0.0) {
            return err(format!(
                "mlp_ratio must be finite and > 0, got {}",
                self.mlp_ratio
            ));
        }
        if !(0.0..1.0).contains(&self.drop_path_rate) {
            return err(format!(
                "drop_path_rate must be in [0, 1), got {}",
                self.drop_path_rate
            ));
        }
        if !self.img_size[0].is_multiple_of(self.patch_size)
            || !self.img_size[1].is_multiple_of(self.patch_size)
        {
            return err(format!(
                "img_size {:?} is not divisible by patch_size {}",
                self.img_size, self.patch_size
            ));
        }
        for i in 0..n {
            let c = self.stage_dim(i);
            let h = self.num_heads[i];
            if h == 0 || !c.is_multiple_of(h) {
                return err(format!(
                    "stage {i}: {c} channels not divisible by {h} heads"
                ));
            }
            let res = self.stage_resolution(i);
            if res[0] == 0 || res[1] == 0 {
                return err(format!("stage {i}: resolution {res:?} is empty"));
            }
            if i + 1 < n && (!res[0].is_multiple_of(2) || !res[1].is_multiple_of(2)) {
                return err(format!(
                    "stage {i}: resolution {res:?} must be even for patch merging"
                ));
            }
            for j in 0..self.depths[i] {
                let (w, _) = crate::window::effective_window(res, self.window_size, j);
                if !res[0].is_multiple_of(w) || !res[1].is_multiple_of(w) {
                    return err(format!(
                        "stage {i}: resolution {res:?} not divisible by window {w}"
                    ));
                }
            }
        }
        if let Some(l) = &self.lora {
            for (name, len) in [
                ("shared_rank", l.shared_rank.len()),
                ("shared_scale", l.shared_scale.len()),
                ("dropout", l.dropout.len()),
            ] {
                if len != n {
                    return err(format!("mtlora.{name} has {len} entries for {n} stages"));
                }
            }
            for (t, task) in l.tasks.iter().enumerate() {
                if task.rank.len() != n || task.scale.len() != n {
                    return err(format!("task {t}: rank/scale lists must have {n} entries"));
                }
                if let Some(i) = task.rank.iter().position(|&r| r == 0) {
                    return err(format!(
                        "task {t}: task-specific LoRA rank 0 in stage {i} is not supported \
                         (every task branch needs rank >= 1)"
                    ));
                }
                if let Some(s) = task.scale.iter().find(|s| !s.is_finite()) {
                    return err(format!("task {t}: LoRA scale {s} is not finite"));
                }
            }
            if let Some(s) = l.shared_scale.iter().find(|s| !s.is_finite()) {
                return err(format!("shared LoRA scale {s} is not finite"));
            }
            if let Some(p) = l.dropout.iter().find(|p| !(0.0..1.0).contains(*p)) {
                return err(format!("LoRA dropout {p} outside [0, 1)"));
            }
            let all_enabled = l.proj_enabled && l.fc1_enabled && l.fc2_enabled;
            if !l.tasks.is_empty() && !all_enabled {
                return err(
                    "task-specific LoRA needs proj, fc1 and fc2 enabled (the reference drops the \
                     attention residual otherwise, quirk Q13)"
                        .into(),
                );
            }
        }
        if !(0.0..1.0).contains(&self.drop_path_rate) {
            return err(format!(
                "drop_path_rate {} outside [0, 1)",
                self.drop_path_rate
            ));
        }
        Ok(())
    }
}
