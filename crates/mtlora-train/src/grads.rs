//! Gradients by reference key.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use mtlora::NameContext;

struct Collect<'a> {
    grads: &'a GradientsParams,
    ctx: &'a NameContext,
    path: Vec<String>,
    out: BTreeMap<String, TensorData>,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out
                .insert(self.ctx.torch_key(&self.path), g.into_data());
        }
    }
}

/// Every gradient present in `grads`, keyed by reference name.
pub fn grads_by_key<M: Module>(
    module: &M,
    grads: &GradientsParams,
    ctx: &NameContext,
) -> BTreeMap<String, TensorData> {
    let mut c = Collect {
        grads,
        ctx,
        path: vec![],
        out: BTreeMap::new(),
    };
    module.visit(&mut c);
    c.out
}

struct Build<'a> {
    data: &'a BTreeMap<String, TensorData>,
    ctx: &'a NameContext,
    device: &'a Device,
    path: Vec<String>,
    out: GradientsParams,
}

impl ModuleVisitor for Build<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(d) = self.data.get(&self.ctx.torch_key(&self.path)) {
            self.out
                .register(param.id, Tensor::<D>::from_data(d.clone(), self.device));
        }
    }
}

/// Gradients for `module` from reference-keyed data (e.g. stored fixture gradients), on `device`
/// (a device without autodiff).
pub fn grads_from_keys<M: Module>(
    module: &M,
    data: &BTreeMap<String, TensorData>,
    ctx: &NameContext,
    device: &Device,
) -> GradientsParams {
    let mut b = Build {
        data,
        ctx,
        device,
        path: vec![],
        out: GradientsParams::new(),
    };
    module.visit(&mut b);
    b.out
}
