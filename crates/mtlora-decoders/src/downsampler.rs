//! Per-task 1×1 convolution "downsampler" (channel reduction per scale).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`Downsampler`].
#[derive(Config, Debug)]
pub struct DownsamplerConfig {
    /// Input channels per scale.
    pub in_channels: Vec<usize>,
    /// Output channels per scale (reference `DECODER_CHANNELS`).
    pub out_channels: Vec<usize>,
}

/// One bias-free `Conv2d(C_k → c_k, 1×1)` per scale (keys `downsample_{k}.weight`).
#[derive(Module, Debug)]
pub struct Downsampler {
    /// One conv per scale.
    pub downsample: Vec<Conv2d>,
}

impl DownsamplerConfig {
    /// Build the convs (PyTorch default conv init).
    pub fn init(&self, device: &Device) -> Downsampler {
        assert_eq!(
            self.in_channels.len(),
            self.out_channels.len(),
            "Downsampler: channel lists differ in length"
        );
        Downsampler {
            downsample: self
                .in_channels
                .iter()
                .zip(&self.out_channels)
                .map(|(&i, &o)| {
                    mtlora_kernels::init::conv2d(
                        &Conv2dConfig::new([i, o], [1, 1]).with_bias(false),
                        device,
                    )
                })
                .collect(),
        }
    }
}

impl Downsampler {
    /// # Shapes
    /// - `features[k]`: `[B, C_k, H_k, W_k]` → `[B, c_k, H_k, W_k]`
    pub fn forward(&self, features: &[Tensor<4>]) -> Vec<Tensor<4>> {
        assert_eq!(
            features.len(),
            self.downsample.len(),
            "Downsampler: {} maps for {} convs",
            features.len(),
            self.downsample.len()
        );
        features
            .iter()
            .zip(&self.downsample)
            .map(|(f, conv)| crate::pointwise::pointwise_conv(conv, f.clone()))
            .collect()
    }
}
