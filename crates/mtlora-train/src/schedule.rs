//! Learning-rate schedule of the reference (training.md §4): linear warmup then cosine, stepped
//! per iteration (timm `CosineLRScheduler`, `warmup_prefix = true`, `cycle_limit = 1`), with the
//! reference's off-by-one (`lr(k) = f(max(k − 1, 0))` for the 0-based global iteration `k`).

use serde::{Deserialize, Serialize};

/// Reference base/warmup/min learning rates before the linear scaling.
pub const REFERENCE_LRS: (f64, f64, f64) = (5e-4, 5e-7, 5e-6);

/// Linear scaling of `main.py`: `lr · batch · world · accumulation / 512`.
pub fn scale_lr(lr: f64, batch: usize, world: usize, accumulation: usize) -> f64 {
    lr * (batch * world * accumulation) as f64 / 512.0
}

/// Warmup + cosine schedule over iterations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineSchedule {
    /// Peak learning rate.
    pub base_lr: f64,
    /// Learning rate at t = 0.
    pub warmup_lr: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// Warmup iterations (`warmup_epochs · n`).
    pub warmup_t: usize,
    /// Cosine iterations (`(epochs − warmup_epochs) · n`).
    pub t_initial: usize,
}

impl CosineSchedule {
    /// From the epoch recipe: `epochs`, `warmup_epochs`, `n` iterations per epoch.
    pub fn from_epochs(
        base_lr: f64,
        warmup_lr: f64,
        min_lr: f64,
        epochs: usize,
        warmup_epochs: usize,
        n: usize,
    ) -> Self {
        Self {
            base_lr,
            warmup_lr,
            min_lr,
            warmup_t: warmup_epochs * n,
            t_initial: epochs.saturating_sub(warmup_epochs) * n,
        }
    }

    /// The scheduler's value `f(t)`.
    pub fn f(&self, t: usize) -> f64 {
        if t < self.warmup_t {
            let step = (self.base_lr - self.warmup_lr) / self.warmup_t as f64;
            return self.warmup_lr + t as f64 * step;
        }
        let t = t - self.warmup_t;
        if self.t_initial == 0 || t >= self.t_initial {
            return self.min_lr;
        }
        let cos = (std::f64::consts::PI * t as f64 / self.t_initial as f64).cos();
        self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + cos)
    }

    /// The learning rate the reference trains global iteration `k` (0-based) with.
    pub fn lr_used(&self, k: usize) -> f64 {
        self.f(k.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_recipe_vectors() {
        // training.md §4.4 (batch 32)
        let (b, w, m) = REFERENCE_LRS;
        let s = CosineSchedule::from_epochs(
            scale_lr(b, 32, 1, 1),
            scale_lr(w, 32, 1, 1),
            scale_lr(m, 32, 1, 1),
            300,
            20,
            156,
        );
        for (k, want) in [
            (0, 3.125000e-08),
            (1, 3.125000e-08),
            (2, 4.125601e-08),
            (156, 1.582181e-06),
            (1560, 1.563062e-05),
            (3120, 3.123999e-05),
            (3121, 3.125000e-05),
            (24960, 1.578236e-05),
            (46799, 3.125002e-07),
        ] {
            let got = s.lr_used(k);
            assert!(((got - want) / want).abs() < 5e-6, "k={k}: {got} vs {want}");
        }
        assert_eq!(s.f(3120 + 43680), s.min_lr);
    }
}
