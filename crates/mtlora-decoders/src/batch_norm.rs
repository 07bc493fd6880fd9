//! BatchNorm2d with PyTorch semantics and key names.

use burn::config::Config;
use burn::module::{Flag, Module, Param, RunningState};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`BatchNorm2d`].
#[derive(Config, Debug)]
pub struct BatchNorm2dConfig {
    /// Channels.
    pub num_features: usize,
    /// Epsilon.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Running-stat momentum.
    #[config(default = 0.1)]
    pub momentum: f64,
}

/// BatchNorm over (N, H, W). Training (autodiff device + training flag): batch mean and biased
/// variance; running stats updated with the unbiased variance. Otherwise running stats.
#[derive(Module, Debug)]
pub struct BatchNorm2d {
    /// Scale `[C]`.
    pub weight: Param<Tensor<1>>,
    /// Shift `[C]`.
    pub bias: Param<Tensor<1>>,
    /// Running mean `[C]`.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running variance `[C]`.
    pub running_var: RunningState<Tensor<1>>,
    /// Number of training forwards (stored as a 1-element float; exported as int64).
    pub num_batches_tracked: RunningState<Tensor<1>>,
    /// Training flag.
    pub training: Param<Flag>,
    /// Momentum.
    pub momentum: f64,
    /// Epsilon.
    pub epsilon: f64,
}

impl BatchNorm2dConfig {
    /// Weight 1, bias 0, running mean 0, running var 1.
    pub fn init(&self, device: &Device) -> BatchNorm2d {
        let c = self.num_features;
        BatchNorm2d {
            weight: Param::from_tensor(Tensor::ones([c], device)),
            bias: Param::from_tensor(Tensor::zeros([c], device)),
            running_mean: RunningState::new(Tensor::zeros([c], device)),
            running_var: RunningState::new(Tensor::ones([c], device)),
            num_batches_tracked: RunningState::new(Tensor::zeros([1], device)),
            training: Param::from_bool(true),
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

impl BatchNorm2d {
    /// Whether this forward uses batch statistics.
    pub fn is_training(&self, device: &Device) -> bool {
        device.is_autodiff() && self.training.is_enabled()
    }

    /// # Shapes
    /// - input `[B, C, H, W]` → same shape
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let [cw] = self.weight.shape().dims();
        assert_eq!(c, cw, "BatchNorm2d: {c} channels, expected {cw}");
        let dev = x.device();
        let shape = |t: Tensor<1>| t.reshape([1, c, 1, 1]);
        if self.is_training(&dev) {
            // batch statistics on the NCHW layout (no channel-major copy); the centred input is
            // the one tensor autodiff keeps for both the variance and the output
            let n = (b * h * w) as f64;
            let per_channel = |t: Tensor<4>| -> Tensor<1> {
                t.reshape([b, c, h * w])
                    .sum_dim(2)
                    .sum_dim(0)
                    .reshape([c])
                    .div_scalar(n)
            };
            let mean = per_channel(x.clone());
            let centred = x - shape(mean.clone());
            let var = per_channel(centred.clone().square());
            let unbiased = var.clone().detach().mul_scalar(n / (n - 1.0).max(1.0));
            let m = self.momentum;
            let rm = self.running_mean.value_sync().to_device(&dev);
            let rv = self.running_var.value_sync().to_device(&dev);
            let nb = self.num_batches_tracked.value_sync().to_device(&dev);
            self.running_mean
                .update((rm.mul_scalar(1.0 - m) + mean.detach().mul_scalar(m)).detach());
            self.running_var
                .update((rv.mul_scalar(1.0 - m) + unbiased.mul_scalar(m)).detach());
            self.num_batches_tracked.update(nb.add_scalar(1.0).detach());
            let inv = var.add_scalar(self.epsilon).sqrt().recip();
            return centred * shape(inv * self.weight.val()) + shape(self.bias.val());
        }
        let mean = self.running_mean.value_sync().to_device(&dev);
        let var = self.running_var.value_sync().to_device(&dev);
        let inv = var.add_scalar(self.epsilon).sqrt().recip();
        (x - shape(mean)) * shape(inv * self.weight.val()) + shape(self.bias.val())
    }
}
