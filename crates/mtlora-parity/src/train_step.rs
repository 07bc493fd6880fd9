//! `train_step`: one official training step (train-mode forward, losses, gradients, BatchNorm
//! running stats, AdamW from the stored gradients).

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use mtlora::ModelConfig;
use serde_json::Value;

use crate::compare::{add_to, Group, Tolerance};
use crate::fixture::{num, str_list, Fixture};
use crate::model_forward::build_loaded;
use crate::ParityError;
use mtlora_train::grads::{grads_by_key, grads_from_keys};
use mtlora_train::optim::{AdamW, AdamWConfig};
use mtlora_train::step::train_step;

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let cfg = ModelConfig::from_json_value(fx.field("model")?)?;
    // Weights: "<file>.safetensors (keys listed in <file>.json state_keys)".
    let from = fx.field("weights_from")?.as_str().ok_or_else(|| {
        ParityError::Fixture("sidecar field \"weights_from\" is not a string".into())
    })?;
    let file = from.split_whitespace().next().unwrap_or(from);
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
    let weights_json = fx.field("loss_weights")?;
    let mut targets = Vec::new();
    for h in &mut heads {
        let t = h.task;
        targets.push(Tensor::<4>::from_data(
            fx.tensor(&format!("target.{t}"))?.clone().convert::<f32>(),
            &device,
        ));
        h.weight = weights_json.get(t.name()).and_then(num).ok_or_else(|| {
            ParityError::Fixture(format!("sidecar loss_weights has no number for {t}"))
        })?;
    }
    let out = train_step(&model, input, &targets, &heads);

    // losses
    let mut lg = Group::new("losses");
    let ref_losses = fx.field("losses")?;
    for (t, l) in tasks.iter().zip(&out.losses) {
        if let Some(r) = ref_losses.get(t).and_then(num) {
            lg.compare_scalar(t, *l as f64, r, 1e-5);
        }
    }
    if let Some(r) = ref_losses
        .get("total")
        .and_then(num)
        .or_else(|| fx.json.get("loss_total").and_then(num))
    {
        lg.compare_scalar("total", out.total as f64, r, 1e-5);
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
    let names: Vec<String> = serde_json::from_value(fx.field("trainable_names")?.clone())
        .map_err(|e| ParityError::Fixture(format!("train_step: trainable_names: {e}")))?;
    let mut ts = Group::new("trainable_set");
    crate::param_counts::compare_trainable_set(&mut ts, &report, &names);
    groups.push(ts);

    // gradients
    let zero = str_list(fx.json.get("grads_analytically_zero"));
    let without = str_list(fx.json.get("trainable_without_grad"));
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
    if let Some(r) = fx
        .json
        .pointer("/optimizer/grad_global_l2_norm")
        .and_then(num)
    {
        let mut g = Group::new("grad_global_l2_norm");
        g.compare_scalar(
            "norm",
            mtlora_train::optim::global_grad_norm(&model, &out.grads),
            r,
            1e-4,
        );
        groups.push(g);
    }
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
    let opt = fx.field("optimizer")?;
    let lr = opt.get("lr").and_then(num).unwrap_or(1e-3);
    let betas = opt.get("betas").and_then(Value::as_array);
    let config = AdamWConfig {
        beta1: betas.and_then(|b| b.first()).and_then(num).unwrap_or(0.9),
        beta2: betas.and_then(|b| b.get(1)).and_then(num).unwrap_or(0.999),
        epsilon: opt.get("eps").and_then(num).unwrap_or(1e-8),
        weight_decay: opt.get("weight_decay").and_then(num).unwrap_or(0.05),
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
    for k in &without {
        if let (Some(a), Some(b)) = (after.get(k), before.get(k)) {
            ag.compare(&format!("{k} (unchanged)"), a, b, Tolerance::EXACT);
        }
    }
    groups.push(ag);
    Ok(groups)
}
