//! Segmentation mIoU (semseg, human_parts): tp/fp/fn per class over a whole split
//! (metrics.md §3–§4; reference `SemsegMeter` / `HumanPartsMeter`).

/// Ignore label of segmentation targets.
pub const IGNORE: f32 = 255.0;

/// Per-pixel class of `[B, K, H, W]` logits, `[B·H·W]` in pixel order: the first channel holding
/// the maximum (a NaN logit never compares greater).
pub fn labels(logits: &[f32], [b, k, h, w]: [usize; 4]) -> Vec<usize> {
    let hw = h * w;
    let mut pred = vec![0usize; b * hw];
    for n in 0..b {
        let base = n * k * hw;
        for i in 0..hw {
            let mut best = logits[base + i];
            let mut arg = 0;
            for c in 1..k {
                let v = logits[base + c * hw + i];
                if v > best {
                    best = v;
                    arg = c;
                }
            }
            pred[n * hw + i] = arg;
        }
    }
    pred
}

/// Per-class tp/fp/fn accumulated over every pixel with `gt ≠ 255`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionMeter {
    /// True positives per class.
    pub tp: Vec<u64>,
    /// False positives per class.
    pub fp: Vec<u64>,
    /// False negatives per class.
    pub fn_: Vec<u64>,
}

impl ConfusionMeter {
    /// Meter over `k` classes.
    pub fn new(k: usize) -> Self {
        Self {
            tp: vec![0; k],
            fp: vec![0; k],
            fn_: vec![0; k],
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.tp.len()
    }

    /// Add predicted labels and ground truth (same length; `gt = 255` ignored). A ground-truth
    /// value outside `0..k` other than 255 counts as a false positive of the predicted class.
    pub fn update_labels(&mut self, pred: &[usize], gt: &[f32]) {
        assert_eq!(pred.len(), gt.len(), "confusion meter: pred/gt length");
        let k = self.classes();
        for (&p, &g) in pred.iter().zip(gt) {
            if g == IGNORE {
                continue;
            }
            let g = g as usize;
            if g == p {
                self.tp[p] += 1;
            } else {
                self.fp[p] += 1;
                if g < k {
                    self.fn_[g] += 1;
                }
            }
        }
    }

    /// Add logits `[B, K, H, W]` (argmax over channels, first index on ties) against
    /// `gt` `[B, 1, H, W]`.
    pub fn update(&mut self, logits: &[f32], dims: [usize; 4], gt: &[f32]) {
        let [b, k, h, w] = dims;
        assert_eq!(
            k,
            self.classes(),
            "confusion meter: {k} channels for {} classes",
            self.classes()
        );
        assert_eq!(
            logits.len(),
            b * k * h * w,
            "confusion meter: logits length"
        );
        assert_eq!(gt.len(), b * h * w, "confusion meter: gt length");
        self.update_labels(&labels(logits, dims), gt);
    }

    /// IoU per class: `tp / max(tp + fp + fn, 1e-8)` (an absent class scores 0).
    pub fn iou(&self) -> Vec<f64> {
        (0..self.classes())
            .map(|c| {
                let d = (self.tp[c] + self.fp[c] + self.fn_[c]) as f64;
                self.tp[c] as f64 / d.max(1e-8)
            })
            .collect()
    }

    /// Mean IoU over all classes (fraction, not percent).
    pub fn miou(&self) -> f64 {
        let iou = self.iou();
        iou.iter().sum::<f64>() / iou.len() as f64
    }

    /// Merge another meter's counts.
    pub fn merge(&mut self, other: &Self) {
        for c in 0..self.classes() {
            self.tp[c] += other.tp[c];
            self.fp[c] += other.fp[c];
            self.fn_[c] += other.fn_[c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector_semseg() {
        // metrics.md §3
        let gt = [0.0, 1.0, 1.0, 2.0, 255.0, 0.0];
        let pred = [0, 1, 2, 2, 1, 1];
        let mut m3 = ConfusionMeter::new(3);
        m3.update_labels(&pred, &gt);
        let iou = m3.iou();
        assert!((iou[0] - 0.5).abs() < 1e-12 && (iou[1] - 1.0 / 3.0).abs() < 1e-12);
        assert!((iou[2] - 0.5).abs() < 1e-12);
        assert!((m3.miou() - 0.444444).abs() < 1e-6);
        let mut m21 = ConfusionMeter::new(21);
        m21.update_labels(&pred, &gt);
        assert!((m21.miou() - 0.063492).abs() < 1e-6);
    }

    #[test]
    fn spec_vector_parts_and_argmax() {
        // metrics.md §4: image B (all 255) has no effect
        let mut m = ConfusionMeter::new(7);
        m.update_labels(&[0, 1, 4, 6], &[0.0, 1.0, 1.0, 6.0]);
        m.update_labels(&[3, 3, 3, 3], &[255.0; 4]);
        assert!((m.miou() - 0.357143).abs() < 1e-6);
        // argmax with a tie picks the first index
        let mut a = ConfusionMeter::new(2);
        a.update(&[1.0, 1.0], [1, 2, 1, 1], &[0.0]);
        assert_eq!(a.tp, vec![1, 0]);
    }
}
