//! Per-task losses of the reference (`mtl_loss_schemes.py`), in f32.

use burn::tensor::activation::log_softmax;
use burn::tensor::Tensor;

pub use mtlora_tasks::{LossKind, IGNORE};

/// Dispatch to the loss of `kind` ([`mtlora_tasks::Task::loss`] names each task's).
pub fn task_loss(kind: LossKind, logits: Tensor<4>, label: Tensor<4>) -> Tensor<1> {
    match kind {
        LossKind::CrossEntropy => masked_cross_entropy(logits, label),
        LossKind::BalancedBce => balanced_bce(logits, label),
        LossKind::NormalsL1 => normals_l1(logits, label),
        LossKind::EdgeBce => weighted_bce(logits, label, Some(0.95)),
    }
}

/// Pixel-wise cross-entropy, mean over the non-ignored pixels of the whole batch.
/// A batch with no valid pixel gives 0 with zero gradient (the reference gives NaN, quirk Q18).
///
/// # Shapes
/// - `logits`: `[B, K, H, W]`, `label`: `[B, 1, H, W]` (class ids as floats, 255 = ignore) → `[1]`
pub fn masked_cross_entropy(logits: Tensor<4>, label: Tensor<4>) -> Tensor<1> {
    let [b, _, h, w] = logits.dims();
    assert_eq!(
        label.dims(),
        [b, 1, h, w],
        "cross-entropy: label {:?} for logits {:?}",
        label.dims(),
        logits.dims()
    );
    let ignored = label.clone().equal_elem(IGNORE);
    let valid = ignored.clone().bool_not().float();
    let index = label.mask_fill(ignored, 0.0).int();
    let picked = log_softmax(logits, 1).gather(1, index);
    let n_valid = valid.clone().sum().clamp_min(1.0);
    (picked * valid).sum().neg().div(n_valid)
}

/// Class-balanced BCE with logits: positives weighted by the fraction of negatives, divided by
/// the number of label elements. No ignore value.
///
/// # Shapes
/// - `logits`, `label`: `[B, 1, H, W]` (label ≥ 0.5 is positive) → `[1]`
pub fn balanced_bce(logits: Tensor<4>, label: Tensor<4>) -> Tensor<1> {
    weighted_bce(logits, label, None)
}

/// Balanced BCE with a fixed positive weight (`Some(w)`, the reference's `pos_weight`) or the
/// batch's negative fraction (`None`).
///
/// # Shapes
/// - `logits`, `label`: `[B, 1, H, W]` → `[1]`
pub fn weighted_bce(logits: Tensor<4>, label: Tensor<4>, pos_weight: Option<f64>) -> Tensor<1> {
    assert_eq!(logits.dims(), label.dims(), "balanced BCE: shapes differ");
    let numel = label.shape().num_elements() as f64;
    let y = label.greater_equal_elem(0.5).float();
    let w = match pos_weight {
        Some(w) => Tensor::<1>::full([1], w, &logits.device()),
        None => y.clone().sum().neg().add_scalar(numel).div_scalar(numel), // N_neg / N_total
    };
    let ge = logits.clone().greater_equal_elem(0.0).float();
    let term = logits.clone() * (y.clone() - ge.clone());
    let lse = (logits.clone() - logits * ge.mul_scalar(2.0))
        .exp()
        .add_scalar(1.0)
        .log();
    let l = term - lse;
    let l_pos = (y.clone() * l.clone()).sum().neg();
    let l_neg = (y.neg().add_scalar(1.0) * l).sum().neg();
    (w.clone() * l_pos + w.neg().add_scalar(1.0) * l_neg).div_scalar(numel)
}

