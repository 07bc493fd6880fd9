//! Backbone + per-task decoders (reference `models/swin_mtl.py:MultiTaskSwin`).

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use mtlora_decoders::{
    upsample_bilinear, ChannelReduction, ChannelReductionConfig, HrnetHead, HrnetHeadConfig,
};
use mtlora_swin::{StageOutput, SwinTransformer};

use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::naming::NameContext;

/// The multi-task model.
#[derive(Module, Debug)]
pub struct MultiTaskSwin {
    /// Swin backbone with TA/TS-LoRA.
    pub backbone: SwinTransformer,
    /// Per task (in task order) 1×1 downsamplers; empty when `decoder_downsampler = false`.
    pub downsampler: Vec<ChannelReduction>,
    /// Per task (in task order) HRNet heads.
    pub decoders: Vec<HrnetHead>,
    /// Whether decoders read task streams (MTLoRA) or the shared stream (plain Swin).
    pub use_task_streams: bool,
    /// The reference key names of this model's tensors (fixed by its configuration).
    #[module(skip)]
    names: NameContext,
}

/// Outputs of a forward pass, per task in task order.
#[derive(Debug, Clone)]
pub struct MultiTaskOutput {
    /// Final predictions `[B, n_out, H, W]` at the input size.
    pub outputs: Vec<Tensor<4>>,
    /// Head outputs before the final upsampling `[B, n_out, H₀', W₀']`.
    pub heads: Vec<Tensor<4>>,
}

/// Named intermediate tensors of a traced forward (parity checks).
pub type Captures = Vec<(String, TensorData)>;

impl ModelConfig {
    /// [`ModelConfig::init`] with the host generator seeded from `seed` first: the same seed
    /// gives the same initial model, bit for bit, on every backend (see
    /// [`mtlora_kernels::init`]).
    pub fn init_seeded(&self, seed: u64, device: &Device) -> Result<MultiTaskSwin, ModelError> {
        mtlora_kernels::init::seed(seed);
        self.init(device)
    }

    /// Build the model with random (PyTorch-default-like) weights; LoRA B = 0. The random
    /// values come from this thread's host generator ([`mtlora_kernels::init`]), not the device.
    pub fn init(&self, device: &Device) -> Result<MultiTaskSwin, ModelError> {
        self.validate()?;
        let backbone = self
            .swin()
            .init(device)
            .map_err(|e| ModelError::Config(e.0))?;
        let feats = self.feature_channels();
        let head_in = if self.decoder_downsampler {
            self.decoder_channels.clone()
        } else {
            feats.clone()
        };
        let downsampler = if self.decoder_downsampler {
            self.tasks
                .iter()
                .map(|_| {
                    ChannelReductionConfig::new(feats.clone(), self.decoder_channels.clone())
                        .init(device)
                })
                .collect()
        } else {
            vec![]
        };
        let decoders = self
            .tasks
            .iter()
            .map(|t| {
                HrnetHeadConfig::new(head_in.clone(), t.num_output)
                    .with_bn_eps(self.batch_norm_eps)
                    .with_bn_momentum(self.batch_norm_momentum)
                    .init(device)
            })
            .collect();
        Ok(MultiTaskSwin {
            backbone,
            downsampler,
            decoders,
            use_task_streams: self.lora_enabled(),
            names: NameContext::new(self),
        })
    }
}

fn tokens_to_nchw(x: Tensor<3>, res: [usize; 2]) -> Tensor<4> {
    let [b, l, c] = x.dims();
    assert_eq!(
        l,
        res[0] * res[1],
        "feature map: {l} tokens for grid {res:?}"
    );
    x.reshape([b, res[0], res[1], c]).permute([0, 3, 1, 2])
}

