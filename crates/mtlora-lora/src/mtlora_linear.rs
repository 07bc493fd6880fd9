#![allow(non_snake_case)]
//! The MTLoRA linear: frozen base + shared low-rank branch + per-task low-rank branches.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::linear::{linear_forward, BaseLinear, BaseLinearConfig};

/// How task outputs combine with the shared branch (reference `SHARED_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SharedMode {
    /// Paper setting: task output = base + task LoRA (no shared LoRA term).
    #[default]
    Matrix,
    /// Task output = base + shared LoRA + task LoRA.
    Matrixv2,
}

/// One task-specific branch.
#[derive(Config, Debug, PartialEq)]
pub struct TaskLoraConfig {
    /// Rank `r_t` (0 disables the branch's parameters but still emits a base-only stream).
    pub rank: usize,
    /// Multiplier `s_t`, used directly (no α/r).
    pub scale: f64,
}

/// Configuration of an [`MtLoraLinear`].
#[derive(Config, Debug)]
pub struct MtLoraLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Base layer has a bias.
    #[config(default = true)]
    pub bias: bool,
    /// Shared (task-agnostic) rank `r`; 0 makes the layer a plain linear without task branches.
    pub shared_rank: usize,
    /// Shared multiplier `s_sh`, used directly (no α/r).
    #[config(default = 4.0)]
    pub shared_scale: f64,
    /// LoRA dropout probability on the LoRA-branch input (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Task branches in task order (empty for layers without TS-LoRA).
    #[config(default = "Vec::new()")]
    pub tasks: Vec<TaskLoraConfig>,
    /// Shared mode.
    #[config(default = "SharedMode::Matrix")]
    pub shared_mode: SharedMode,
}

/// Frozen base linear + TA-LoRA + TS-LoRA branches (reference `models/lora.py:MTLoRALinear`).
///
/// Field names follow the reference state-dict keys (`linear.weight`, `lora_shared_A`, ...).
/// They are private: whether the shared branch is folded into the base weights (`merged`)
/// decides what `forward` adds, so only [`MtLoraLinear::merge_shared`]-style methods change it.
#[derive(Module, Debug)]
#[allow(non_snake_case)]
pub struct MtLoraLinear {
    /// The frozen base layer.
    linear: BaseLinear,
    /// `[r, in]`, Kaiming-uniform at init.
    lora_shared_A: Option<Param<Tensor<2>>>,
    /// `[out, r]`, zero at init.
    lora_shared_B: Option<Param<Tensor<2>>>,
    /// Per task `[r_t, in]`.
    lora_tasks_A: Vec<Param<Tensor<2>>>,
    /// Per task `[out, r_t]`.
    lora_tasks_B: Vec<Param<Tensor<2>>>,
    /// LoRA dropout (LoRA input only).
    lora_dropout: Dropout,
    /// `s_sh`.
    shared_scale: f64,
    /// `s_t` per task.
    #[module(skip)]
    task_scales: Vec<f64>,
    /// Number of task streams emitted.
    num_tasks: usize,
    /// Whether the shared branch has been folded into `linear`.
    merged: bool,
    /// Shared mode.
    #[module(skip)]
    shared_mode: SharedMode,
}

/// Output of [`MtLoraLinear::forward`].
#[derive(Debug, Clone)]
pub struct MtLoraOutput<const D: usize> {
    /// `base(x) + s_sh·L_sh(drop(x))`.
    pub shared: Tensor<D>,
    /// One per task: `base(x) + s_t·L_t(u_t)` (empty when the layer has no task branches).
    pub tasks: Vec<Tensor<D>>,
}

fn kaiming_a(rank: usize, d_in: usize, device: &Device) -> Param<Tensor<2>> {
    // kaiming_uniform_(a=√5) on [rank, in] => U(-1/√in, 1/√in)
    let bound = 1.0 / (d_in as f64).sqrt();
    Param::from_tensor(mtlora_kernels::init::uniform(
        [rank, d_in],
        -bound,
        bound,
        device,
    ))
}