/// L1 between the L2-normalized prediction and the label over valid elements (label ≠ 255,
/// element-wise), divided by `max(#valid, 1e-6)`.
///
/// # Shapes
/// - `logits`, `label`: `[B, 3, H, W]` → `[1]`
pub fn normals_l1(logits: Tensor<4>, label: Tensor<4>) -> Tensor<1> {
    assert_eq!(logits.dims(), label.dims(), "normals loss: shapes differ");
    let norm = logits.clone().square().sum_dim(1).sqrt().add_scalar(1e-12);
    let pred = logits / norm;
    let ignored = label.clone().equal_elem(IGNORE);
    let valid = ignored.clone().bool_not().float();
    let label = label.mask_fill(ignored, 0.0);
    let n = valid.clone().sum().clamp_min(1e-6);
    ((pred - label).abs() * valid).sum().div(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t4(v: Vec<f32>, s: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, s), &Device::default())
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar()
    }

    #[test]
    fn cross_entropy_hand_value_and_ignore() {
        // one pixel valid (class 1 of logits [0, ln 3]) → −log(3/4); one ignored
        let logits = t4(vec![0.0, 0.0, 3f32.ln(), 5.0], [1, 2, 1, 2]);
        let label = t4(vec![1.0, 255.0], [1, 1, 1, 2]);
        let l = scalar(masked_cross_entropy(logits, label));
        assert!((l - (4.0f32 / 3.0).ln()).abs() < 1e-6, "{l}");
    }

    #[test]
    fn cross_entropy_all_ignored_is_zero_not_nan() {
        let logits = t4(vec![1.0, 2.0, 3.0, 4.0], [1, 2, 1, 2]);
        let label = t4(vec![255.0, 255.0], [1, 1, 1, 2]);
        assert_eq!(scalar(masked_cross_entropy(logits, label)), 0.0);
    }

    #[test]
    fn balanced_bce_uniform_labels_are_zero() {
        let logits = t4(vec![0.3, -2.0, 1.0, 4.0], [1, 1, 2, 2]);
        assert_eq!(
            scalar(balanced_bce(logits.clone(), t4(vec![1.0; 4], [1, 1, 2, 2]))),
            0.0
        );
        assert_eq!(
            scalar(balanced_bce(logits, t4(vec![0.0; 4], [1, 1, 2, 2]))),
            0.0
        );
    }

    #[test]
    fn balanced_bce_hand_value() {
        // logits 0 everywhere: every ℓ = −ln 2; 1 pos, 1 neg → w = 0.5; L = (0.5 ln2 + 0.5 ln2)/2
        let l = scalar(balanced_bce(
            t4(vec![0.0, 0.0], [1, 1, 1, 2]),
            t4(vec![1.0, 0.0], [1, 1, 1, 2]),
        ));
        assert!((l - 0.5 * 2f32.ln()).abs() < 1e-6, "{l}");
    }

    #[test]
    fn edge_uses_the_fixed_positive_weight() {
        // logits 0: every ℓ = −ln 2; 1 positive, 3 negatives
        let (o, y) = (
            t4(vec![0.0; 4], [1, 1, 2, 2]),
            t4(vec![1.0, 0.0, 0.0, 0.0], [1, 1, 2, 2]),
        );
        let bal = scalar(balanced_bce(o.clone(), y.clone()));
        let edge = scalar(task_loss(LossKind::EdgeBce, o, y));
        let ln2 = 2f32.ln();
        assert!((bal - 1.5 * ln2 / 4.0).abs() < 1e-6, "{bal}");
        assert!((edge - 1.1 * ln2 / 4.0).abs() < 1e-6, "{edge}");
    }

    #[test]
    fn normals_hand_value() {
        // pred (3,0,0) → (1,0,0); label (0,1,0): |1|+|−1|+0 over 3 elements
        let l = scalar(normals_l1(
            t4(vec![3.0, 0.0, 0.0], [1, 3, 1, 1]),
            t4(vec![0.0, 1.0, 0.0], [1, 3, 1, 1]),
        ));
        assert!((l - 2.0 / 3.0).abs() < 1e-6, "{l}");
        let all = scalar(normals_l1(
            t4(vec![3.0, 0.0, 0.0], [1, 3, 1, 1]),
            t4(vec![255.0; 3], [1, 3, 1, 1]),
        ));
        assert_eq!(all, 0.0);
    }
}
