//! Δm: mean relative change against single-task baselines (metrics.md §7).

use std::collections::BTreeMap;

use mtlora_tasks::{Task, UnknownTask};

/// Single-task baselines by task, in percent (mIoU tasks) or degrees (normals).
#[derive(Debug, Clone, PartialEq)]
pub struct Baselines(BTreeMap<Task, f64>);

impl Default for Baselines {
    /// MTLoRA Table 1 single-task Swin-T: 67.21 / 61.93 / 62.35 / 17.97 ([`Task::paper_baseline`]).
    fn default() -> Self {
        Self(
            Task::ALL
                .into_iter()
                .filter_map(|t| Some((t, t.paper_baseline()?)))
                .collect(),
        )
    }
}

impl Baselines {
    /// From `task name → value` (a configuration's `delta_m_baselines`).
    pub fn from_names(named: &BTreeMap<String, f64>) -> Result<Self, UnknownTask> {
        named
            .iter()
            .map(|(k, &v)| Ok((Task::from_name(k)?, v)))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// As `task name → value` (for configurations and reports).
    pub fn to_names(&self) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .map(|(t, &v)| (t.name().to_string(), v))
            .collect()
    }

    /// The baseline of `task`.
    pub fn get(&self, task: Task) -> Option<f64> {
        self.0.get(&task).copied()
    }

    /// Set the baseline of `task`.
    pub fn set(&mut self, task: Task, value: f64) {
        self.0.insert(task, value);
    }
}

/// Δm in percent: `(100/T)·Σ_t (−1)^{l_t}·(M_t − B_t)/B_t` over the tasks of `scores` that have
/// a baseline (`l_t` = [`Task::lower_is_better`]). `scores` are in the baseline's units (mIoU in
/// percent, normals mean in degrees). `None` when no task has a baseline.
pub fn delta_m(scores: &BTreeMap<Task, f64>, baselines: &Baselines) -> Option<f64> {
    let mut terms = vec![];
    for (&task, &m) in scores {
        if let Some(b) = baselines.get(task) {
            let sign = if task.lower_is_better() { -1.0 } else { 1.0 };
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

    fn row(s: f64, p: f64, sal: f64, n: f64) -> BTreeMap<Task, f64> {
        Task::PASCAL.into_iter().zip([s, p, sal, n]).collect()
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

    #[test]
    fn baselines_by_name_reject_unknown_tasks() {
        let named: BTreeMap<String, f64> = [("semseg".to_string(), 50.0)].into();
        let b = Baselines::from_names(&named).unwrap();
        assert_eq!(b.get(Task::Semseg), Some(50.0));
        assert_eq!(b.get(Task::Sal), None);
        assert_eq!(b.to_names(), named);
        let bad: BTreeMap<String, f64> = [("segm".to_string(), 50.0)].into();
        assert!(Baselines::from_names(&bad).is_err());
    }
}
