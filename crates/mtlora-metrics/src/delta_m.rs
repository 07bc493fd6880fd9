//! Δm: mean relative change against single-task baselines (metrics.md §7).

use std::collections::BTreeMap;

/// Single-task baselines, in percent (mIoU tasks) or degrees (normals).
#[derive(Debug, Clone, PartialEq)]
pub struct Baselines(pub BTreeMap<String, f64>);

impl Default for Baselines {
    /// MTLoRA Table 1 single-task Swin-T: 67.21 / 61.93 / 62.35 / 17.97.
    fn default() -> Self {
        Self(
            [
                ("semseg", 67.21),
                ("human_parts", 61.93),
                ("sal", 62.35),
                ("normals", 17.97),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        )
    }
}

/// Whether lower is better for a task's Δm metric.
pub fn lower_is_better(task: &str) -> bool {
    matches!(task, "normals" | "depth")
}

/// Δm in percent: `(100/T)·Σ_t (−1)^{l_t}·(M_t − B_t)/B_t` over the tasks of `scores` that have
/// a baseline. `scores` are in the baseline's units (mIoU in percent, normals mean in degrees).
/// `None` when no task has a baseline.
pub fn delta_m(scores: &BTreeMap<String, f64>, baselines: &Baselines) -> Option<f64> {
    let mut terms = vec![];
    for (task, &m) in scores {
        if let Some(&b) = baselines.0.get(task) {
            let sign = if lower_is_better(task) { -1.0 } else { 1.0 };
            terms.push(sign * (m - b) / b);
        }
    }
    if terms.is_empty() {
        return None;
    }
    Some(100.0 * terms.iter().sum::<f64>() / terms.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: f64, p: f64, sal: f64, n: f64) -> BTreeMap<String, f64> {
        [
            ("semseg", s),
            ("human_parts", p),
            ("sal", sal),
            ("normals", n),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn table_vectors() {
        // metrics.md §7.1 (recomputed column, tolerance 1e-4)
        let b = Baselines::default();
        let cases = [
            (row(67.21, 61.93, 62.35, 17.97), 0.0),
            (row(68.19, 58.99, 64.48, 17.03), 1.3395),
            (row(67.90, 59.84, 65.40, 16.60), 2.5419),
            (row(67.56, 60.24, 65.21, 16.64), 2.4450),
            (row(72.02, 61.25, 66.11, 16.35), 5.2760),
        ];
        for (r, want) in cases {
            let got = delta_m(&r, &b).unwrap();
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        assert_eq!(delta_m(&BTreeMap::new(), &b), None);
    }
}
