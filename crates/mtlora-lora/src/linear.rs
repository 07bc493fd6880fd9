//! A plain linear layer stored in PyTorch layout (`weight: [out, in]`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use mtlora_kernels::init;

/// Configuration of a [`BaseLinear`].
#[derive(Config, Debug)]
pub struct BaseLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Whether the layer has a bias.
    #[config(default = true)]
    pub bias: bool,
}

/// Linear layer `y = x·Wᵀ + b` with `weight: [out, in]` (PyTorch layout, so checkpoint tensors
/// load without transposition).
#[derive(Module, Debug)]
pub struct BaseLinear {
    /// `[d_output, d_input]`.
    pub weight: Param<Tensor<2>>,
    /// `[d_output]`.
    pub bias: Option<Param<Tensor<1>>>,
}

impl BaseLinearConfig {
    /// PyTorch default init: `U(-1/√in, 1/√in)` for weight and bias.
    pub fn init(&self, device: &Device) -> BaseLinear {
        let bound = 1.0 / (self.d_input as f64).sqrt();
        let weight = init::uniform([self.d_output, self.d_input], -bound, bound, device);
        let bias = self
            .bias
            .then(|| Param::from_tensor(init::uniform([self.d_output], -bound, bound, device)));
        BaseLinear {
            weight: Param::from_tensor(weight),
            bias,
        }
    }
}

impl BaseLinear {
    /// # Shapes
    /// - input `[..., d_input]` → output `[..., d_output]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let (_, d_input) = self.dims();
        burn::tensor::assert_shape!(x, [.., d_input]);
        linear_forward(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()))
    }

    /// `(d_output, d_input)`.
    pub fn dims(&self) -> (usize, usize) {
        let [o, i] = self.weight.shape().dims();
        (o, i)
    }
}

/// `x·wᵀ + b` for any rank, with `w: [out, in]`.
///
/// # Shapes
/// - `x`: `[..., in]`, `w`: `[out, in]`, `b`: `[out]` → `[..., out]`
pub fn linear_forward<const D: usize>(
    x: Tensor<D>,
    w: Tensor<2>,
    b: Option<Tensor<1>>,
) -> Tensor<D> {
    mtlora_kernels::linear(x, w, b)
}
