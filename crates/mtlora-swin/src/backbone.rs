//! The hierarchical backbone: patch embedding + stages.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mtlora_lora::{MtLoraLinearConfig, TaskLoraConfig};

use crate::block::SwinBlockConfig;
use crate::config::{SwinConfig, SwinConfigError};
use crate::patch_embed::{PatchEmbed, PatchEmbedConfig};
use crate::patch_merging::PatchMergingConfig;
use crate::stage::Stage;
use crate::window::effective_window;

/// Output of one stage, after its patch merging.
#[derive(Debug, Clone)]
pub struct StageOutput {
    /// Shared stream `[B, L', C']` (input of the next stage).
    pub shared: Tensor<3>,
    /// Task streams `[B, L', C']`, one per task (empty if the stage has none).
    pub tasks: Vec<Tensor<3>>,
}

/// Channels, stride and grid of one stage output (after merging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureInfo {
    /// Channels.
    pub channels: usize,
    /// Stride relative to the input image.
    pub stride: usize,
    /// Token grid `[H', W']`.
    pub resolution: [usize; 2],
}

/// Swin backbone with MTLoRA (reference `SwinTransformerMTLoRA`, no final norm, no head).
#[derive(Module, Debug)]
pub struct SwinTransformer {
    /// Patch embedding.
    pub patch_embed: PatchEmbed,
    /// Stages.
    pub layers: Vec<Stage>,
    /// Per stage output info.
    #[module(skip)]
    pub feature_info: Vec<FeatureInfo>,
    /// Input size `[H, W]`.
    pub img_size: [usize; 2],
}

fn lora_cfg(rank: usize, scale: f64, dropout: f64, enabled: bool) -> MtLoraLinearConfig {
    MtLoraLinearConfig::new(0, 0, if enabled { rank } else { 0 })
        .with_shared_scale(scale)
        .with_dropout(dropout)
}

impl SwinConfig {
    /// Build the backbone (validates the config first).
    pub fn init(&self, device: &Device) -> Result<SwinTransformer, SwinConfigError> {
        self.validate()?;
        let dpr = self.drop_path_rates();
        let n = self.num_stages();
        let mut k = 0;
        let mut layers = Vec::with_capacity(n);
        let mut feature_info = Vec::with_capacity(n);
        for i in 0..n {
            let dim = self.stage_dim(i);
            let res = self.stage_resolution(i);
            let (rank, scale, drop, mode) = match &self.lora {
                Some(l) => (
                    l.shared_rank[i],
                    l.shared_scale[i],
                    l.dropout[i],
                    l.shared_mode,
                ),
                None => (0, 1.0, 0.0, Default::default()),
            };
            let flag = |f: fn(&crate::config::LoraSpec) -> bool| self.lora.as_ref().is_some_and(f);
            let mut blocks = Vec::with_capacity(self.depths[i]);
            for j in 0..self.depths[i] {
                let (w, s) = effective_window(res, self.window_size, j);
                let ts = j + 1 == self.depths[i] && self.stage_has_tasks(i);
                let tasks: Vec<TaskLoraConfig> = if ts {
                    self.lora.as_ref().map_or(vec![], |l| {
                        l.tasks
                            .iter()
                            .map(|t| TaskLoraConfig::new(t.rank[i], t.scale[i]))
                            .collect()
                    })
                } else {
                    vec![]
                };
                let with_tasks =
                    |c: MtLoraLinearConfig| c.with_tasks(tasks.clone()).with_shared_mode(mode);
                let cfg = SwinBlockConfig::new(
                    dim,
                    res,
                    self.num_heads[i],
                    w,
                    s,
                    (dim as f64 * self.mlp_ratio) as usize,
                    lora_cfg(rank, scale, drop, flag(|l| l.qkv_enabled)),
                    with_tasks(lora_cfg(rank, scale, drop, flag(|l| l.proj_enabled))),
                    with_tasks(lora_cfg(rank, scale, drop, flag(|l| l.fc1_enabled))),
                    with_tasks(lora_cfg(rank, scale, drop, flag(|l| l.fc2_enabled))),
                )
                .with_qkv_bias(self.qkv_bias)
                .with_qk_scale(self.qk_scale)
                .with_eps(self.layer_norm_eps)
                .with_drop_path(dpr[k]);
                blocks.push(cfg.init(device));
                k += 1;
            }
            let downsample = (i + 1 < n).then(|| {
                PatchMergingConfig::new(dim, res)
                    .with_lora_rank(if flag(|l| l.downsampler_enabled) {
                        rank
                    } else {
                        0
                    })
                    .with_lora_scale(scale)
                    .with_lora_dropout(drop)
                    .with_eps(self.layer_norm_eps)
                    .init(device)
            });
            let (channels, resolution, stride) = if i + 1 < n {
                (
                    2 * dim,
                    [res[0] / 2, res[1] / 2],
                    self.patch_size << (i + 1),
                )
            } else {
                (dim, res, self.patch_size << i)
            };
            feature_info.push(FeatureInfo {
                channels,
                stride,
                resolution,
            });
            layers.push(Stage { blocks, downsample });
        }
        Ok(SwinTransformer {
            patch_embed: PatchEmbedConfig::new(self.in_chans, self.embed_dim, self.patch_size)
                .with_patch_norm(self.patch_norm)
                .with_eps(self.layer_norm_eps)
                .init(device),
            layers,
            feature_info,
            img_size: self.img_size,
        })
    }
}

impl SwinTransformer {
    /// Channels, stride and grid of every stage output.
    pub fn feature_info(&self) -> &[FeatureInfo] {
        &self.feature_info
    }

    /// # Shapes
    /// - input `[B, in_chans, H, W]` → one [`StageOutput`] per stage
    pub fn forward(&self, x: Tensor<4>) -> Vec<StageOutput> {
        self.forward_traced(x, None)
    }

    /// Like [`Self::forward`], pushing `embed`, `block{i}.{j}.*` and `stage{i}.*` captures
    /// (task index `t` in names) into `trace`.
    pub fn forward_traced(
        &self,
        x: Tensor<4>,
        mut trace: Option<&mut Vec<(String, Tensor<3>)>>,
    ) -> Vec<StageOutput> {
        let [_, _, h, w] = x.dims();
        assert_eq!(
            [h, w],
            self.img_size,
            "SwinTransformer: input {h}x{w}, model built for {:?}",
            self.img_size
        );
        let mut x = self.patch_embed.forward(x);
        if let Some(tr) = trace.as_deref_mut() {
            tr.push(("embed".into(), x.clone()));
        }
        let mut outs = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let out = layer.forward_traced(x, i, trace.as_deref_mut());
            if let Some(tr) = trace.as_deref_mut() {
                tr.push((format!("stage{i}.shared"), out.shared.clone()));
                for (t, task) in out.tasks.iter().enumerate() {
                    tr.push((format!("stage{i}.task.{t}"), task.clone()));
                }
            }
            x = out.shared.clone();
            outs.push(out);
        }
        outs
    }
}
