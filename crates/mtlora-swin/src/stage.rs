//! One Swin stage (the reference's `BasicLayer`): blocks, then the shared patch merging.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::backbone::StageOutput;
use crate::block::SwinBlock;
use crate::patch_merging::PatchMerging;

/// Blocks of one stage and its optional patch merging (stages 0..n−2).
#[derive(Module, Debug)]
pub struct Stage {
    /// Blocks; the last one is the TS block when tasks exist.
    pub blocks: Vec<SwinBlock>,
    /// Patch merging, applied to the shared stream and to every task stream.
    pub downsample: Option<PatchMerging>,
}

impl Stage {
    /// Runs the stage; `trace` receives `(name, tensor)` of every block output
    /// (`block{stage}.{j}.shared`, `block{stage}.{j}.task.{t}` with `t` the task index).
    ///
    /// # Shapes
    /// - input `[B, H·W, C]` → shared and task streams `[B, H'·W', C']` after merging
    pub fn forward_traced(
        &self,
        x: Tensor<3>,
        stage: usize,
        mut trace: Option<&mut Vec<(String, Tensor<3>)>>,
    ) -> StageOutput {
        let mut x = x;
        let mut tasks = Vec::new();
        for (j, block) in self.blocks.iter().enumerate() {
            let out = block.forward(x);
            if let Some(tr) = trace.as_deref_mut() {
                tr.push((format!("block{stage}.{j}.shared"), out.shared.clone()));
                for (t, task) in out.tasks.iter().enumerate() {
                    tr.push((format!("block{stage}.{j}.task.{t}"), task.clone()));
                }
            }
            x = out.shared;
            if !out.tasks.is_empty() {
                tasks = out.tasks;
            }
        }
        match &self.downsample {
            Some(pm) => StageOutput {
                shared: pm.forward(x),
                tasks: tasks.into_iter().map(|t| pm.forward(t)).collect(),
            },
            None => StageOutput { shared: x, tasks },
        }
    }
}
