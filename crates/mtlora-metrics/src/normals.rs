//! Surface normals: pooled angular error statistics (metrics.md §6).
//!
//! The prediction goes through the reference's float32 round trip
//! (`n̂ = o/max(‖o‖, 1e-12)`, `x = 255·(n̂+1)/2`, `p̂ = 2x/255 − 1`); the dot product with the
//! ground truth, `acos` and the sums are float64 (the reference meter sees float64 labels).

/// Ignore value of normals targets.
pub const IGNORE: f32 = 255.0;

/// Histogram bins per degree for the median of large splits.
const BINS_PER_DEG: usize = 1000;
/// Errors kept exactly (for an exact median) up to this many pixels.
const EXACT_CAP: usize = 1 << 22;

/// Compensated (Neumaier) sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sum {
    s: f64,
    c: f64,
}

impl Sum {
    /// Add a value.
    pub fn add(&mut self, x: f64) {
        let t = self.s + x;
        if self.s.abs() >= x.abs() {
            self.c += (self.s - t) + x;
        } else {
            self.c += (x - t) + self.s;
        }
        self.s = t;
    }
    /// Current value.
    pub fn value(&self) -> f64 {
        self.s + self.c
    }
}

/// Pooled normals meter.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalsMeter {
    /// Σ err (degrees) over valid pixels (v1: valid ⇔ gt channel 0 ≠ 255).
    pub sum: Sum,
    /// Σ err².
    pub sum_sq: Sum,
    /// Valid pixels.
    pub n: u64,
    /// Pixels with err < 11.25°, < 22.5°, < 30°.
    pub below: [u64; 3],
    /// v2 (atan2 form, valid ⇔ all three channels ≠ 255): Σ err and count.
    pub v2_sum: Sum,
    /// v2 count.
    pub v2_n: u64,
    hist: Vec<u64>,
    exact: Vec<f32>,
    exact_overflow: bool,
}

impl Default for NormalsMeter {
    fn default() -> Self {
        Self::new()
    }
}

/// Decode one predicted normal as the reference does (float32 round trip).
pub fn decode_prediction(o: [f32; 3]) -> [f32; 3] {
    let norm = (o[0] * o[0] + o[1] * o[1] + o[2] * o[2]).sqrt().max(1e-12);
    o.map(|v| {
        let n = v / norm;
        let x = (n + 1.0) * 255.0f32 / 2.0f32;
        2.0f32 * x / 255.0f32 - 1.0
    })
}

impl NormalsMeter {
    /// Empty meter.
    pub fn new() -> Self {
        Self {
            sum: Sum::default(),
            sum_sq: Sum::default(),
            n: 0,
            below: [0; 3],
            v2_sum: Sum::default(),
            v2_n: 0,
            hist: vec![0; 180 * BINS_PER_DEG + 1],
            exact: vec![],
            exact_overflow: false,
        }
    }

    /// Add raw predictions `[B, 3, H, W]` against unit-normal targets `[B, 3, H, W]`
    /// (255 in a channel = ignored).
    pub fn update(&mut self, pred: &[f32], dims: [usize; 4], gt: &[f32]) {
        let [b, c, h, w] = dims;
        assert_eq!(c, 3, "normals meter: 3 channels expected, got {c}");
        assert_eq!(
            pred.len(),
            b * 3 * h * w,
            "normals meter: prediction length"
        );
        assert_eq!(gt.len(), pred.len(), "normals meter: gt length");
        let hw = h * w;
        for n in 0..b {
            let base = n * 3 * hw;
            for i in 0..hw {
                let at = |v: &[f32], ch: usize| v[base + ch * hw + i];
                let o = [at(pred, 0), at(pred, 1), at(pred, 2)];
                let g = [at(gt, 0), at(gt, 1), at(gt, 2)];
                let p = decode_prediction(o);
                self.add_v1(p, g);
                self.add_v2(p, g);
            }
        }
    }

