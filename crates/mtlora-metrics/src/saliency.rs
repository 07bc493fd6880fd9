//! Saliency: per-image max-threshold mIoU and maxF (metrics.md §5.1–5.2), and the pooled
//! β-maxF (§5.3) in its correct (single sigmoid) and InvPT-compatible (double sigmoid) forms.

/// Thresholds of the per-image meter: `linspace(0.2, 0.9, 15)` as NumPy computes it.
pub fn mask_thresholds() -> Vec<f64> {
    let (start, stop, num) = (0.2f64, 0.9f64, 15usize);
    let step = (stop - start) / (num - 1) as f64;
    let mut t: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    t[num - 1] = stop;
    t
}

/// Thresholds of the β meter: float32 `torch.arange(0.05, 1, 0.05)` (19 values) as PyTorch's
/// CPU kernel produces them: 8-wide vectors `f32(base_f32 + j·step)` (double arithmetic,
/// `base` rounded to f32 first), and the 3-element tail `f32(start + i·step)`.
pub fn beta_thresholds() -> Vec<f32> {
    let (start, step) = (0.05f64, 0.05f64);
    (0..19usize)
        .map(|i| {
            if i < 16 {
                let base = (start + (i / 8 * 8) as f64 * step) as f32;
                (base as f64 + (i % 8) as f64 * step) as f32
            } else {
                (start + i as f64 * step) as f32
            }
        })
        .collect()
}

/// β² of the β-maxF.
pub const BETA_SQUARED: f32 = 0.3;

/// The reference's saliency probability `(255·sigmoid(o))/255` in float32.
pub fn probability(logit: f32) -> f32 {
    let s = 1.0 / (1.0 + (-logit).exp());
    (255.0f32 * s) / 255.0f32
}

fn sigmoid32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Pooled counts of the β meter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BetaCounts {
    /// `#{q ≥ t ∧ gt = 1}` per threshold.
    pub tp: Vec<f32>,
    /// `#{q ≥ t}` per threshold.
    pub pp: Vec<f32>,
    /// `#{gt = 1}` per threshold.
    pub ap: Vec<f32>,
}

impl BetaCounts {
    fn new() -> Self {
        Self {
            tp: vec![0.0; 19],
            pp: vec![0.0; 19],
            ap: vec![0.0; 19],
        }
    }

    /// `max_t F_β(t)` with NaN → 0, in float32 like the reference.
    pub fn max_f(&self) -> f64 {
        let mut best = f32::NEG_INFINITY;
        for k in 0..self.tp.len() {
            let prec = self.tp[k] / self.pp[k];
            let rec = self.tp[k] / self.ap[k];
            let mut f = (1.0 + BETA_SQUARED) * prec * rec / (BETA_SQUARED * prec + rec);
            if f.is_nan() {
                f = 0.0;
            }
            best = best.max(f);
        }
        best as f64
    }
}

/// Saliency meter: one row of 15 values per image (never per row of a squeezed image,
/// quirk Q39) and pooled β counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SaliencyMeter {
    /// Per image: Jaccard at each threshold.
    pub jaccard: Vec<Vec<f64>>,
    /// Per image: precision at each threshold.
    pub precision: Vec<Vec<f64>>,
    /// Per image: recall at each threshold.
    pub recall: Vec<Vec<f64>>,
    /// β counts with `q = p` (correct).
    pub beta: BetaCounts,
    /// β counts with `q = sigmoid(p)` (InvPT-compatible double sigmoid).
    pub beta_invpt: BetaCounts,
}

impl Default for SaliencyMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl SaliencyMeter {
    /// Empty meter.
    pub fn new() -> Self {
        Self {
            jaccard: vec![],
            precision: vec![],
            recall: vec![],
            beta: BetaCounts::new(),
            beta_invpt: BetaCounts::new(),
        }
    }

