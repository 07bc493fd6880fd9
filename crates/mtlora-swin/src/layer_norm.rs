//! LayerNorm over the last axis with PyTorch parameter names (`weight`, `bias`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`LayerNorm`].
#[derive(Config, Debug)]
pub struct LayerNormConfig {
    /// Normalized features.
    pub d_model: usize,
    /// Epsilon added to the (biased) variance.
    #[config(default = 1e-5)]
    pub epsilon: f64,
}

/// LayerNorm, `(x − mean)/√(var + eps)·weight + bias`, biased variance.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// `[d_model]`, ones at init.
    pub weight: Param<Tensor<1>>,
    /// `[d_model]`, zeros at init.
    pub bias: Param<Tensor<1>>,
    /// Epsilon.
    pub epsilon: f64,
}

impl LayerNormConfig {
    /// Ones / zeros init.
    pub fn init(&self, device: &Device) -> LayerNorm {
        LayerNorm {
            weight: Param::from_tensor(Tensor::ones([self.d_model], device)),
            bias: Param::from_tensor(Tensor::zeros([self.d_model], device)),
            epsilon: self.epsilon,
        }
    }
}

impl LayerNorm {
    /// # Shapes
    /// - input `[..., d_model]` → output of the same shape
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let [d] = self.weight.shape().dims();
        assert_eq!(
            x.dims()[D - 1],
            d,
            "LayerNorm: expected {d} features, got {:?}",
            x.dims()
        );
        mtlora_kernels::layer_norm(x, self.weight.val(), self.bias.val(), self.epsilon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{TensorData, Tolerance};

    #[test]
    fn normalizes_hand_computed() {
        let dev = Device::default();
        let ln = LayerNormConfig::new(2).init(&dev);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 3.0]]), &dev);
        // mean 2, var 1 → ±1/√(1+1e-5)
        let v = 1.0 / (1.0f64 + 1e-5).sqrt();
        ln.forward(x).into_data().assert_approx_eq::<f32>(
            &TensorData::from([[-v as f32, v as f32]]),
            Tolerance::absolute(1e-6),
        );
    }
}
