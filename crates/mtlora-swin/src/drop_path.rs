//! Stochastic depth (DropPath), per sample.

use burn::module::{Flag, Module, Param};
use burn::tensor::{Distribution, Tensor};

/// Per-sample DropPath: `x·mask/(1 − p)` with a Bernoulli(1 − p) mask per sample, only in
/// training (autodiff device and training flag); identity otherwise or when `p = 0`.
#[derive(Module, Debug)]
pub struct DropPath {
    /// Drop probability.
    pub prob: f64,
    /// Training flag (switched by `Module::train`/`valid`/`freeze`).
    pub training: Param<Flag>,
}

impl DropPath {
    /// New DropPath with probability `prob` in `[0, 1)`.
    pub fn new(prob: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&prob),
            "DropPath probability must be in [0, 1), got {prob}"
        );
        Self {
            prob,
            training: Param::from_bool(true),
        }
    }

    /// # Shapes
    /// - input `[B, ...]` → same shape; one mask value per sample `b`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob == 0.0 || !self.training.is_enabled() || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let mut shape = [1usize; D];
        shape[0] = x.dims()[0];
        let mask = Tensor::<D>::random(shape, Distribution::Bernoulli(keep), &x.device());
        x * mask.div_scalar(keep)
    }
}
