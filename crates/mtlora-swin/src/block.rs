//! Swin block (pre-norm), with the TS-LoRA task streams of the reference.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use mtlora_lora::MtLoraLinearConfig;

use crate::drop_path::DropPath;
use crate::layer_norm::{LayerNorm, LayerNormConfig};
use crate::mlp::Mlp;
use crate::window::attention_mask;
use crate::window_attention::{WindowAttention, WindowAttentionConfig};
use mtlora_kernels::WindowIndex;

/// Configuration of a [`SwinBlock`].
#[derive(Config, Debug)]
pub struct SwinBlockConfig {
    /// Channels C.
    pub dim: usize,
    /// Token grid `[H, W]`.
    pub resolution: [usize; 2],
    /// Heads.
    pub num_heads: usize,
    /// Effective window.
    pub window: usize,
    /// Effective shift.
    pub shift: usize,
    /// MLP hidden width.
    pub mlp_hidden: usize,
    /// qkv bias.
    #[config(default = true)]
    pub qkv_bias: bool,
    /// Attention scale override.
    #[config(default = "None")]
    pub qk_scale: Option<f64>,
    /// LayerNorm epsilon.
    #[config(default = 1e-5)]
    pub eps: f64,
    /// DropPath rate.
    #[config(default = 0.0)]
    pub drop_path: f64,
    /// LoRA settings of qkv (`d_*` overwritten).
    pub qkv: MtLoraLinearConfig,
    /// LoRA settings of proj.
    pub proj: MtLoraLinearConfig,
    /// LoRA settings of fc1.
    pub fc1: MtLoraLinearConfig,
    /// LoRA settings of fc2.
    pub fc2: MtLoraLinearConfig,
}

/// One Swin block.
#[derive(Module, Debug)]
pub struct SwinBlock {
    /// LN before attention.
    pub norm1: LayerNorm,
    /// Window attention.
    pub attn: WindowAttention,
    /// LN before the MLP (shared by all streams).
    pub norm2: LayerNorm,
    /// MLP.
    pub mlp: Mlp,
    /// Stochastic depth.
    pub drop_path: DropPath,
    /// Token grid.
    pub resolution: [usize; 2],
    /// Window.
    pub window: usize,
    /// Shift.
    pub shift: usize,
    /// Flattened `[nW, N, N]` mask (shifted blocks), recomputed from the geometry.
    #[module(skip)]
    pub attn_mask: Option<Vec<f32>>,
}

/// Output of a block: shared stream and (TS block only) task streams.
#[derive(Debug, Clone)]
pub struct BlockOutput {
    /// `[B, L, C]`.
    pub shared: Tensor<3>,
    /// One `[B, L, C]` per task (empty outside TS blocks).
    pub tasks: Vec<Tensor<3>>,
}

impl SwinBlockConfig {
    /// Build the block.
    pub fn init(&self, device: &Device) -> SwinBlock {
        let c = self.dim;
        let attn = WindowAttentionConfig::new(
            c,
            self.window,
            self.num_heads,
            self.qkv.clone(),
            self.proj.clone(),
        )
        .with_qkv_bias(self.qkv_bias)
        .with_qk_scale(self.qk_scale)
        .init(device);
        let mlp = Mlp {
            fc1: self.fc1.clone().with_dims(c, self.mlp_hidden).init(device),
            fc2: self.fc2.clone().with_dims(self.mlp_hidden, c).init(device),
        };
        SwinBlock {
            norm1: LayerNormConfig::new(c).with_epsilon(self.eps).init(device),
            attn,
            norm2: LayerNormConfig::new(c).with_epsilon(self.eps).init(device),
            mlp,
            drop_path: DropPath::new(self.drop_path),
            resolution: self.resolution,
            window: self.window,
            shift: self.shift,
            attn_mask: (self.shift > 0)
                .then(|| attention_mask(self.resolution, self.window, self.shift)),
        }
    }
}

impl SwinBlock {
    /// Number of task streams this block emits.
    pub fn num_tasks(&self) -> usize {
        self.attn.proj.num_tasks()
    }

    /// The attention mask `[nW, N, N]` of a shifted block.
    pub fn mask_tensor(&self, device: &Device) -> Option<Tensor<3>> {
        self.attn_mask.as_ref().map(|m| {
            let n = self.window * self.window;
            let nw = m.len() / (n * n);
            Tensor::from_data(TensorData::new(m.clone(), [nw, n, n]), device)
        })
    }

    /// # Shapes
    /// - input `[B, H·W, C]` (shared stream)
    /// - output: shared `[B, H·W, C]`, and per task `[B, H·W, C]` in TS blocks
    pub fn forward(&self, x: Tensor<3>) -> BlockOutput {
        let [b, l, _] = x.dims();
        let [h, w] = self.resolution;
        assert_eq!(l, h * w, "SwinBlock: {l} tokens for a {h}x{w} grid");

        // the reference rolls by −shift and partitions; the attention reads those windows'
        // rows in place and writes back unshifted, unpartitioned (exactly the reverse + roll)
        let index = WindowIndex::shifted_grid(b, [h, w], self.window, self.shift);
        let p = self.attn.forward_indexed(
            self.norm1.forward(x.clone()),
            self.mask_tensor(&x.device()),
            &index,
        );

        let y_sh = x.clone() + self.drop_path.forward(p.shared);
        let y_t: Vec<Tensor<3>> = p
            .tasks
            .into_iter()
            .map(|pt| x.clone() + self.drop_path.forward(pt))
            .collect();

        let task_in =
            (!y_t.is_empty()).then(|| y_t.iter().map(|y| self.norm2.forward(y.clone())).collect());
        let (m_sh, m_t) = self.mlp.forward(self.norm2.forward(y_sh.clone()), task_in);
        let shared = y_sh + self.drop_path.forward(m_sh);
        let tasks = y_t
            .into_iter()
            .zip(m_t)
            .map(|(y, m)| y + self.drop_path.forward(m))
            .collect();
        BlockOutput { shared, tasks }
    }
}
