//! Task decoders of MTLoRA: per-task 1×1 channel reductions (the reference's "downsamplers") and
//! HRNet-style heads.
//!
//! Decoders take a slice of NCHW feature maps (one per scale) and know nothing about the
//! backbone.

mod batch_norm;
mod channel_reduction;
mod hrnet_head;
mod pointwise;
mod upsample;

pub use batch_norm::{BatchNorm2d, BatchNorm2dConfig};
pub use channel_reduction::{ChannelReduction, ChannelReductionConfig};
pub use hrnet_head::{HrnetHead, HrnetHeadConfig};
pub use pointwise::pointwise_conv;
pub use upsample::{bilinear_matrix, upsample_bilinear};
