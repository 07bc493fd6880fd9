//! Loading and exporting module weights by reference key names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::module::{Module, Param, ParamId};
use burn::tensor::{Tensor, TensorData};

use crate::error::ModelError;
use crate::keyed::{map_keyed, visit_keyed, Key, KeyedMapper, KeyedVisitor};
use crate::model::MultiTaskSwin;
use crate::naming::{is_buffer_key, is_recomputed_buffer, NameContext};
use crate::state_dict::StateDict;

/// What a load did, key by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Keys loaded into the model.
    pub applied: Vec<String>,
    /// Model keys absent from the file.
    pub missing: Vec<String>,
    /// File keys the model does not have.
    pub unexpected: Vec<String>,
    /// `(key, model shape, file shape)`.
    pub mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Recomputed buffers present in the file (`relative_position_index`, `attn_mask`), skipped.
    pub recomputed: Vec<String>,
}

impl LoadReport {
    /// A readable summary of missing / unexpected / mis-shaped keys.
    pub fn problems(&self) -> String {
        let mut s = String::new();
        let list = |s: &mut String, title: &str, v: &[String]| {
            if !v.is_empty() {
                s.push_str(&format!("{title} ({}):\n", v.len()));
                for k in v {
                    s.push_str(&format!("  {k}\n"));
                }
            }
        };
        list(&mut s, "missing keys", &self.missing);
        list(&mut s, "unexpected keys", &self.unexpected);
        if !self.mismatched.is_empty() {
            s.push_str(&format!("shape mismatches ({}):\n", self.mismatched.len()));
            for (k, m, f) in &self.mismatched {
                s.push_str(&format!("  {k}: model {m:?}, file {f:?}\n"));
            }
        }
        s
    }

    /// Error unless every model key was loaded with the right shape and nothing is left over.
    pub fn ensure_strict(&self) -> Result<(), ModelError> {
        if self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Mismatch(Box::new(self.clone())))
        }
    }

    /// Error on mis-shaped or unexpected keys, or missing keys not accepted by `allow_missing`.
    pub fn ensure(&self, allow_missing: impl Fn(&str) -> bool) -> Result<(), ModelError> {
        let bad = LoadReport {
            missing: self
                .missing
                .iter()
                .filter(|k| !allow_missing(k))
                .cloned()
                .collect(),
            unexpected: self.unexpected.clone(),
            mismatched: self.mismatched.clone(),
            ..Default::default()
        };
        bad.ensure_strict()
    }
}

/// One float tensor of a module with its reference key.
#[derive(Debug, Clone)]
pub struct NamedTensor {
    /// Reference key.
    pub key: String,
    /// Parameter id.
    pub id: ParamId,
    /// Shape.
    pub shape: Vec<usize>,
    /// Whether the key names a buffer (BatchNorm running stats).
    pub buffer: bool,
}

struct Collector {
    out: Vec<NamedTensor>,
    data: Option<Vec<TensorData>>,
}

impl KeyedVisitor for Collector {
    fn visit<const D: usize>(&mut self, key: &Key<'_>, param: &Param<Tensor<D>>) {
        if let Some(d) = self.data.as_mut() {
            d.push(param.val().to_data());
        }
        self.out.push(NamedTensor {
            key: key.to_string(),
            id: param.id,
            shape: param.shape().to_vec(),
            buffer: is_buffer_key(key),
        });
    }
}

/// Every float tensor (parameters and BatchNorm buffers) with its reference key, in module order.
pub fn named_tensors<M: Module>(module: &M, names: &NameContext, prefix: &str) -> Vec<NamedTensor> {
    let mut c = Collector {
        out: vec![],
        data: None,
    };
    visit_keyed(module, names, prefix, &mut c);
    c.out
}

/// Export every float tensor as reference key → data (`num_batches_tracked` as an int64 scalar).
pub fn export_tensors<M: Module>(
    module: &M,
    names: &NameContext,
    prefix: &str,
) -> Result<StateDict, ModelError> {
    let mut c = Collector {
        out: vec![],
        data: Some(vec![]),
    };
    visit_keyed(module, names, prefix, &mut c);
    let data = c.data.take().into_iter().flatten();
    c.out
        .into_iter()
        .zip(data)
        .map(|(n, d)| {
            let d = if n.key.ends_with("num_batches_tracked") {
                let v: Vec<f32> = d
                    .convert::<f32>()
                    .try_to_vec()
                    .map_err(|e| ModelError::Config(format!("tensor {}: {e:?}", n.key)))?;
                let count = v.first().copied().unwrap_or(0.0) as i64;
                TensorData::new(vec![count], Vec::<usize>::new())
            } else {
                d.convert::<f32>()
            };
            Ok((n.key, d))
        })
        .collect()
}

struct Loader<'a> {
    tensors: &'a StateDict,
    report: LoadReport,
}

impl KeyedMapper for Loader<'_> {
    fn map<const D: usize>(&mut self, key: &Key<'_>, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let key = key.to_string();
        let Some(data) = self.tensors.get(&key) else {
            self.report.missing.push(key);
            return param;
        };
        let model_shape = param.shape().to_vec();
        let file_shape = data.shape().to_vec();
        // int64 scalar `num_batches_tracked` ↔ our 1-element float
        let scalar_ok = key.ends_with("num_batches_tracked") && data.num_elements() == 1;
        if model_shape != file_shape && !scalar_ok {
            self.report.mismatched.push((key, model_shape, file_shape));
            return param;
        }
        let values = match data.clone().convert::<f32>().try_to_vec::<f32>() {
            Ok(v) => TensorData::new(v, model_shape),
            Err(_) => {
                self.report.mismatched.push((key, model_shape, file_shape));
                return param;
            }
        };
        self.report.applied.push(key);
        param.map(|t| {
            let req = t.is_require_grad();
            let t2 = Tensor::<D>::from_data(values, &t.device());
            if req {
                t2.require_grad()
            } else {
                t2
            }
        })
    }
}

