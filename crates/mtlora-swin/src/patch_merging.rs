//! Patch merging (2×2 neighbourhood concat → LayerNorm → reduction).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mtlora_lora::{MtLoraLinear, MtLoraLinearConfig};

use crate::layer_norm::{LayerNorm, LayerNormConfig};

/// Configuration of a [`PatchMerging`].
#[derive(Config, Debug)]
pub struct PatchMergingConfig {
    /// Input channels C.
    pub dim: usize,
    /// Input grid `[H, W]`.
    pub resolution: [usize; 2],
    /// Shared LoRA rank on the reduction (MTLoRA+; 0 = plain).
    #[config(default = 0)]
    pub lora_rank: usize,
    /// Shared LoRA scale.
    #[config(default = 4.0)]
    pub lora_scale: f64,
    /// LoRA dropout.
    #[config(default = 0.0)]
    pub lora_dropout: f64,
    /// LayerNorm epsilon.
    #[config(default = 1e-5)]
    pub eps: f64,
}

/// Concat `x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]` → LayerNorm(4C) →
/// Linear(4C → 2C, no bias).
#[derive(Module, Debug)]
pub struct PatchMerging {
    /// LayerNorm(4C).
    pub norm: LayerNorm,
    /// Reduction, weight `[2C, 4C]`.
    pub reduction: MtLoraLinear,
    /// Input grid.
    pub resolution: [usize; 2],
}

impl PatchMergingConfig {
    /// Build the module.
    pub fn init(&self, device: &Device) -> PatchMerging {
        PatchMerging {
            norm: LayerNormConfig::new(4 * self.dim)
                .with_epsilon(self.eps)
                .init(device),
            reduction: MtLoraLinearConfig::new(4 * self.dim, 2 * self.dim, self.lora_rank)
                .with_bias(false)
                .with_shared_scale(self.lora_scale)
                .with_dropout(self.lora_dropout)
                .init(device),
            resolution: self.resolution,
        }
    }
}

impl PatchMerging {
    /// # Shapes
    /// - input `[B, H·W, C]` → `[B, (H/2)·(W/2), 2C]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, l, c] = x.dims();
        let [h, w] = self.resolution;
        assert_eq!(l, h * w, "PatchMerging: {l} tokens for a {h}x{w} grid");
        // [B, H/2, rp, W/2, cp, C] → [B, H/2, W/2, cp, rp, C]: channel block k = 2·cp + rp
        let merged = x
            .reshape([b, h / 2, 2, w / 2, 2, c])
            .permute([0, 1, 3, 4, 2, 5])
            .reshape([b, (h / 2) * (w / 2), 4 * c]);
        self.reduction
            .forward(self.norm.forward(merged), None)
            .shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::TensorData;

    #[test]
    fn concat_order_matches_reference() {
        let dev = Device::default();
        let mut pm = PatchMergingConfig::new(1, [2, 2]).init(&dev);
        // Identity-like check: norm disabled by making the reduction pick raw channels is not
        // possible through LayerNorm, so test the gather alone through a 4→2 reduction of the
        // normalized values: use weight rows selecting channel 1 (x[1::2, 0::2]) and 2.
        pm.reduction.base_mut().weight = Param::from_data(
            TensorData::from([[0.0f32, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]),
            &dev,
        );
        // grid [[a, b], [c, d]] = [[0, 10], [20, 30]] → concat [a, c, b, d] = [0, 20, 10, 30]
        let x = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 10., 20., 30.], [1, 4, 1]),
            &dev,
        );
        let y: Vec<f32> = pm.forward(x).into_data().try_to_vec().unwrap();
        // normalized [0,20,10,30]: mean 15, std √125 → c → 5/√125, b → -5/√125
        let s = 125f32.sqrt();
        assert!(
            (y[0] - 5.0 / s).abs() < 1e-4 && (y[1] + 5.0 / s).abs() < 1e-4,
            "{y:?}"
        );
    }
}
