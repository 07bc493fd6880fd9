//! AdamW with PyTorch semantics and the reference parameter grouping
//! (`optimizer.py:set_weight_decay`): no weight decay for 1-D tensors and names ending in
//! `.bias`; decay for everything else (LoRA A/B and relative-position tables included, quirk Q7).

use std::collections::HashMap;

use burn::module::{Module, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use mtlora::{map_keyed, visit_keyed, Key, KeyedMapper, KeyedVisitor, MultiTaskSwin};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε (PyTorch default 1e-8).
    pub epsilon: f64,
    /// Decoupled weight decay of the decay group.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.05,
        }
    }
}

/// Whether a parameter is in the no-decay group.
pub fn is_no_decay(key: &str, rank: usize) -> bool {
    rank == 1 || key.ends_with(".bias")
}

#[derive(Debug, Clone)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
    step: i32,
}

/// AdamW over the parameters that received a gradient (frozen ones are skipped entirely:
/// no decay, no state), with per-parameter step counts.
#[derive(Debug, Default)]
pub struct AdamW {
    /// Hyper-parameters.
    pub config: AdamWConfig,
    state: HashMap<ParamId, Moments>,
    /// Decay group per parameter, decided from its reference key on its first step.
    no_decay: HashMap<ParamId, bool>,
}

struct StepMapper<'a> {
    opt: &'a mut AdamW,
    grads: &'a GradientsParams,
    lr: f64,
}

impl KeyedMapper for StepMapper<'_> {
    fn map<const D: usize>(&mut self, key: &Key<'_>, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return param;
        };
        let no_decay = *self
            .opt
            .no_decay
            .entry(param.id)
            .or_insert_with(|| is_no_decay(key, D));
        let c = self.opt.config;
        let wd = if no_decay { 0.0 } else { c.weight_decay };
        let lr = self.lr;
        let id = param.id;
        let state = self.opt.state.remove(&id);
        let mut new_state = None;
        let param = param.map(|t| {
            let autodiff = t.is_autodiff();
            let shape = t.dims();
            let x = t.inner();
            let n = x.shape().num_elements();
            let g: Tensor<1> = grad.inner().reshape([n]);
            let flat: Tensor<1> = x.reshape([n]);
            let s = state.unwrap_or_else(|| Moments {
                m: g.zeros_like(),
                v: g.zeros_like(),
                step: 0,
            });
            let step = s.step + 1;
            let m = s.m.mul_scalar(c.beta1) + g.clone().mul_scalar(1.0 - c.beta1);
            let v = s.v.mul_scalar(c.beta2) + g.square().mul_scalar(1.0 - c.beta2);
            let bc1 = 1.0 - c.beta1.powi(step);
            let bc2 = 1.0 - c.beta2.powi(step);
            let decayed = flat.mul_scalar(1.0 - lr * wd);
            let denom = v
                .clone()
                .sqrt()
                .div_scalar(bc2.sqrt())
                .add_scalar(c.epsilon);
            let updated = decayed - m.clone().div(denom).mul_scalar(lr / bc1);
            new_state = Some(Moments { m, v, step });
            let out = updated.reshape(shape);
            if autodiff {
                out.autodiff().require_grad()
            } else {
                out
            }
        });
        if let Some(s) = new_state {
            self.opt.state.insert(id, s);
        }
        param
    }
}

impl AdamW {
    /// New optimizer.
    pub fn new(config: AdamWConfig) -> Self {
        Self {
            config,
            state: HashMap::new(),
            no_decay: HashMap::new(),
        }
    }

    /// One step with learning rate `lr`; each parameter's decay group is decided from its
    /// reference key on its first step and kept by `ParamId`.
    pub fn step(
        &mut self,
        lr: f64,
        model: MultiTaskSwin,
        grads: &GradientsParams,
    ) -> MultiTaskSwin {
        let names = model.names().clone();
        let mut mapper = StepMapper {
            opt: self,
            grads,
            lr,
        };
        map_keyed(model, &names, "", &mut mapper)
    }

