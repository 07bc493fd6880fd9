//! Per-task channel reduction: one 1×1 convolution per scale (the reference's "downsampler";
//! its state-dict keys keep that name).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ChannelReduction`].
#[derive(Config, Debug)]
pub struct ChannelReductionConfig {
    /// Input channels per scale.
    pub in_channels: Vec<usize>,
    /// Output channels per scale (reference `DECODER_CHANNELS`).
    pub out_channels: Vec<usize>,
}

/// One bias-free `Conv2d(C_k → c_k, 1×1)` per scale (keys `downsample_{k}.weight`).
#[derive(Module, Debug)]
pub struct ChannelReduction {
    /// One conv per scale.
    pub downsample: Vec<Conv2d>,
}

impl ChannelReductionConfig {
    /// Build the convs (PyTorch default conv init).
    pub fn init(&self, device: &Device) -> ChannelReduction {
        assert_eq!(
            self.in_channels.len(),
            self.out_channels.len(),
            "ChannelReduction: channel lists differ in length"
        );
        ChannelReduction {
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

impl ChannelReduction {
    /// The same maps from token sequences: each 1×1 conv as `tokens·Wᵀ` on the `[B, L, C_k]`
    /// layout the backbone emits, then one transpose of the (narrower) result to NCHW.
    ///
    /// # Shapes
    /// - `tokens[k]`: `[B, H_k·W_k, C_k]` with `resolutions[k] = [H_k, W_k]`
    /// - output `k`: `[B, c_k, H_k, W_k]`
    pub fn forward_tokens(
        &self,
        tokens: &[Tensor<3>],
        resolutions: &[[usize; 2]],
    ) -> Vec<Tensor<4>> {
        assert!(
            tokens.len() == self.downsample.len() && resolutions.len() == tokens.len(),
            "ChannelReduction: {} token maps, {} grids for {} convs",
            tokens.len(),
            resolutions.len(),
            self.downsample.len()
        );
        tokens
            .iter()
            .zip(resolutions)
            .zip(&self.downsample)
            .map(|((t, &[h, w]), conv)| {
                let [b, l, c] = t.dims();
                assert_eq!(l, h * w, "ChannelReduction: {l} tokens for a {h}x{w} grid");
                let [co, ci, kh, kw] = conv.weight.dims();
                assert!(
                    ci == c && [kh, kw] == [1, 1],
                    "ChannelReduction: conv {co}x{ci}x{kh}x{kw} for {c}-channel tokens"
                );
                let weight = conv.weight.val().reshape([co, ci]);
                mtlora_kernels::linear(t.clone(), weight, conv.bias.as_ref().map(|b| b.val()))
                    .reshape([b, h, w, co])
                    .permute([0, 3, 1, 2])
            })
            .collect()
    }

    /// # Shapes
    /// - `features[k]`: `[B, C_k, H_k, W_k]` → `[B, c_k, H_k, W_k]`
    pub fn forward(&self, features: &[Tensor<4>]) -> Vec<Tensor<4>> {
        assert_eq!(
            features.len(),
            self.downsample.len(),
            "ChannelReduction: {} maps for {} convs",
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn token_layout_equals_the_nchw_convs() {
        let dev = Device::default();
        let d = ChannelReductionConfig::new(vec![6, 10], vec![3, 4]).init(&dev);
        let res = [[4, 5], [2, 3]];
        let tokens: Vec<Tensor<3>> = [(20, 6), (6, 10)]
            .iter()
            .map(|&(l, c)| Tensor::random([2, l, c], Distribution::Normal(0.0, 1.0), &dev))
            .collect();
        let nchw: Vec<Tensor<4>> = tokens
            .iter()
            .zip(&res)
            .map(|(t, &[h, w])| {
                let [b, _, c] = t.dims();
                t.clone().reshape([b, h, w, c]).permute([0, 3, 1, 2])
            })
            .collect();
        let want = d.forward(&nchw);
        let got = d.forward_tokens(&tokens, &res);
        for (g, w) in got.into_iter().zip(want) {
            assert_eq!(g.dims(), w.dims());
            g.into_data()
                .assert_approx_eq::<f32>(&w.into_data(), Tolerance::absolute(1e-5));
        }
    }
}
