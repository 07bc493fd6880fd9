//! Window multi-head self-attention with relative position bias.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use mtlora_kernels::WindowIndex;
use mtlora_lora::{MtLoraLinear, MtLoraLinearConfig, MtLoraOutput};

use crate::window::relative_position_index;

/// Configuration of a [`WindowAttention`].
#[derive(Config, Debug)]
pub struct WindowAttentionConfig {
    /// Channels C.
    pub dim: usize,
    /// Effective window w.
    pub window: usize,
    /// Heads.
    pub num_heads: usize,
    /// qkv bias.
    #[config(default = true)]
    pub qkv_bias: bool,
    /// Scale override.
    #[config(default = "None")]
    pub qk_scale: Option<f64>,
    /// qkv layer (LoRA settings; `d_input`/`d_output` are overwritten).
    pub qkv: MtLoraLinearConfig,
    /// proj layer (LoRA settings, task branches in TS blocks).
    pub proj: MtLoraLinearConfig,
}

/// `softmax(q·kᵀ·scale + bias (+ mask))·v` per window, then `proj`.
#[derive(Module, Debug)]
pub struct WindowAttention {
    /// C → 3C.
    pub qkv: MtLoraLinear,
    /// C → C (with task branches in TS blocks).
    pub proj: MtLoraLinear,
    /// `[(2w−1)², nH]`.
    pub relative_position_bias_table: Param<Tensor<2>>,
    /// Heads.
    pub num_heads: usize,
    /// Window.
    pub window: usize,
    /// q scale.
    pub scale: f64,
    /// Flattened `[w², w²]` relative index (recomputed, never loaded).
    #[module(skip)]
    pub relative_index: Vec<i64>,
}

impl WindowAttentionConfig {
    /// Build the module (bias table ~ trunc-normal-ish N(0, 0.02)).
    pub fn init(&self, device: &Device) -> WindowAttention {
        let head_dim = self.dim / self.num_heads;
        let qkv = self
            .qkv
            .clone()
            .with_dims(self.dim, 3 * self.dim)
            .with_bias(self.qkv_bias)
            .init(device);
        let proj = self.proj.clone().with_dims(self.dim, self.dim).init(device);
        let t = (2 * self.window - 1) * (2 * self.window - 1);
        WindowAttention {
            qkv,
            proj,
            relative_position_bias_table: Param::from_tensor(mtlora_kernels::init::normal(
                [t, self.num_heads],
                0.0,
                0.02,
                device,
            )),
            num_heads: self.num_heads,
            window: self.window,
            scale: self.qk_scale.unwrap_or((head_dim as f64).powf(-0.5)),
            relative_index: relative_position_index(self.window),
        }
    }
}

impl WindowAttention {
    /// Relative position bias `[nH, N, N]`.
    pub fn relative_bias(&self, device: &Device) -> Tensor<3> {
        let n = self.window * self.window;
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(self.relative_index.clone(), [n * n]),
            device,
        );
        self.relative_position_bias_table
            .val()
            .select(0, idx)
            .reshape([n, n, self.num_heads])
            .permute([2, 0, 1])
    }

    /// # Shapes
    /// - `x`: `[B·nW, N, C]` windows (N = w²)
    /// - `mask`: `[nW, N, N]` for shifted blocks
    /// - output: proj output streams `[B·nW, N, C]` (shared + one per task branch of proj)
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<3>>) -> MtLoraOutput<3> {
        let [bw, n, _] = x.dims();
        self.forward_indexed(x, mask, &WindowIndex::identity(bw, n))
    }

    /// Attention over the windows `index` picks from a token grid, results back in each
    /// token's row: qkv and proj are per-token linears, so the shift and the window
    /// partition/reverse of the reference are only index arithmetic here.
    ///
    /// # Shapes
    /// - `x`: `[B, L, C]` tokens; `index`: windows of N = w² rows over the `B·L` tokens
    /// - `mask`: `[nW, N, N]` for shifted blocks
    /// - output: proj output streams `[B, L, C]` (shared + one per task branch of proj)
    pub fn forward_indexed(
        &self,
        x: Tensor<3>,
        mask: Option<Tensor<3>>,
        index: &WindowIndex,
    ) -> MtLoraOutput<3> {
        let [b, l, c] = x.dims();
        assert_eq!(
            index.tokens(),
            self.window * self.window,
            "WindowAttention: windows of {} tokens, window {}",
            index.tokens(),
            self.window
        );
        assert_eq!(
            index.rows().len(),
            b * l,
            "WindowAttention: index for another grid"
        );
        assert_eq!(
            c % self.num_heads,
            0,
            "WindowAttention: {c} channels for {} heads",
            self.num_heads
        );
        let qkv = self.qkv.forward(x, None).shared;
        let bias = self.relative_bias(&qkv.device());
        let a = mtlora_kernels::window_attention_indexed(
            qkv,
            bias,
            mask,
            index,
            self.num_heads,
            self.scale,
        );
        self.proj.forward(a, None)
    }
}
