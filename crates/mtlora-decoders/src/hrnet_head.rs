//! HRNet-style head: upsample all scales to the first, concat, 1×1 conv, BN, ReLU, 1×1 conv.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use mtlora_kernels::init;

use crate::batch_norm::{BatchNorm2d, BatchNorm2dConfig};
use crate::pointwise::pointwise_conv;
use crate::upsample::upsample_bilinear;

/// Configuration of an [`HrnetHead`].
#[derive(Config, Debug)]
pub struct HrnetHeadConfig {
    /// Channels of each input map (their sum S is the concat width).
    pub in_channels: Vec<usize>,
    /// Output channels of the task.
    pub num_outputs: usize,
    /// BN epsilon.
    #[config(default = 1e-5)]
    pub bn_eps: f64,
    /// BN momentum.
    #[config(default = 0.1)]
    pub bn_momentum: f64,
}

/// The `last_layer` sequence of the reference (`0`: conv S→4S, `1`: BN, `2`: ReLU, `3`: conv).
#[derive(Module, Debug)]
pub struct HrnetHead {
    /// Conv1×1 S → 4S with bias (`last_layer.0`).
    pub conv0: Conv2d,
    /// BatchNorm2d(4S) (`last_layer.1`).
    pub bn1: BatchNorm2d,
    /// Conv1×1 4S → n_out with bias (`last_layer.3`).
    pub conv3: Conv2d,
}

impl HrnetHeadConfig {
    /// Build the head.
    pub fn init(&self, device: &Device) -> HrnetHead {
        let s: usize = self.in_channels.iter().sum();
        HrnetHead {
            conv0: init::conv2d(&Conv2dConfig::new([s, 4 * s], [1, 1]), device),
            bn1: BatchNorm2dConfig::new(4 * s)
                .with_epsilon(self.bn_eps)
                .with_momentum(self.bn_momentum)
                .init(device),
            conv3: init::conv2d(
                &Conv2dConfig::new([4 * s, self.num_outputs], [1, 1]),
                device,
            ),
        }
    }
}

impl HrnetHead {
    /// # Shapes
    /// - `features[k]`: `[B, c_k, H_k, W_k]` → `[B, n_out, H_0, W_0]`
    pub fn forward(&self, features: &[Tensor<4>]) -> Tensor<4> {
        assert!(!features.is_empty(), "HrnetHead: no feature maps");
        let [_, _, h, w] = features[0].dims();
        let maps: Vec<Tensor<4>> = features
            .iter()
            .map(|f| upsample_bilinear(f.clone(), [h, w]))
            .collect();
        let x = Tensor::cat(maps, 1);
        let hidden = relu(self.bn1.forward(pointwise_conv(&self.conv0, x)));
        pointwise_conv(&self.conv3, hidden)
    }
}
