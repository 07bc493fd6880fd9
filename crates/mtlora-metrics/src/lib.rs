//! Evaluation metrics of MTLoRA accumulated over a whole split (metrics.md), with the names of
//! metrics.md §8 (`semseg.miou`, `sal.miou_maxthr`, `normals.mean_angle_deg`, ...): confusion
//! matrix / mIoU, saliency (mIoU at the best threshold, max F), surface-normal angle errors
//! and Δm.
//!
//! Host data only by default (no burn). The `burn` feature adds device-side label reduction
//! ([`first_argmax`]) and [`Evaluator::update_tensors`] for burn tensors.

mod confusion;
mod delta_m;
mod normals;
mod saliency;
#[cfg(feature = "burn")]
mod tensor;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use confusion::{labels as first_max_labels, ConfusionMeter};
pub use delta_m::{delta_m, Baselines};
pub use mtlora_tasks::{MetricKind, Task};
pub use normals::{decode_prediction, NormalsMeter, Sum};
pub use saliency::{beta_thresholds, mask_thresholds, probability, BetaCounts, SaliencyMeter};
#[cfg(feature = "burn")]
pub use tensor::first_argmax;

/// The meter of one task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskMeter {
    /// semseg / human_parts.
    Segmentation(ConfusionMeter),
    /// sal.
    Saliency(SaliencyMeter),
    /// normals.
    Normals(NormalsMeter),
}

impl TaskMeter {
    /// Meter for a task (`num_output` classes for segmentation); `None` for tasks without
    /// metrics here ([`Task::metric`]: edge, depth).
    pub fn for_task(task: Task, num_output: usize) -> Option<Self> {
        Some(match task.metric()? {
            MetricKind::Segmentation => Self::Segmentation(ConfusionMeter::new(num_output)),
            MetricKind::Saliency => Self::Saliency(SaliencyMeter::new()),
            MetricKind::Normals => Self::Normals(NormalsMeter::new()),
        })
    }

    /// Add one batch: raw head outputs and targets, both `[B, C, H, W]` (flattened).
    pub fn update(&mut self, logits: &[f32], dims: [usize; 4], gt: &[f32]) {
        match self {
            Self::Segmentation(m) => m.update(logits, dims, gt),
            Self::Saliency(m) => m.update(logits, dims, gt),
            Self::Normals(m) => m.update(logits, dims, gt),
        }
    }
}

/// Scores of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Named scalars (metrics.md §8 names; mIoU-type values in percent).
    pub values: BTreeMap<String, f64>,
    /// Per-class IoU (percent) of segmentation tasks, by `<task>.iou_per_class`.
    pub per_class: BTreeMap<String, Vec<f64>>,
}

impl Scores {
    /// A named value.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }

    /// The per-task number Δm uses ([`Task::delta_m_key`]: mIoU in percent, normals mean in
    /// degrees).
    pub fn delta_m_inputs(&self) -> BTreeMap<Task, f64> {
        Task::ALL
            .into_iter()
            .filter_map(|t| Some((t, self.get(t.delta_m_key()?)?)))
            .collect()
    }
}

/// All meters of an evaluation, in task order.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    /// `(task, meter)` in task order.
    pub meters: Vec<(Task, TaskMeter)>,
    /// Δm baselines.
    pub baselines: Baselines,
}

impl Evaluator {
    /// Meters for `(task, num_output)` pairs (tasks without metrics are skipped).
    pub fn new(tasks: &[(Task, usize)], baselines: Baselines) -> Self {
        Self {
            meters: tasks
                .iter()
                .filter_map(|&(t, n)| TaskMeter::for_task(t, n).map(|m| (t, m)))
                .collect(),
            baselines,
        }
    }

    /// Add one batch of host data for `task` (ignored if the task has no meter).
    pub fn update(&mut self, task: Task, logits: &[f32], dims: [usize; 4], gt: &[f32]) {
        if let Some((_, m)) = self.meters.iter_mut().find(|(t, _)| *t == task) {
            m.update(logits, dims, gt);
        }
    }

    /// Final scores and Δm (`delta_m`, percent, when at least one task has a baseline).
    pub fn scores(&self) -> Scores {
        let mut s = Scores::default();
        for (task, m) in &self.meters {
            match m {
                TaskMeter::Segmentation(c) => {
                    s.values.insert(format!("{task}.miou"), 100.0 * c.miou());
                    s.per_class.insert(
                        format!("{task}.iou_per_class"),
                        c.iou().iter().map(|v| 100.0 * v).collect(),
                    );
                }
                TaskMeter::Saliency(m) => {
                    s.values
                        .insert("sal.miou_maxthr".into(), 100.0 * m.miou_maxthr());
                    s.values.insert("sal.maxf".into(), 100.0 * m.maxf());
                    s.values
                        .insert("sal.maxf_beta".into(), 100.0 * m.beta.max_f());
                    s.values.insert(
                        "sal.maxf_beta_invpt_compat".into(),
                        100.0 * m.beta_invpt.max_f(),
                    );
                }
                TaskMeter::Normals(m) => {
                    let pct = m.pct_below();
                    for (k, v) in [
                        ("normals.mean_angle_deg", m.mean()),
                        ("normals.rmse_angle_deg", m.rmse()),
                        ("normals.median_angle_deg", m.median()),
                        ("normals.pct_lt_11_25", pct[0]),
                        ("normals.pct_lt_22_5", pct[1]),
                        ("normals.pct_lt_30", pct[2]),
                    ] {
                        s.values.insert(k.into(), v);
                    }
                }
            }
        }
        if let Some(d) = delta_m(&s.delta_m_inputs(), &self.baselines) {
            s.values.insert("delta_m".into(), d);
        }
        s
    }
}