    /// Add logits `[B, 1, H, W]` against binary targets `[B, 1, H, W]` (non-zero = salient).
    pub fn update(&mut self, logits: &[f32], dims: [usize; 4], gt: &[f32]) {
        let [b, c, h, w] = dims;
        assert_eq!(c, 1, "saliency meter: one channel expected, got {c}");
        assert_eq!(logits.len(), b * h * w, "saliency meter: logits length");
        assert_eq!(gt.len(), b * h * w, "saliency meter: gt length");
        let taus: Vec<f32> = mask_thresholds().iter().map(|&t| t as f32).collect();
        let btau = beta_thresholds();
        let hw = h * w;
        for n in 0..b {
            let p: Vec<f32> = logits[n * hw..(n + 1) * hw]
                .iter()
                .map(|&o| probability(o))
                .collect();
            let g = &gt[n * hw..(n + 1) * hw];
            let (mut jr, mut pr, mut rr) = (vec![0.0; 15], vec![0.0; 15], vec![0.0; 15]);
            let gpos = g.iter().filter(|&&gi| gi != 0.0).count() as u64;
            for (j, &tau) in taus.iter().enumerate() {
                let (mut tp, mut fp) = (0u64, 0u64);
                for (&pi, &gi) in p.iter().zip(g) {
                    if pi > tau {
                        if gi != 0.0 {
                            tp += 1;
                        } else {
                            fp += 1;
                        }
                    }
                }
                let fn_ = gpos - tp;
                jr[j] = if gpos == 0 && tp + fp == 0 {
                    1.0
                } else {
                    tp as f64 / (tp + fp + fn_) as f64
                };
                pr[j] = tp as f64 / (tp as f64 + fp as f64 + 1e-12);
                rr[j] = tp as f64 / (tp as f64 + fn_ as f64 + 1e-12);
            }
            self.jaccard.push(jr);
            self.precision.push(pr);
            self.recall.push(rr);
            for (&pi, &gi) in p.iter().zip(g) {
                let q2 = sigmoid32(pi);
                let pos = gi == 1.0;
                for (k, &t) in btau.iter().enumerate() {
                    if pi >= t {
                        self.beta.pp[k] += 1.0;
                        self.beta.tp[k] += pos as u8 as f32;
                    }
                    if q2 >= t {
                        self.beta_invpt.pp[k] += 1.0;
                        self.beta_invpt.tp[k] += pos as u8 as f32;
                    }
                    self.beta.ap[k] += pos as u8 as f32;
                    self.beta_invpt.ap[k] += pos as u8 as f32;
                }
            }
        }
    }

    fn column_means(rows: &[Vec<f64>]) -> Vec<f64> {
        let n = rows.len().max(1) as f64;
        (0..15)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect()
    }

    /// Mean Jaccard per threshold.
    pub fn mean_jaccard(&self) -> Vec<f64> {
        Self::column_means(&self.jaccard)
    }

    /// Max over thresholds of the mean per-image Jaccard (fraction; the paper's "Saliency mIoU").
    pub fn miou_maxthr(&self) -> f64 {
        self.mean_jaccard()
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// maxF without β (fraction).
    pub fn maxf(&self) -> f64 {
        let p = Self::column_means(&self.precision);
        let r = Self::column_means(&self.recall);
        p.iter()
            .zip(&r)
            .map(|(p, r)| 2.0 * p * r / (p + r + 1e-12))
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logit(p: f64) -> f32 {
        (p / (1.0 - p)).ln() as f32
    }

    #[test]
    fn spec_vector() {
        // metrics.md §5.5
        let p = [
            [0.12, 0.33, 0.62, 0.97],
            [0.27, 0.58, 0.83, 0.04],
            [0.11, 0.16, 0.43, 0.07],
        ];
        let g = [[0., 1., 1., 1.], [0., 1., 1., 0.], [0., 0., 0., 0.]];
        let mut m = SaliencyMeter::new();
        for (pi, gi) in p.iter().zip(&g) {
            let l: Vec<f32> = pi.iter().map(|&x| logit(x)).collect();
            m.update(&l, [1, 1, 2, 2], gi);
        }
        let expect = [
            0.555556, 0.555556, 0.666667, 0.555556, 0.555556, 0.888889, 0.888889, 0.888889,
            0.722222, 0.611111, 0.611111, 0.611111, 0.611111, 0.444444, 0.444444,
        ];
        for (a, b) in m.mean_jaccard().iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!((m.miou_maxthr() - 0.888889).abs() < 1e-6);
        assert!((m.maxf() - 0.666667).abs() < 1e-6);
        assert!((m.beta.max_f() - 0.945455).abs() < 1e-5);
        assert!((m.beta_invpt.max_f() - 0.866667).abs() < 1e-5);
    }

    #[test]
    fn thresholds_match_numpy() {
        let t = mask_thresholds();
        assert_eq!(t[0], 0.2);
        assert_eq!(t[5], 0.44999999999999996);
        assert_eq!(t[14], 0.9);
        assert_eq!(beta_thresholds()[0], 0.05f32);
    }
}
