//! The task vocabulary of MTLoRA: one [`Task`] type that knows, for each dense-prediction task,
//! its reference name, label channels, ignore value, loss and default loss weight (training.md
//! §3), evaluation metric, the score Δm uses with its direction, and the single-task baseline
//! of MTLoRA Table 1 (metrics.md §7). Adding a task edits this file.
//!
//! Strings exist only at the configuration / CLI boundary ([`Task::from_name`]).

use std::fmt;
use std::str::FromStr;

/// Value of ignored label pixels, in every task's label maps.
pub const IGNORE: f32 = 255.0;

/// A dense-prediction task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// Semantic segmentation (PASCAL-Context: 21 classes).
    Semseg,
    /// Human-part segmentation (7 classes: background + 6 parts).
    HumanParts,
    /// Binary saliency.
    Sal,
    /// Surface normals (3 channels, unit vectors).
    Normals,
    /// Edge detection (in the reference code, not in the paper).
    Edge,
    /// Depth (NYUD-v2).
    Depth,
}

/// The loss a task trains with (training.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Cross-entropy, ignore 255, mean over the non-ignored pixels of the batch.
    CrossEntropy,
    /// Class-balanced BCE with logits.
    BalancedBce,
    /// L1 on L2-normalized predictions over valid pixels.
    NormalsL1,
    /// Balanced BCE with the fixed positive weight 0.95.
    EdgeBce,
}

/// How a task is evaluated (metrics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Confusion matrix → per-class IoU → mIoU.
    Segmentation,
    /// Thresholded saliency: mIoU at the best threshold, max F.
    Saliency,
    /// Angle errors of the normalized prediction, in degrees.
    Normals,
}

/// A task name that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task {name:?} (expected one of semseg, human_parts, sal, normals, edge, depth)")]
pub struct UnknownTask {
    /// The name given.
    pub name: String,
}

impl Task {
    /// Every task of the vocabulary.
    pub const ALL: [Task; 6] = [
        Task::Semseg,
        Task::HumanParts,
        Task::Sal,
        Task::Normals,
        Task::Edge,
        Task::Depth,
    ];

    /// The four PASCAL-Context tasks of the paper, in the reference order.
    pub const PASCAL: [Task; 4] = [Task::Semseg, Task::HumanParts, Task::Sal, Task::Normals];

    /// Reference name (configs, checkpoints, fixtures, file names).
    pub fn name(self) -> &'static str {
        match self {
            Task::Semseg => "semseg",
            Task::HumanParts => "human_parts",
            Task::Sal => "sal",
            Task::Normals => "normals",
            Task::Edge => "edge",
            Task::Depth => "depth",
        }
    }

    /// Parse a reference name.
    pub fn from_name(name: &str) -> Result<Self, UnknownTask> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| UnknownTask {
                name: name.to_string(),
            })
    }

    /// Channels of the label tensor.
    pub fn label_channels(self) -> usize {
        match self {
            Task::Normals => 3,
            _ => 1,
        }
    }

    /// Value of ignored label pixels.
    pub fn ignore_value(self) -> f32 {
        IGNORE
    }

    /// The loss the task trains with; `None` where none is implemented yet (depth).
    pub fn loss(self) -> Option<LossKind> {
        match self {
            Task::Semseg | Task::HumanParts => Some(LossKind::CrossEntropy),
            Task::Sal => Some(LossKind::BalancedBce),
            Task::Normals => Some(LossKind::NormalsL1),
            Task::Edge => Some(LossKind::EdgeBce),
            Task::Depth => None,
        }
    }

    /// Default loss weight of the reference configuration (training.md §3).
    pub fn default_loss_weight(self) -> f64 {
        match self {
            Task::Semseg | Task::Depth => 1.0,
            Task::HumanParts => 2.0,
            Task::Sal => 5.0,
            Task::Normals => 10.0,
            Task::Edge => 50.0,
        }
    }

    /// How the task is evaluated; `None` for tasks without a meter yet (edge, depth).
    pub fn metric(self) -> Option<MetricKind> {
        match self {
            Task::Semseg | Task::HumanParts => Some(MetricKind::Segmentation),
            Task::Sal => Some(MetricKind::Saliency),
            Task::Normals => Some(MetricKind::Normals),
            Task::Edge | Task::Depth => None,
        }
    }

    /// The score Δm uses (metrics.md §8 name), if the task has one.
    pub fn delta_m_key(self) -> Option<&'static str> {
        match self {
            Task::Semseg => Some("semseg.miou"),
            Task::HumanParts => Some("human_parts.miou"),
            Task::Sal => Some("sal.miou_maxthr"),
            Task::Normals => Some("normals.mean_angle_deg"),
            Task::Edge | Task::Depth => None,
        }
    }

    /// Whether a lower score is better for Δm (angle and depth errors).
    pub fn lower_is_better(self) -> bool {
        matches!(self, Task::Normals | Task::Depth)
    }

    /// Single-task full fine-tuning baseline of MTLoRA Table 1 (Swin-T; percent or degrees).
    pub fn paper_baseline(self) -> Option<f64> {
        match self {
            Task::Semseg => Some(67.21),
            Task::HumanParts => Some(61.93),
            Task::Sal => Some(62.35),
            Task::Normals => Some(17.97),
            Task::Edge | Task::Depth => None,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = UnknownTask;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::from_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for t in Task::ALL {
            assert_eq!(Task::from_name(t.name()), Ok(t));
            assert_eq!(t.to_string().parse::<Task>(), Ok(t));
        }
        let e = Task::from_name("segmentation").unwrap_err();
        assert!(e.to_string().contains("\"segmentation\""));
    }

    #[test]
    fn the_paper_tasks_have_a_loss_a_metric_and_a_baseline() {
        // spec: training.md §3 weights 1 / 2 / 5 / 10; metrics.md §7 baselines
        let want = [
            (Task::Semseg, 1.0, 67.21, "semseg.miou", false),
            (Task::HumanParts, 2.0, 61.93, "human_parts.miou", false),
            (Task::Sal, 5.0, 62.35, "sal.miou_maxthr", false),
            (Task::Normals, 10.0, 17.97, "normals.mean_angle_deg", true),
        ];
        for (t, w, b, key, lower) in want {
            assert!(t.loss().is_some() && t.metric().is_some(), "{t}");
            assert_eq!(t.default_loss_weight(), w, "{t}");
            assert_eq!(t.paper_baseline(), Some(b), "{t}");
            assert_eq!(t.delta_m_key(), Some(key), "{t}");
            assert_eq!(t.lower_is_better(), lower, "{t}");
        }
        assert_eq!(Task::PASCAL.map(|t| t.label_channels()), [1, 1, 1, 3]);
    }
}
