//! Patch embedding: strided conv + optional LayerNorm.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use crate::layer_norm::{LayerNorm, LayerNormConfig};

/// Configuration of a [`PatchEmbed`].
#[derive(Config, Debug)]
pub struct PatchEmbedConfig {
    /// Input channels.
    pub in_chans: usize,
    /// Embedding channels.
    pub embed_dim: usize,
    /// Kernel = stride.
    pub patch_size: usize,
    /// LayerNorm after the conv.
    #[config(default = true)]
    pub patch_norm: bool,
    /// LayerNorm epsilon.
    #[config(default = 1e-5)]
    pub eps: f64,
}

/// `Conv2d(in → C, k = s = patch)` → flatten row-major → LayerNorm.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// Conv, weight `[C, in, p, p]`, bias `[C]`.
    pub proj: Conv2d,
    /// LayerNorm(C).
    pub norm: Option<LayerNorm>,
}

impl PatchEmbedConfig {
    /// Build the module.
    pub fn init(&self, device: &Device) -> PatchEmbed {
        let p = self.patch_size;
        PatchEmbed {
            proj: mtlora_kernels::init::conv2d(
                &Conv2dConfig::new([self.in_chans, self.embed_dim], [p, p]).with_stride([p, p]),
                device,
            ),
            norm: self.patch_norm.then(|| {
                LayerNormConfig::new(self.embed_dim)
                    .with_epsilon(self.eps)
                    .init(device)
            }),
        }
    }
}

impl PatchEmbed {
    /// # Shapes
    /// - input `[B, in, H, W]` → `[B, (H/p)·(W/p), C]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let [_, in_chans, p, _] = self.proj.weight.dims();
        let [_, _, h, w] = x.dims();
        burn::tensor::assert_shape!(x, [_, in_chans, _, _]);
        assert!(
            h % p == 0 && w % p == 0,
            "PatchEmbed: a {h}x{w} input is not a multiple of the patch size {p}"
        );
        let y = self.proj.forward(x);
        let [b, c, h, w] = y.dims();
        let y = y.reshape([b, c, h * w]).swap_dims(1, 2);
        match &self.norm {
            Some(n) => n.forward(y),
            None => y,
        }
    }
}
