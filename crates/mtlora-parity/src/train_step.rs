//! `train_step`: one official training step (train-mode forward, losses, gradients, BatchNorm
//! running stats, AdamW from the stored gradients).

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use mtlora::ModelConfig;
use serde::Deserialize;
use serde_json::Value;

use crate::compare::{add_to, Group, Tolerance};
use crate::fixture::{Fixture, Num};
use crate::model_forward::build_loaded;
use crate::ParityError;
use mtlora_train::grads::{grads_by_key, grads_from_keys};
use mtlora_train::optim::{AdamW, AdamWConfig};
use mtlora_train::step::train_step;

/// The `train_step` sidecar (FORMAT.md §6): every field this check reads; no defaults.
#[derive(Deserialize)]
struct Sidecar {
    model: Value,
    /// "<file>.safetensors (keys listed in <file>.json state_keys)"
    weights_from: String,
    loss_weights: BTreeMap<String, f64>,
    /// Per task, and `total`.
    losses: BTreeMap<String, Num>,
    optimizer: Optimizer,
    trainable_names: Vec<String>,
    trainable_without_grad: Vec<String>,
    grads_analytically_zero: Vec<String>,
}

#[derive(Deserialize)]
struct Optimizer {
    lr: f64,
    weight_decay: f64,
    betas: [f64; 2],
    eps: f64,
    grad_global_l2_norm: f64,
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let side: Sidecar = fx.sidecar()?;
    let cfg = ModelConfig::from_json_value(&side.model)?;
    let file = side.weights_from.split_whitespace().next().ok_or_else(|| {
        ParityError::Fixture("sidecar field \"weights_from\" names no file".into())
    })?;
    let weights = Fixture::load(&fx.dir.join(file).with_extension("json"))?;
    let state = weights.state(Some(weights.field("state_keys")?));

    let plain = device.clone();
    let device = plain.clone().autodiff();
    let (model, load) = build_loaded(&cfg, &state, &device)?;
    let model = model.apply_freezing(&cfg);
    let mut groups = vec![load];

    let input = Tensor::<4>::from_data(fx.tensor("input")?.clone().convert::<f32>(), &device);
    let tasks = cfg.task_names();
    let mut heads =
        mtlora_train::task_heads(&cfg).map_err(|e| ParityError::Fixture(e.to_string()))?;
    let mut targets = Vec::new();
    for h in &mut heads {
        let t = h.task;
        targets.push(Tensor::<4>::from_data(
            fx.tensor(&format!("target.{t}"))?.clone().convert::<f32>(),
            &device,
        ));
        h.weight = *side.loss_weights.get(t.name()).ok_or_else(|| {
            ParityError::Fixture(format!("sidecar loss_weights has no number for {t}"))
        })?;
    }
    let out = train_step(&model, input, &targets, &heads);

    // losses
    let mut lg = Group::new("losses");
    for (t, l) in tasks.iter().zip(&out.losses) {
        match side.losses.get(t) {
            Some(r) => lg.compare_scalar(t, *l as f64, r.0, 1e-5),
            None => lg.fail(format!("the reference has no {t} loss")),
        }
    }
    match side.losses.get("total") {
        Some(r) => lg.compare_scalar("total", out.total as f64, r.0, 1e-5),
        None => lg.fail("the reference has no total loss"),
    }
    groups.push(lg);

    // train-mode heads
    for (t, h) in tasks.iter().zip(&out.heads) {
        if let Some(r) = fx.get(&format!("head_train.{t}")) {
            add_to(
                &mut groups,
                "head_train",
                t,
                &h.to_data(),
                r,
                Tolerance::FORWARD,
            );
        }
    }

    // trainable set
    let report = model.param_report(&cfg);
    let mut ts = Group::new("trainable_set");
    crate::param_counts::compare_trainable_set(&mut ts, &report, &side.trainable_names);
    groups.push(ts);

    // gradients
    let (zero, without) = (&side.grads_analytically_zero, &side.trainable_without_grad);
    let mine = grads_by_key(&model, &out.grads);
    let reference: BTreeMap<String, TensorData> = fx
        .with_prefix("grad.")
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let mut gg = Group::new("grad");
    let mut gz = Group::new("grad_noise_only(abs 1e-5)");
    for (k, r) in &reference {
        match mine.get(k) {
            Some(m) if zero.contains(k) => gz.compare(
                k,
                m,
                r,
                Tolerance {
                    rel: 0.0,
                    abs: 1e-5,
                },
            ),
            Some(m) => gg.compare(k, m, r, Tolerance::GRAD),
            None => gg.fail(format!("{k}: no gradient")),
        }
    }
    for k in mine.keys() {
        if !reference.contains_key(k) {
            gg.fail(format!("{k}: has a gradient, the reference has none"));
        }
    }
    groups.push(gg);
    let mut g = Group::new("grad_global_l2_norm");
    g.compare_scalar(
        "norm",
        mtlora_train::optim::global_grad_norm(&model, &out.grads),
        side.optimizer.grad_global_l2_norm,
        1e-4,
    );
    groups.push(g);
    if gz.count > 0 {
        groups.push(gz);
    }
    groups.push(Group::check(
        "trainable_without_grad",
        without.iter().all(|k| !mine.contains_key(k)),
        format!("{} tensor(s) must get no gradient", without.len()),
    ));

    // BatchNorm running stats after the train forward
    let sd = model.state_dict()?;
    for (k, r) in fx.with_prefix("bn_after.") {
        match sd.get(k) {
            Some(m) => add_to(&mut groups, "bn_after", k, m, r, Tolerance::FORWARD),
            None => add_to(
                &mut groups,
                "bn_after",
                k,
                &TensorData::new(vec![f32::NAN], [1]),
                r,
                Tolerance::FORWARD,
            ),
        }
    }

    // AdamW applied to the stored gradients
    let opt = &side.optimizer;
    let lr = opt.lr;
    let config = AdamWConfig {
        beta1: opt.betas[0],
        beta2: opt.betas[1],
        epsilon: opt.eps,
        weight_decay: opt.weight_decay,
    };
    let stored = grads_from_keys(&model, &reference, &plain);
    let before = model.state_dict()?;
    let mut adamw = AdamW::new(config);
    let stepped = adamw.step(lr, model, &stored);
    let after = stepped.state_dict()?;
    let mut ag = Group::new("after_step(stored grads)");
    for (k, r) in fx.with_prefix("after_step.") {
        if zero.iter().any(|z| z == k) {
            continue;
        }
        match after.get(k) {
            Some(m) => ag.compare(
                k,
                m,
                r,
                Tolerance {
                    rel: 0.0,
                    abs: 1e-6,
                },
            ),
            None => ag.fail(format!("{k}: not in the model")),
        }
    }
    for k in without {
        match (after.get(k), before.get(k)) {
            (Some(a), Some(b)) => ag.compare(&format!("{k} (unchanged)"), a, b, Tolerance::EXACT),
            _ => ag.fail(format!("{k}: not in the model")),
        }
    }
    groups.push(ag);
    Ok(groups)
}