    /// Number of parameters with optimizer state.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether no parameter has state yet.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// Moments and step counts by reference key: `exp_avg.<key>`, `exp_avg_sq.<key>` (flat f32)
    /// and `step.<key>` (f32 `[1]`).
    pub fn export(&self, model: &MultiTaskSwin) -> mtlora::StateDict {
        struct V<'a> {
            opt: &'a AdamW,
            out: mtlora::StateDict,
        }
        impl KeyedVisitor for V<'_> {
            fn visit<const D: usize>(&mut self, key: &Key<'_>, param: &Param<Tensor<D>>) {
                if let Some(s) = self.opt.state.get(&param.id) {
                    self.out.insert(format!("exp_avg.{key}"), s.m.to_data());
                    self.out.insert(format!("exp_avg_sq.{key}"), s.v.to_data());
                    self.out.insert(
                        format!("step.{key}"),
                        TensorData::new(vec![s.step as f32], [1]),
                    );
                }
            }
        }
        let mut v = V {
            opt: self,
            out: Default::default(),
        };
        visit_keyed(model, model.names(), "", &mut v);
        v.out
    }

    /// Restore state written by [`AdamW::export`] for the parameters of `model` (on `device`,
    /// the device without autodiff). Returns the problems: keys of `data` that matched no
    /// parameter, moments of the wrong size, unreadable step counts.
    pub fn import(
        &mut self,
        model: &MultiTaskSwin,
        data: &mtlora::StateDict,
        device: &burn::tensor::Device,
    ) -> Vec<String> {
        struct V<'a> {
            opt: &'a mut AdamW,
            data: &'a mtlora::StateDict,
            device: &'a burn::tensor::Device,
            used: std::collections::BTreeSet<String>,
            bad: Vec<String>,
        }
        impl KeyedVisitor for V<'_> {
            fn visit<const D: usize>(&mut self, key: &Key<'_>, param: &Param<Tensor<D>>) {
                let n = param.val().shape().num_elements();
                let (m, v, s) = (
                    self.data.get(&format!("exp_avg.{key}")),
                    self.data.get(&format!("exp_avg_sq.{key}")),
                    self.data.get(&format!("step.{key}")),
                );
                let (Some(m), Some(v), Some(s)) = (m, v, s) else {
                    return;
                };
                for k in ["exp_avg", "exp_avg_sq", "step"] {
                    self.used.insert(format!("{k}.{key}"));
                }
                if m.num_elements() != n || v.num_elements() != n {
                    self.bad.push(format!(
                        "{key}: moments of {} values for a parameter of {n}",
                        m.num_elements()
                    ));
                    return;
                }
                let step = s
                    .clone()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .ok()
                    .filter(|v| v.len() == 1 && v[0].is_finite() && v[0] >= 0.0)
                    .map(|v| v[0]);
                let Some(step) = step else {
                    self.bad
                        .push(format!("step.{key}: not one finite non-negative count"));
                    return;
                };
                let flat = |d: &TensorData| {
                    Tensor::<1>::from_data(d.clone().convert::<f32>(), self.device).reshape([n])
                };
                self.opt.state.insert(
                    param.id,
                    Moments {
                        m: flat(m),
                        v: flat(v),
                        step: step as i32,
                    },
                );
            }
        }
        let mut v = V {
            opt: self,
            data,
            device,
            used: Default::default(),
            bad: vec![],
        };
        visit_keyed(model, model.names(), "", &mut v);
        let mut bad = v.bad;
        bad.extend(
            data.keys()
                .filter(|k| !v.used.contains(*k))
                .map(|k| format!("{k}: no such trainable parameter")),
        );
        bad
    }

    /// Step count of a parameter (0 if never updated).
    pub fn step_count(&self, id: &ParamId) -> i32 {
        self.state.get(id).map_or(0, |s| s.step)
    }
}

/// Global L2 norm of all gradients of `module`'s parameters: the L2 norm of the per-tensor L2
/// norms in f32, read back once (reference `clip_grad_norm_`).
pub fn global_grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    global_grad_norm_tensor(module, grads).map_or(0.0, |n| n.into_scalar::<f32>() as f64)
}