    fn add_v1(&mut self, p: [f32; 3], g: [f32; 3]) {
        if g[0] == IGNORE {
            return;
        }
        let mut dot = 0.0f64;
        for ch in 0..3 {
            if g[ch] != IGNORE {
                dot += p[ch] as f64 * g[ch] as f64;
            }
        }
        let err = (180.0 / std::f64::consts::PI) * dot.clamp(-1.0, 1.0).acos();
        self.sum.add(err);
        self.sum_sq.add(err * err);
        self.n += 1;
        for (k, t) in [11.25, 22.5, 30.0].iter().enumerate() {
            self.below[k] += (err < *t) as u64;
        }
        let bin = ((err * BINS_PER_DEG as f64) as usize).min(self.hist.len() - 1);
        self.hist[bin] += 1;
        if !self.exact_overflow {
            if self.exact.len() < EXACT_CAP {
                self.exact.push(err as f32);
            } else {
                self.exact_overflow = true;
                self.exact = vec![];
            }
        }
    }

    fn add_v2(&mut self, p: [f32; 3], g: [f32; 3]) {
        if g.contains(&IGNORE) {
            return;
        }
        // prediction normalized in f32 (`F.normalize`), ground truth in f64
        let pn = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt().max(1e-12);
        let a = p.map(|x| (x / pn) as f64);
        let g = g.map(|x| x as f64);
        let gn = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt().max(1e-12);
        let b = g.map(|x| x / gn);
        let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        let s = ((a[0] + b[0]).powi(2) + (a[1] + b[1]).powi(2) + (a[2] + b[2]).powi(2)).sqrt();
        self.v2_sum
            .add((180.0 / std::f64::consts::PI) * 2.0 * d.atan2(s));
        self.v2_n += 1;
    }

    /// Mean angular error in degrees (the paper's "Normals (rmse)" column).
    pub fn mean(&self) -> f64 {
        self.sum.value() / self.n as f64
    }

    /// True root-mean-square angular error in degrees.
    pub fn rmse(&self) -> f64 {
        (self.sum_sq.value() / self.n as f64).sqrt()
    }

    /// v2 mean angular error.
    pub fn mean_v2(&self) -> f64 {
        self.v2_sum.value() / self.v2_n as f64
    }

    /// Percent of valid pixels below 11.25°, 22.5°, 30°.
    pub fn pct_below(&self) -> [f64; 3] {
        self.below.map(|c| 100.0 * c as f64 / self.n as f64)
    }

    /// Median angular error: exact (mean of the two middle values for an even count) while at
    /// most 2²² pixels were seen, otherwise from a 0.001° histogram (bin centre).
    pub fn median(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        if !self.exact_overflow {
            // recompute from the f64 errors is not possible (stored as f32); the f32 copy is
            // within 1e-5° of the f64 value
            let mut v = self.exact.clone();
            v.sort_by(f32::total_cmp);
            let m = v.len();
            return if m % 2 == 1 {
                v[m / 2] as f64
            } else {
                (v[m / 2 - 1] as f64 + v[m / 2] as f64) / 2.0
            };
        }
        let half = self.n.div_ceil(2);
        let mut acc = 0;
        for (i, &c) in self.hist.iter().enumerate() {
            acc += c;
            if acc >= half {
                return (i as f64 + 0.5) / BINS_PER_DEG as f64;
            }
        }
        180.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector() {
        // metrics.md §6.5: four pixels, one ignored
        let pred = [
            0.0, 1.0, 0.0, 0.3, /* x */ 0.0, 1.0, 1.0, 0.1, /* y */ 2.0, 0.0, 0.0, 0.9,
        ];
        let gt = [
            0.0, 1.0, 0.0, 255.0, 0.0, 0.0, 0.0, 255.0, 1.0, 0.0, 1.0, 255.0,
        ];
        let mut m = NormalsMeter::new();
        m.update(&pred, [1, 3, 1, 4], &gt);
        assert_eq!(m.n, 3);
        assert!((m.mean() - 45.0).abs() < 1e-4, "{}", m.mean());
        assert!((m.rmse() - 58.094750).abs() < 1e-4, "{}", m.rmse());
        assert!((m.median() - 45.0).abs() < 1e-4);
        for p in m.pct_below() {
            assert!((p - 33.333333).abs() < 1e-5);
        }
    }

    #[test]
    fn compensated_sum() {
        let mut s = Sum::default();
        s.add(1e16);
        s.add(1.0);
        s.add(-1e16);
        assert_eq!(s.value(), 1.0);
    }
}
