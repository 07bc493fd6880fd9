//! Gradients by reference key.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use mtlora::{visit_keyed, Key, KeyedVisitor, MultiTaskSwin};

struct Collect<'a> {
    grads: &'a GradientsParams,
    out: BTreeMap<String, TensorData>,
}

impl KeyedVisitor for Collect<'_> {
    fn visit<const D: usize>(&mut self, key: &Key<'_>, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out.insert(key.to_string(), g.into_data());
        }
    }
}

/// Every gradient present in `grads`, keyed by reference name.
pub fn grads_by_key(
    model: &MultiTaskSwin,
    grads: &GradientsParams,
) -> BTreeMap<String, TensorData> {
    let mut c = Collect {
        grads,
        out: BTreeMap::new(),
    };
    visit_keyed(model, model.names(), "", &mut c);
    c.out
}

struct Build<'a> {
    data: &'a BTreeMap<String, TensorData>,
    device: &'a Device,
    out: GradientsParams,
}

impl KeyedVisitor for Build<'_> {
    fn visit<const D: usize>(&mut self, key: &Key<'_>, param: &Param<Tensor<D>>) {
        if let Some(d) = self.data.get(key.as_str()) {
            self.out
                .register(param.id, Tensor::<D>::from_data(d.clone(), self.device));
        }
    }
}

/// Gradients for `model` from reference-keyed data (e.g. stored fixture gradients), on
/// `device` (a device without autodiff).
pub fn grads_from_keys(
    model: &MultiTaskSwin,
    data: &BTreeMap<String, TensorData>,
    device: &Device,
) -> GradientsParams {
    let mut b = Build {
        data,
        device,
        out: GradientsParams::new(),
    };
    visit_keyed(model, model.names(), "", &mut b);
    b.out
}
