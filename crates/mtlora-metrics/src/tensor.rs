//! Burn-tensor inputs of the meters (feature `burn`): labels reduced on the device, then read
//! back once.

use burn::tensor::{Int, Tensor};

use crate::{Evaluator, Task, TaskMeter};

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

impl Evaluator {
    /// Add one batch from device tensors: `outputs` and `targets` by task name. Segmentation
    /// logits are reduced to labels on the device ([`first_argmax`]) before reading back.
    pub fn update_tensors(&mut self, task: Task, output: Tensor<4>, target: Tensor<4>) {
        let Some((_, meter)) = self.meters.iter_mut().find(|(t, _)| *t == task) else {
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
}