impl MtLoraLinearConfig {
    /// Same settings with other input/output widths.
    pub fn with_dims(mut self, d_input: usize, d_output: usize) -> Self {
        self.d_input = d_input;
        self.d_output = d_output;
        self
    }

    /// Build the layer: base init like PyTorch, `A` Kaiming-uniform, `B` zero.
    pub fn init(&self, device: &Device) -> MtLoraLinear {
        let linear = BaseLinearConfig::new(self.d_input, self.d_output)
            .with_bias(self.bias)
            .init(device);
        let enabled = self.shared_rank > 0;
        let (lora_shared_A, lora_shared_B) = if enabled {
            (
                Some(kaiming_a(self.shared_rank, self.d_input, device)),
                Some(Param::from_tensor(Tensor::zeros(
                    [self.d_output, self.shared_rank],
                    device,
                ))),
            )
        } else {
            (None, None)
        };
        let tasks: &[TaskLoraConfig] = if enabled { &self.tasks } else { &[] };
        let lora_tasks_A = tasks
            .iter()
            .map(|t| kaiming_a(t.rank, self.d_input, device))
            .collect();
        let lora_tasks_B = tasks
            .iter()
            .map(|t| Param::from_tensor(Tensor::zeros([self.d_output, t.rank], device)))
            .collect();
        MtLoraLinear {
            linear,
            lora_shared_A,
            lora_shared_B,
            lora_tasks_A,
            lora_tasks_B,
            lora_dropout: DropoutConfig::new(self.dropout).init(),
            shared_scale: self.shared_scale,
            task_scales: tasks.iter().map(|t| t.scale).collect(),
            num_tasks: tasks.len(),
            merged: false,
            shared_mode: self.shared_mode,
        }
    }
}

fn low_rank<const D: usize>(u: Tensor<D>, a: Tensor<2>, b: Tensor<2>, scale: f64) -> Tensor<D> {
    // the scale goes on the small `[out, r]` matrix: one pass less over the `[..., out]` result
    linear_forward(linear_forward(u, a, None), b.mul_scalar(scale), None)
}

/// `base + s·(u·Aᵀ)·Bᵀ`, accumulated onto `base` in one pass where fused.
fn add_low_rank<const D: usize>(
    base: Tensor<D>,
    u: Tensor<D>,
    a: Tensor<2>,
    b: Tensor<2>,
    scale: f64,
) -> Tensor<D> {
    mtlora_kernels::add_low_rank(base, linear_forward(u, a, None), b, scale)
}

