//! Evaluation metrics accumulated over a whole split (metrics.md), with the names of
//! metrics.md §8 (`semseg.miou`, `sal.miou_maxthr`, `normals.mean_angle_deg`, ...).

mod confusion;
mod delta_m;
mod normals;
mod saliency;

use std::collections::BTreeMap;

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

pub use confusion::ConfusionMeter;
pub use delta_m::{delta_m, lower_is_better, Baselines};
pub use normals::{decode_prediction, NormalsMeter, Sum};
pub use saliency::{beta_thresholds, mask_thresholds, probability, BetaCounts, SaliencyMeter};

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
    /// metrics here (edge, depth).
    pub fn for_task(task: &str, num_output: usize) -> Option<Self> {
        match task {
            "semseg" | "human_parts" => Some(Self::Segmentation(ConfusionMeter::new(num_output))),
            "sal" => Some(Self::Saliency(SaliencyMeter::new())),
            "normals" => Some(Self::Normals(NormalsMeter::new())),
            _ => None,
        }
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

    /// The per-task number Δm uses (mIoU in percent, normals mean in degrees).
    pub fn delta_m_inputs(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        for (task, key) in [
            ("semseg", "semseg.miou"),
            ("human_parts", "human_parts.miou"),
            ("sal", "sal.miou_maxthr"),
            ("normals", "normals.mean_angle_deg"),
        ] {
            if let Some(v) = self.get(key) {
                m.insert(task.to_string(), v);
            }
        }
        m
    }
}

/// Per-pixel class of `[B, K, H, W]` logits as `[B, H, W]`: the **first** channel holding the
/// maximum (the host meter's rule and PyTorch's), on any backend: `min{c : x_c = max_c x}`,
/// which does not depend on how a backend's `argmax` breaks ties. A pixel with a NaN logit may
/// get class 0 (NaN reaches the max); the host loop skips NaNs.
pub fn first_argmax(logits: Tensor<4>) -> Tensor<3, Int> {
    let [b, k, h, w] = logits.dims();
    let dev = logits.device();
    let max = logits.clone().max_dim(1).expand([b, k, h, w]);
    let channel = Tensor::<1, Int>::arange(0..k as i64, &dev)
        .reshape([1, k, 1, 1])
        .expand([b, k, h, w]);
    let first = channel
        .mask_fill(logits.equal(max).bool_not(), k as i64)
        .min_dim(1);
    first
        .clone()
        .mask_fill(first.equal_elem(k as i64), 0)
        .reshape([b, h, w])
}

/// All meters of an evaluation, in task order.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    /// `(task, meter)` in task order.
    pub meters: Vec<(String, TaskMeter)>,
    /// Δm baselines.
    pub baselines: Baselines,
}

impl Evaluator {
    /// Meters for `(task, num_output)` pairs (tasks without metrics are skipped).
    pub fn new(tasks: &[(String, usize)], baselines: Baselines) -> Self {
        Self {
            meters: tasks
                .iter()
                .filter_map(|(t, n)| TaskMeter::for_task(t, *n).map(|m| (t.clone(), m)))
                .collect(),
            baselines,
        }
    }

    /// Add one batch from device tensors: `outputs` and `targets` by task name. Segmentation
    /// logits are reduced to labels on the device ([`first_argmax`]) before reading back.
    pub fn update_tensors(&mut self, task: &str, output: Tensor<4>, target: Tensor<4>) {
        let Some((_, meter)) = self.meters.iter_mut().find(|(t, _)| t == task) else {
            return;
        };
        let dims = output.dims();
        let host = |t: Tensor<4>| -> Vec<f32> {
            t.into_data()
                .convert::<f32>()
                .try_to_vec()
                .expect("f32 tensor data")
        };
        match meter {
            TaskMeter::Segmentation(c) => {
                let [_, k, _, _] = dims;
                assert_eq!(
                    k,
                    c.classes(),
                    "confusion meter: {k} channels for {} classes",
                    c.classes()
                );
                let labels: Vec<usize> = first_argmax(output)
                    .into_data()
                    .convert::<i64>()
                    .try_to_vec::<i64>()
                    .expect("int labels")
                    .into_iter()
                    .map(|l| l as usize)
                    .collect();
                c.update_labels(&labels, &host(target));
            }
            m => m.update(&host(output), dims, &host(target)),
        }
    }

    /// Add one batch of host data for `task` (ignored if the task has no meter).
    pub fn update(&mut self, task: &str, logits: &[f32], dims: [usize; 4], gt: &[f32]) {
        if let Some((_, m)) = self.meters.iter_mut().find(|(t, _)| t == task) {
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

#[cfg(test)]
mod device_tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn first_argmax_breaks_ties_like_the_host_meter() {
        let dims = [2, 5, 3, 4];
        let n: usize = dims.iter().product();
        // few distinct values: many ties, including all-equal pixels
        let mut v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 3) as f32).collect();
        v[0] = f32::NAN;
        for c in 0..5 {
            v[c * 12 + 5] = 1.5; // pixel 5 of image 0: all channels tied
        }
        // the host meter's rule (`ConfusionMeter::update`)
        let want: Vec<i64> = confusion::labels(&v, dims)
            .into_iter()
            .map(|l| l as i64)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(v, dims), &Device::default());
        let got: Vec<i64> = first_argmax(x)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(got[5], 0, "all-tied pixel takes the first channel");
    }
}