/// [`global_grad_norm`] left on the device (`[1]`; `None` without any gradient).
pub fn global_grad_norm_tensor<M: Module>(
    module: &M,
    grads: &GradientsParams,
) -> Option<Tensor<1>> {
    struct V<'a> {
        grads: &'a GradientsParams,
        norms: Vec<Tensor<1>>,
    }
    impl burn::module::ModuleVisitor for V<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.norms.push(g.square().sum().sqrt());
            }
        }
    }
    let mut v = V {
        grads,
        norms: vec![],
    };
    module.visit(&mut v);
    if v.norms.is_empty() {
        return None;
    }
    Some(Tensor::cat(v.norms, 0).square().sum().sqrt())
}

/// Multiply every gradient of `module`'s parameters by `f`.
pub fn scale_grads<M: Module>(module: &M, grads: GradientsParams, f: f64) -> GradientsParams {
    struct V {
        g: GradientsParams,
        f: f64,
    }
    impl burn::module::ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.g.remove::<D>(param.id) {
                self.g.register(param.id, g.mul_scalar(self.f));
            }
        }
    }
    let mut v = V { g: grads, f };
    module.visit(&mut v);
    v.g
}

/// Multiply every gradient by `min(1, max_norm/(norm + 1e-6))`; returns the gradients, the norm
/// and the coefficient.
pub fn clip_grad_norm<M: Module>(
    module: &M,
    grads: GradientsParams,
    max_norm: f64,
) -> (GradientsParams, f64, f64) {
    let norm = global_grad_norm(module, &grads);
    let (grads, coef) = clip_with_norm(module, grads, max_norm, norm);
    (grads, norm, coef)
}

/// [`clip_grad_norm`] with the global norm already read back; returns the gradients and the
/// coefficient.
pub fn clip_with_norm<M: Module>(
    module: &M,
    grads: GradientsParams,
    max_norm: f64,
    norm: f64,
) -> (GradientsParams, f64) {
    let coef = (max_norm / (norm + 1e-6)).min(1.0);
    if coef >= 1.0 {
        return (grads, coef);
    }
    (scale_grads(module, grads, coef), coef)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_norm_and_clipping_hand_values() {
        use burn::module::Module;
        use burn::tensor::{Device, TensorData};
        #[derive(Module, Debug)]
        struct Two {
            a: Param<Tensor<1>>,
            b: Param<Tensor<2>>,
        }
        let dev = Device::default();
        let m = Two {
            a: Param::from_data(TensorData::from([0.0f32, 0.0]), &dev),
            b: Param::from_data(TensorData::from([[0.0f32]]), &dev),
        };
        let mut g = GradientsParams::new();
        g.register(
            m.a.id,
            Tensor::<1>::from_data(TensorData::from([3.0f32, 0.0]), &dev),
        );
        g.register(
            m.b.id,
            Tensor::<2>::from_data(TensorData::from([[4.0f32]]), &dev),
        );
        assert!((global_grad_norm(&m, &g) - 5.0).abs() < 1e-6);
        let (g, norm, coef) = clip_grad_norm(&m, g, 1.0);
        assert!((norm - 5.0).abs() < 1e-6 && (coef - 1.0 / (5.0 + 1e-6)).abs() < 1e-9);
        let b: Vec<f32> = g
            .get::<2>(m.b.id)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!((b[0] - 0.8).abs() < 1e-5);
    }

    #[test]
    fn grouping_rule() {
        assert!(is_no_decay("backbone.layers.0.blocks.0.norm1.weight", 1));
        assert!(is_no_decay("decoders.decoders.sal.last_layer.0.bias", 1));
        assert!(!is_no_decay(
            "backbone.layers.0.blocks.0.attn.qkv.lora_shared_A",
            2
        ));
        assert!(!is_no_decay(
            "backbone.layers.0.blocks.0.attn.relative_position_bias_table",
            2
        ));
        assert!(!is_no_decay("downsampler.sal.downsample_0.weight", 4));
    }
}