impl MtLoraLinear {
    /// LoRA dropout with burn-nn `Dropout`'s rules (training flag, autodiff device, `p > 0`),
    /// through the fused kernel on the CPU backend (mask recomputed in the backward).
    fn dropout<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if !self.lora_dropout.training.is_enabled() {
            return x;
        }
        mtlora_kernels::dropout(x, self.lora_dropout.prob)
    }

    /// The frozen base layer.
    pub fn base(&self) -> &BaseLinear {
        &self.linear
    }

    /// The frozen base layer, to replace its weights (e.g. in tests or weight surgery).
    pub fn base_mut(&mut self) -> &mut BaseLinear {
        &mut self.linear
    }

    /// Number of task streams the layer emits.
    pub fn num_tasks(&self) -> usize {
        self.num_tasks
    }

    /// Whether the shared branch has been folded into the base weights.
    pub fn is_merged(&self) -> bool {
        self.merged
    }

    /// Whether a shared (TA) branch exists and is not merged.
    pub fn has_shared_branch(&self) -> bool {
        self.lora_shared_A.is_some() && !self.merged
    }

    /// Shared low-rank term `s_sh·(u·Aᵀ)·Bᵀ`, if any.
    fn shared_term<const D: usize>(&self, u: Tensor<D>) -> Option<Tensor<D>> {
        if self.merged {
            return None;
        }
        match (&self.lora_shared_A, &self.lora_shared_B) {
            (Some(a), Some(b)) => Some(low_rank(u, a.val(), b.val(), self.shared_scale)),
            _ => None,
        }
    }

    /// Forward pass.
    ///
    /// `task_inputs`, when given, holds one input per task for the task branches (the reference's
    /// `x_tasks`, used by fc1/fc2 of a TS block; they get **no** LoRA dropout). Without it, every
    /// task branch reuses the shared branch's dropped input (proj in a TS block).
    ///
    /// # Shapes
    /// - `x`: `[..., d_input]`; each task input: same shape as `x`
    /// - output: shared `[..., d_output]`, one task tensor of the same shape per task
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        task_inputs: Option<Vec<Tensor<D>>>,
    ) -> MtLoraOutput<D> {
        if let Some(ti) = &task_inputs {
            assert_eq!(
                ti.len(),
                self.num_tasks,
                "MtLoraLinear: {} task inputs for {} task branches",
                ti.len(),
                self.num_tasks
            );
        }
        let base = self.linear.forward(x.clone());
        let needs_dropped =
            self.has_shared_branch() || (self.num_tasks > 0 && task_inputs.is_none());
        let dropped = needs_dropped.then(|| self.dropout(x));
        // the shared term alone is needed only when task outputs add it (Matrixv2)
        let v2 = self.shared_mode == SharedMode::Matrixv2 && self.num_tasks > 0;
        let shared_term = if v2 {
            dropped.clone().and_then(|d| self.shared_term(d))
        } else {
            None
        };
        let shared = match (&shared_term, &self.lora_shared_A, &self.lora_shared_B) {
            (Some(t), _, _) => base.clone() + t.clone(),
            (None, Some(a), Some(b)) if !self.merged => add_low_rank(
                base.clone(),
                dropped.clone().expect("dropped input computed"),
                a.val(),
                b.val(),
                self.shared_scale,
            ),
            _ => base.clone(),
        };
        let mut tasks = Vec::with_capacity(self.num_tasks);
        let mut task_inputs = task_inputs.map(|v| v.into_iter());
        for t in 0..self.num_tasks {
            let u = match task_inputs.as_mut() {
                Some(it) => it.next().expect("checked length"),
                None => dropped.clone().expect("dropped input computed"),
            };
            let mut out = add_low_rank(
                base.clone(),
                u,
                self.lora_tasks_A[t].val(),
                self.lora_tasks_B[t].val(),
                self.task_scales[t],
            );
            if let Some(s) = &shared_term {
                out = out + s.clone();
            }
            tasks.push(out);
        }
        MtLoraOutput { shared, tasks }
    }

    /// Whether [`Self::merge_shared`] can fold the shared branch into the base weight without
    /// changing any output: true when there is a shared branch and no task branch (task outputs
    /// in `matrix` mode must not contain the shared term).
    pub fn can_merge(&self) -> bool {
        self.has_shared_branch() && self.num_tasks == 0
    }

    /// Fold `s_sh·B·A` into the base weight for inference (eval mode only: LoRA dropout is lost).
    /// Layers with task branches are returned unchanged (see [`Self::can_merge`]).
    pub fn merge_shared(mut self) -> Self {
        if !self.can_merge() {
            return self;
        }
        let a = self.lora_shared_A.as_ref().expect("shared A").val();
        let b = self.lora_shared_B.as_ref().expect("shared B").val();
        let delta = b.matmul(a).mul_scalar(self.shared_scale);
        let w = self.linear.weight.val().detach() + delta.detach();
        self.linear.weight = Param::from_tensor(w).set_require_grad(false);
        self.merged = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    fn device() -> Device {
        Device::default()
    }

    fn randomize_b(mut layer: MtLoraLinear) -> MtLoraLinear {
        let dev = device();
        if let Some(b) = layer.lora_shared_B.take() {
            let shape = b.shape();
            layer.lora_shared_B = Some(Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, 0.1),
                &dev,
            )));
        }
        layer.lora_tasks_B = layer
            .lora_tasks_B
            .into_iter()
            .map(|b| {
                Param::from_tensor(Tensor::random(
                    b.shape(),
                    Distribution::Normal(0.0, 0.1),
                    &dev,
                ))
            })
            .collect();
        layer
    }

    #[test]
    fn zero_delta_at_init() {
        let dev = device();
        let layer = MtLoraLinearConfig::new(6, 5, 3)
            .with_tasks(vec![
                TaskLoraConfig::new(2, 4.0),
                TaskLoraConfig::new(1, 2.0),
            ])
            .init(&dev);
        let x = Tensor::<3>::random([2, 4, 6], Distribution::Normal(0.0, 1.0), &dev);
        let base = layer.linear.forward(x.clone()).into_data();
        let out = layer.forward(x, None);
        out.shared.into_data().assert_eq(&base, true);
        assert_eq!(out.tasks.len(), 2);
        for t in out.tasks {
            t.into_data().assert_eq(&base, true);
        }
    }

    /// A 2→2 layer with hand-set weights: base `[[1, 0], [0, 2]]` + `[0.5, −0.5]`, shared
    /// `s=4, A=[1, 1], B=[1, −1]`, one task `s=0.5, A=[2, 0], B=[0, 1]`.
    fn hand_layer(dev: &Device, mode: SharedMode) -> MtLoraLinear {
        let mut layer = MtLoraLinearConfig::new(2, 2, 1)
            .with_shared_scale(4.0)
            .with_tasks(vec![TaskLoraConfig::new(1, 0.5)])
            .with_shared_mode(mode)
            .init(dev);
        layer.linear.weight = Param::from_data(TensorData::from([[1.0f32, 0.0], [0.0, 2.0]]), dev);
        layer.linear.bias = Some(Param::from_data(TensorData::from([0.5f32, -0.5]), dev));
        layer.lora_shared_A = Some(Param::from_data(TensorData::from([[1.0f32, 1.0]]), dev));
        layer.lora_shared_B = Some(Param::from_data(TensorData::from([[1.0f32], [-1.0]]), dev));
        layer.lora_tasks_A = vec![Param::from_data(TensorData::from([[2.0f32, 0.0]]), dev)];
        layer.lora_tasks_B = vec![Param::from_data(TensorData::from([[0.0f32], [1.0]]), dev)];
        layer
    }

    #[test]
    fn matrixv2_task_outputs_add_the_shared_term() {
        let dev = device();
        let layer = hand_layer(&dev, SharedMode::Matrixv2);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &dev);
        // shared as in `matrix`: [13.5, -8.5]; task = base [1.5, 3.5] + shared term [12, -12]
        // + task term [0, 1] = [13.5, -7.5]
        let out = layer.forward(x.clone(), None);
        out.shared
            .into_data()
            .assert_eq(&TensorData::from([[13.5f32, -8.5]]), true);
        out.tasks[0]
            .clone()
            .into_data()
            .assert_eq(&TensorData::from([[13.5f32, -7.5]]), true);
        // an explicit task input changes only the task term (A_t·[0, 3] = 0); the shared term
        // still comes from x
        let u = Tensor::<2>::from_data(TensorData::from([[0.0f32, 3.0]]), &dev);
        let out = layer.forward(x, Some(vec![u]));
        out.tasks[0]
            .clone()
            .into_data()
            .assert_eq(&TensorData::from([[13.5f32, -8.5]]), true);
    }

    #[test]
    fn hand_computed_shared_and_task_terms() {
        let dev = device();
        let layer = hand_layer(&dev, SharedMode::Matrix);
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &dev);
        // base = [1.5, 3.5]; shared: A·x = 3, 4·3·[1,-1] = [12,-12] → [13.5, -8.5]
        // task (same dropped input): A_t·x = 2, 0.5·2·[0,1] = [0,1] → [1.5, 4.5]
        let out = layer.forward(x.clone(), None);
        out.shared
            .into_data()
            .assert_eq(&TensorData::from([[13.5f32, -8.5]]), true);
        out.tasks[0]
            .clone()
            .into_data()
            .assert_eq(&TensorData::from([[1.5f32, 4.5]]), true);
        // explicit task input u = [0, 3]: A_t·u = 0 → base only
        let u = Tensor::<2>::from_data(TensorData::from([[0.0f32, 3.0]]), &dev);
        let out = layer.forward(x, Some(vec![u]));
        out.tasks[0]
            .clone()
            .into_data()
            .assert_eq(&TensorData::from([[1.5f32, 3.5]]), true);
    }

    #[test]
    fn merged_equals_unmerged() {
        let dev = device();
        let layer = randomize_b(MtLoraLinearConfig::new(8, 6, 4).init(&dev));
        let x = Tensor::<3>::random([2, 3, 8], Distribution::Normal(0.0, 1.0), &dev);
        let unmerged = layer.forward(x.clone(), None).shared.into_data();
        assert!(layer.can_merge());
        let merged = layer.merge_shared();
        assert!(merged.merged && !merged.has_shared_branch());
        let out = merged.forward(x, None).shared.into_data();
        out.assert_approx_eq::<f32>(&unmerged, Tolerance::absolute(1e-5));
    }

    #[test]
    fn layers_with_task_branches_are_not_merged() {
        let dev = device();
        let layer = randomize_b(
            MtLoraLinearConfig::new(4, 4, 2)
                .with_tasks(vec![TaskLoraConfig::new(2, 4.0)])
                .init(&dev),
        );
        assert!(!layer.can_merge());
        let x = Tensor::<2>::random([3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let before = layer.forward(x.clone(), None);
        let after = layer.merge_shared().forward(x, None);
        after
            .shared
            .into_data()
            .assert_eq(&before.shared.into_data(), true);
        after.tasks[0]
            .clone()
            .into_data()
            .assert_eq(&before.tasks[0].clone().into_data(), true);
    }

    #[test]
    fn rank_zero_is_plain_linear() {
        let dev = device();
        let layer = MtLoraLinearConfig::new(4, 3, 0)
            .with_tasks(vec![TaskLoraConfig::new(2, 4.0)])
            .init(&dev);
        assert!(layer.lora_shared_A.is_none());
        assert_eq!(layer.num_tasks, 0);
        assert_eq!(layer.num_params(), 4 * 3 + 3);
    }

    #[test]
    fn parameter_shapes_follow_reference_layout() {
        let dev = device();
        let layer = MtLoraLinearConfig::new(6, 18, 4)
            .with_tasks(vec![TaskLoraConfig::new(2, 4.0)])
            .init(&dev);
        assert_eq!(layer.linear.weight.shape().dims::<2>(), [18, 6]);
        assert_eq!(
            layer.lora_shared_A.as_ref().unwrap().shape().dims::<2>(),
            [4, 6]
        );
        assert_eq!(
            layer.lora_shared_B.as_ref().unwrap().shape().dims::<2>(),
            [18, 4]
        );
        assert_eq!(layer.lora_tasks_A[0].shape().dims::<2>(), [2, 6]);
        assert_eq!(layer.lora_tasks_B[0].shape().dims::<2>(), [18, 2]);
        // A is U(-1/√in, 1/√in)
        let a: Vec<f32> = layer
            .lora_shared_A
            .unwrap()
            .val()
            .into_data()
            .try_to_vec()
            .unwrap();
        let bound = 1.0 / 6f32.sqrt();
        assert!(a.iter().all(|v| v.abs() <= bound));
    }
}