/// Load `tensors` (reference keys, with `prefix` prepended to the module's own keys) into a
/// module. Never panics on bad input: the report lists missing, unexpected and mis-shaped keys.
pub fn load_tensors<M: Module>(
    module: M,
    tensors: &StateDict,
    names: &NameContext,
    prefix: &str,
) -> (M, LoadReport) {
    let mut loader = Loader {
        tensors,
        report: LoadReport::default(),
    };
    let module = map_keyed(module, names, prefix, &mut loader);
    let mut report = loader.report;
    let applied: BTreeSet<&String> = report.applied.iter().collect();
    let mismatched: BTreeSet<&String> = report.mismatched.iter().map(|m| &m.0).collect();
    let (mut unexpected, mut recomputed) = (vec![], vec![]);
    for k in tensors.keys() {
        if applied.contains(k) || mismatched.contains(k) {
            continue;
        }
        if is_recomputed_buffer(k) {
            recomputed.push(k.clone());
        } else {
            unexpected.push(k.clone());
        }
    }
    report.unexpected = unexpected;
    report.recomputed = recomputed;
    (module, report)
}

/// The recomputed buffers of the reference state dict (`relative_position_index` int64 and the
/// `attn_mask` of shifted blocks), under `prefix`.
pub fn geometry_buffers(model: &mtlora_swin::SwinTransformer, prefix: &str) -> StateDict {
    let mut out = BTreeMap::new();
    for (i, layer) in model.layers.iter().enumerate() {
        for (j, block) in layer.blocks.iter().enumerate() {
            let n = block.window * block.window;
            let base = format!("{prefix}layers.{i}.blocks.{j}");
            out.insert(
                format!("{base}.attn.relative_position_index"),
                TensorData::new(block.attn.relative_index.clone(), [n, n]),
            );
            if let Some(m) = &block.attn_mask {
                out.insert(
                    format!("{base}.attn_mask"),
                    TensorData::new(m.clone(), [m.len() / (n * n), n, n]),
                );
            }
        }
    }
    out
}

impl MultiTaskSwin {
    /// The full reference state dict (parameters, BN buffers, recomputed geometry buffers).
    pub fn state_dict(&self) -> Result<StateDict, ModelError> {
        // `valid()` syncs the BatchNorm running stats updated by training forwards.
        let mut sd = export_tensors(&self.valid(), self.names(), "")?;
        sd.extend(geometry_buffers(&self.backbone, "backbone."));
        Ok(sd)
    }

    /// Load a reference-layout state dict (`backbone.*`, `downsampler.*`, `decoders.decoders.*`).
    /// Never fails: the report lists what did not fit (see [`MultiTaskSwin::load_strict`]).
    pub fn load_state_dict(self, tensors: &StateDict) -> (Self, LoadReport) {
        let names = self.names().clone();
        load_tensors(self, tensors, &names, "")
    }

    /// [`MultiTaskSwin::load_state_dict`], strictly: any missing, unexpected or mis-shaped key
    /// is an error that lists them all, naming `source` (the file the state dict came from).
    pub fn load_strict(self, tensors: &StateDict, source: &Path) -> Result<Self, ModelError> {
        let (model, report) = self.load_state_dict(tensors);
        report.ensure_strict().map_err(|e| e.in_file(source))?;
        Ok(model)
    }

    /// Import a Microsoft Swin ImageNet checkpoint (or any plain-Swin state dict) into the
    /// backbone: `attn_mask` dropped (recomputed), wrapped linears renamed to `.linear.`,
    /// `head.*` and `norm.*` ignored. Missing keys in the report are the LoRA tensors the file
    /// cannot have; anything else is listed as unexpected or mis-shaped.
    pub fn import_swin_backbone(self, tensors: &StateDict) -> (Self, LoadReport, Vec<String>) {
        let names = self.names().clone();
        let model_keys: BTreeSet<String> = named_tensors(&self.backbone, &names, "backbone.")
            .into_iter()
            .map(|n| n.key)
            .collect();
        let mut renamed = StateDict::new();
        let mut ignored = Vec::new();
        for (k, v) in tensors {
            if k.starts_with("head.") || k.starts_with("norm.") {
                ignored.push(k.clone());
                continue;
            }
            let direct = format!("backbone.{k}");
            let key = if model_keys.contains(&direct) {
                direct
            } else {
                match k.rsplit_once('.') {
                    Some((stem, leaf))
                        if model_keys.contains(&format!("backbone.{stem}.linear.{leaf}")) =>
                    {
                        format!("backbone.{stem}.linear.{leaf}")
                    }
                    _ => direct,
                }
            };
            renamed.insert(key, v.clone());
        }
        let mut report = LoadReport::default();
        let model = self.map_backbone(|b| {
            let (b, r) = load_tensors(b, &renamed, &names, "backbone.");
            report = r;
            b
        });
        (model, report, ignored)
    }
}