impl MultiTaskSwin {
    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.decoders.len()
    }

    /// The mapping from this model's module paths to the reference `state_dict` keys.
    pub fn names(&self) -> &NameContext {
        &self.names
    }

    /// Task names in task order.
    pub fn task_names(&self) -> &[String] {
        &self.names.tasks
    }

    /// The same model with its backbone replaced by `f(backbone)`.
    pub fn map_backbone(self, f: impl FnOnce(SwinTransformer) -> SwinTransformer) -> Self {
        Self {
            backbone: f(self.backbone),
            ..self
        }
    }

    /// # Shapes
    /// - input `[B, in_chans, H, W]` → per task `[B, n_out, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> MultiTaskOutput {
        let [_, _, h, w] = x.dims();
        self.forward_impl(x, None, [h, w])
    }

    /// [`MultiTaskSwin::forward`] with each head upsampled once to `size` instead of the
    /// input size (prediction at an image's original size).
    ///
    /// # Shapes
    /// - input `[B, in_chans, H, W]` → per task `[B, n_out, size[0], size[1]]`
    pub fn forward_to(&self, x: Tensor<4>, size: [usize; 2]) -> MultiTaskOutput {
        self.forward_impl(x, None, size)
    }

    /// Forward that also returns every capture of FORMAT.md §4 (`embed`, `block…`, `stage…`,
    /// `down…`, `head…`, `out…`), named by the model's task names.
    pub fn forward_traced(&self, x: Tensor<4>) -> (MultiTaskOutput, Captures) {
        let mut caps = Vec::new();
        let [_, _, h, w] = x.dims();
        let out = self.forward_impl(x, Some(&mut caps), [h, w]);
        (out, caps)
    }

    fn forward_impl(
        &self,
        x: Tensor<4>,
        mut caps: Option<&mut Captures>,
        [h, w]: [usize; 2],
    ) -> MultiTaskOutput {
        let names = self.task_names();
        let tname = |t: usize| names.get(t).cloned().unwrap_or_else(|| t.to_string());
        let mut trace = caps.is_some().then(Vec::new);
        let stages: Vec<StageOutput> = self.backbone.forward_traced(x, trace.as_mut());
        if let (Some(c), Some(tr)) = (caps.as_deref_mut(), trace) {
            for (name, t) in tr {
                // rename `.task.{index}` to `.task.{name}`
                let name = match name.rsplit_once(".task.") {
                    Some((head, idx)) => format!("{head}.task.{}", tname(idx.parse().unwrap_or(0))),
                    None => name,
                };
                c.push((name, t.into_data()));
            }
        }
        let info = self.backbone.feature_info().to_vec();
        let grids: Vec<[usize; 2]> = info.iter().map(|fi| fi.resolution).collect();
        let mut outputs = Vec::with_capacity(self.num_tasks());
        let mut heads = Vec::with_capacity(self.num_tasks());
        for t in 0..self.num_tasks() {
            let tokens: Vec<Tensor<3>> = stages
                .iter()
                .map(|s| {
                    if self.use_task_streams && !s.tasks.is_empty() {
                        s.tasks[t].clone()
                    } else {
                        s.shared.clone()
                    }
                })
                .collect();
            let feats = match self.downsampler.get(t) {
                Some(d) => d.forward_tokens(&tokens, &grids),
                None => tokens
                    .into_iter()
                    .zip(&info)
                    .map(|(x, fi)| tokens_to_nchw(x, fi.resolution))
                    .collect(),
            };
            if let Some(c) = caps.as_deref_mut() {
                for (k, f) in feats.iter().enumerate() {
                    c.push((format!("down.{}.{k}", tname(t)), f.to_data()));
                }
            }
            let head = self.decoders[t].forward(&feats);
            let out = upsample_bilinear(head.clone(), [h, w]);
            if let Some(c) = caps.as_deref_mut() {
                c.push((format!("head.{}", tname(t)), head.to_data()));
                c.push((format!("out.{}", tname(t)), out.to_data()));
            }
            heads.push(head);
            outputs.push(out);
        }
        MultiTaskOutput { outputs, heads }
    }
}

impl MultiTaskSwin {
    /// Fold every shared LoRA branch that feeds no task branch into its frozen base weight
    /// (`W + s·B·A`): all `qkv` layers and the `proj`/`fc1`/`fc2` layers outside TS blocks.
    /// Outputs are unchanged up to float rounding; for inference only (LoRA dropout is dropped,
    /// and the merged layers no longer train). Returns the model and the number of merged layers.
    pub fn merge_for_inference(mut self) -> (Self, usize) {
        let mut merged = 0;
        for layer in &mut self.backbone.layers {
            for block in &mut layer.blocks {
                for lin in [
                    &mut block.attn.qkv,
                    &mut block.attn.proj,
                    &mut block.mlp.fc1,
                    &mut block.mlp.fc2,
                ] {
                    if lin.can_merge() {
                        *lin = lin.clone().merge_shared();
                        merged += 1;
                    }
                }
            }
        }
        (self, merged)
    }
}
