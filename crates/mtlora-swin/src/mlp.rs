//! Block MLP with MTLoRA fc1/fc2.

use burn::module::Module;
use burn::tensor::Tensor;
use mtlora_lora::MtLoraLinear;

use crate::gelu_erf;

/// `fc2(GELU(fc1(u)))`; in a TS block the task streams reuse the frozen terms of the shared
/// stream and only their LoRA terms see the task inputs.
#[derive(Module, Debug)]
pub struct Mlp {
    /// C → hidden.
    pub fc1: MtLoraLinear,
    /// hidden → C.
    pub fc2: MtLoraLinear,
}

impl Mlp {
    /// # Shapes
    /// - `u`: `[B, L, C]` shared input (`LN2(y_sh)`); `task_inputs`: per task `[B, L, C]`
    ///   (`LN2(y_t)`), given exactly when fc1/fc2 have task branches
    /// - output: shared `[B, L, C]` and one `[B, L, C]` per task
    pub fn forward(
        &self,
        u: Tensor<3>,
        task_inputs: Option<Vec<Tensor<3>>>,
    ) -> (Tensor<3>, Vec<Tensor<3>>) {
        let [b, l, c] = u.dims();
        for t in task_inputs.iter().flatten() {
            burn::tensor::assert_shape!(t, [b, l, c]);
        }
        let h = self.fc1.forward(u, task_inputs);
        let h_sh = gelu_erf(h.shared);
        let h_t: Vec<_> = h.tasks.into_iter().map(gelu_erf).collect();
        let task_in = (!h_t.is_empty()).then_some(h_t);
        let g = self.fc2.forward(h_sh, task_in);
        (g.shared, g.tasks)
    }
}
