//! Hierarchical ViT (Swin Transformer) with MTLoRA adapters.
//!
//! Each stage returns the shared stream (fed to the next stage) and one task stream per task
//! (side outputs of the stage's last, "TS", block), both after the stage's shared patch merging.
//! With LoRA disabled this is a plain Swin backbone.

mod backbone;
mod block;
mod config;
mod drop_path;
mod layer_norm;
mod mlp;
mod patch_embed;
mod patch_merging;
mod stage;
pub mod window;
mod window_attention;

pub use backbone::{FeatureInfo, StageOutput, SwinTransformer};
pub use block::{BlockOutput, SwinBlock, SwinBlockConfig};
pub use config::{LoraSpec, SwinConfig, SwinConfigError, TaskLoraSpec};
pub use drop_path::DropPath;
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use mlp::Mlp;
pub use patch_embed::{PatchEmbed, PatchEmbedConfig};
pub use patch_merging::{PatchMerging, PatchMergingConfig};
pub use stage::Stage;
pub use window_attention::{WindowAttention, WindowAttentionConfig};

/// Exact GELU, `0.5·x·(1 + erf(x/√2))` (the reference uses `nn.GELU()`); fused on the CPU
/// backend (see `mtlora-kernels`).
pub fn gelu_erf<const D: usize>(x: burn::tensor::Tensor<D>) -> burn::tensor::Tensor<D> {
    mtlora_kernels::gelu(x)
}
