//! `train_run`: replay the reference's 40-iteration training run through [`Trainer`] (the real
//! loop) from the stored initial weights and batches, and compare per iteration, per
//! validation and at the end with the fixture's tolerance tiers (FORMAT.md §14.6).

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use mtlora::{ModelConfig, StateDict};
use mtlora_pascal::transforms::normalize_image;
use mtlora_pascal::Plane;
use serde_json::Value;

use crate::compare::{Group, Tolerance};
use crate::fixture::{num, str_list, Fixture};
use crate::metrics::baselines_from;
use crate::model_forward::build_loaded;
use crate::ParityError;
use mtlora_train::config::TrainConfig;
use mtlora_train::grads::grads_by_key;
use mtlora_train::trainer::{Batch, IterRecord, Trainer};

/// Tiers of `suggested_tolerances`: the verdict uses the last one (`loose`, calibrated for an
/// independent port); `strict` is reported alongside, informational.
const TIERS: [&str; 2] = ["strict", "loose"];

fn band(table: Option<&Value>, iteration: usize) -> Option<f64> {
    table?.as_array()?.iter().find_map(|row| {
        let r = row.as_array()?;
        let (a, b, t) = (num(&r[0])? as usize, num(&r[1])? as usize, num(&r[2])?);
        (a..=b).contains(&iteration).then_some(t)
    })
}

fn stored_batch(
    fx: &Fixture,
    split: &str,
    ids: &[String],
    tasks: &[String],
    device: &Device,
) -> Result<Batch, ParityError> {
    let mut img = vec![];
    let (mut h, mut w) = (0, 0);
    for id in ids {
        let d = fx.tensor(&format!("data.{split}.{id}.image_uint8"))?;
        let s = d.shape().to_vec();
        (h, w) = (s[0], s[1]);
        let v: Vec<u8> = d
            .clone()
            .try_to_vec()
            .map_err(|e| ParityError::Fixture(format!("{id}: {e:?}")))?;
        img.extend(normalize_image(&Plane::from_vec(h, w, 3, v)));
    }
    let b = ids.len();
    let image = Tensor::<4>::from_data(TensorData::new(img, [b, 3, h, w]), device);
    let mut targets = vec![];
    for t in tasks {
        let mut v: Vec<f32> = vec![];
        let mut c = 1;
        for id in ids {
            let d = fx.tensor(&format!("data.{split}.{id}.{t}"))?;
            c = d.shape()[0];
            v.extend(
                d.clone()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap_or_default(),
            );
        }
        targets.push(Tensor::<4>::from_data(
            TensorData::new(v, [b, c, h, w]),
            device,
        ));
    }
    Ok(Batch { image, targets })
}

fn id_list(v: &Value) -> Vec<String> {
    str_list(Some(v))
}

/// Per-tensor comparison relative to the tensor's max |ref|.
fn rel_to_max(g: &mut Group, k: &str, mine: &TensorData, reference: &TensorData, tol: f64) {
    g.compare(k, mine, reference, Tolerance { rel: tol, abs: 0.0 });
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let mut model_cfg = ModelConfig::from_json_value(fx.field("model")?)?;
    if let Some(w) = fx.json.get("loss_weights").and_then(Value::as_object) {
        for (k, v) in w {
            if let Some(x) = num(v) {
                model_cfg.loss_weights.insert(k.clone(), x);
            }
        }
    }
    let tasks = model_cfg.task_names();
    let order = str_list(fx.json.get("task_order"));
    if !order.is_empty() && order != tasks {
        return Err(ParityError::Fixture(format!(
            "task_order {order:?} differs from the model's {tasks:?}"
        )));
    }

    // recipe
    let sched = fx.field("schedule")?;
    let sc = |k: &str| sched.pointer(&format!("/scaled/{k}")).and_then(num);
    let si = |k: &str| sched.get(k).and_then(num).map(|x| x as usize);
    let opt = fx.field("optimizer")?;
    let clip = opt
        .pointer("/clipping/max_norm")
        .and_then(num)
        .or_else(|| opt.get("clip_grad").and_then(num))
        .or_else(|| {
            // "torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0) before every step ..."
            let text = opt.get("grad_clipping")?.as_str()?;
            let rest = text.split("parameters(),").nth(1)?;
            rest.split(')').next()?.trim().parse::<f64>().ok()
        })
        .unwrap_or(5.0);
    let n_iter = si("iterations_per_epoch")
        .ok_or_else(|| ParityError::Fixture("schedule.iterations_per_epoch missing".into()))?;
    let train_cfg = TrainConfig {
        epochs: si("epochs").unwrap_or(5),
        warmup_epochs: si("warmup_epochs").unwrap_or(1),
        batch_size: 2,
        accumulation_steps: 1,
        base_lr: sc("base_lr")
            .ok_or_else(|| ParityError::Fixture("schedule.scaled.base_lr missing".into()))?,
        warmup_lr: sc("warmup_lr").unwrap_or(0.0),
        min_lr: sc("min_lr").unwrap_or(0.0),
        scale_lr: false,
        weight_decay: opt.get("weight_decay").and_then(num).unwrap_or(0.05),
        clip_grad: clip,
        delta_m_baselines: baselines_from(
            fx.field("validation_baselines")?,
            "validation_baselines",
        )?
        .to_names(),
        ..TrainConfig::default()
    };

    // model from init.*
    let init: StateDict = fx
        .with_prefix("init.")
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let inner = device.clone();
    let device = inner.clone().autodiff();
    let (model, load) = build_loaded(&model_cfg, &init, &device)?;
    let mut groups = vec![load];
    let mut trainer = Trainer::new(
        model_cfg.clone(),
        train_cfg,
        model,
        device.clone(),
        inner.clone(),
        n_iter,
    )
    .map_err(|e| ParityError::Fixture(e.to_string()))?;

    let iters = fx
        .field("iterations")?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let vals = fx
        .field("validation")?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut records: Vec<IterRecord> = vec![];
    let mut evals = vec![];
    let mut iter1_grads = BTreeMap::new();
    for it in &iters {
        let epoch = it.get("epoch").and_then(num).unwrap_or(0.0) as usize;
        let ids = id_list(it.get("ids").unwrap_or(&Value::Null));
        let batch = stored_batch(fx, "train", &ids, &tasks, &device)?;
        let first = records.is_empty();
        let rec = trainer.step_inspect(&[batch], epoch, &mut |m, g| {
            if first {
                iter1_grads = grads_by_key(m, g);
            }
        });
        records.push(rec);
        let end_of_epoch = iters
            .get(records.len())
            .and_then(|n| n.get("epoch"))
            .and_then(num)
            .is_none_or(|e| e as usize != epoch);
        if end_of_epoch {
            if let Some(v) = vals
                .iter()
                .find(|v| v.get("epoch").and_then(num) == Some(epoch as f64))
            {
                let ids: Vec<Vec<String>> = v
                    .get("val_batch_ids")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(id_list).collect())
                    .unwrap_or_default();
                let batches = ids
                    .iter()
                    .map(|ids| stored_batch(fx, "val", ids, &tasks, &inner));
                let res = trainer.evaluate(batches, || {})?;
                evals.push((v.clone(), res));
            }
        }
    }

    let sd = trainer.model.state_dict()?;
    let replay = Replay {
        tasks,
        records,
        evals,
        iter1_grads,
        sd,
        init,
    };
    for tier in TIERS {
        let verdict = tier == TIERS[TIERS.len() - 1];
        let mut g = judge(fx, tier, &replay)?;
        if !verdict {
            // strict lines are informational; lr/clipped/... are tier-independent (once)
            g.retain(|g| g.name.contains(tier));
            for x in &mut g {
                x.informational = true;
            }
        }
        groups.extend(g);
    }
    Ok(groups)
}

/// What the replay produced.
struct Replay {
    tasks: Vec<String>,
    records: Vec<IterRecord>,
    evals: Vec<(Value, mtlora_train::trainer::EvalResult)>,
    iter1_grads: BTreeMap<String, TensorData>,
    sd: StateDict,
    init: StateDict,
}

/// Compare a replay with the fixture at one tolerance tier.
fn judge(fx: &Fixture, tier_name: &str, r: &Replay) -> Result<Vec<Group>, ParityError> {
    let tol = fx.field("suggested_tolerances")?;
    let tier = tol
        .get(tier_name)
        .ok_or_else(|| ParityError::Fixture(format!("suggested_tolerances.{tier_name} missing")))?;
    let both = tol.get("both_tiers");
    let (tasks, records, evals, iter1_grads, sd, init) = (
        &r.tasks,
        &r.records,
        &r.evals,
        &r.iter1_grads,
        &r.sd,
        &r.init,
    );
    let iters = fx
        .field("iterations")?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let vals = fx
        .field("validation")?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut groups = vec![];

    // per-iteration
    let mut lr = Group::new("lr(rel 1e-12)");
    let mut clipped = Group::new("clipped(exact)");
    let mut loss_early = Group::new(format!("losses it1-12({tier_name})"));
    let mut loss_late = Group::new(format!("losses it13+({tier_name})"));
    let mut gn_early = Group::new(format!("grad_norm it1-12({tier_name})"));
    let mut gn_late = Group::new(format!("grad_norm it13+({tier_name})"));
    let lr_tol = tier.get("lr_rel").and_then(num).unwrap_or(1e-12);
    if records.len() != iters.len() || iters.is_empty() {
        lr.fail(format!(
            "{} iterations replayed of {}",
            records.len(),
            iters.len()
        ));
    }
    for (rec, it) in records.iter().zip(&iters) {
        let k = rec.iteration;
        if let Some(r) = it.get("lr").and_then(num) {
            lr.compare_scalar(&format!("it{k}"), rec.lr, r, lr_tol);
        }
        if let Some(r) = it.get("clipped").and_then(Value::as_bool) {
            clipped.count += 1;
            if r != rec.clipped {
                clipped.fail(format!("it{k}: clipped {} vs reference {r}", rec.clipped));
            }
        }
        let lt = band(tier.get("loss_rel"), k).unwrap_or(0.0);
        let gt = band(tier.get("grad_norm_rel"), k).unwrap_or(0.0);
        let (lg, gg) = if k <= 12 {
            (&mut loss_early, &mut gn_early)
        } else {
            (&mut loss_late, &mut gn_late)
        };
        for (t, l) in tasks.iter().zip(&rec.losses) {
            if let Some(r) = it.pointer(&format!("/losses/{t}")).and_then(num) {
                lg.compare_scalar(&format!("it{k}.{t}"), *l, r, lt);
            }
        }
        if let Some(r) = it.get("total").and_then(num) {
            lg.compare_scalar(&format!("it{k}.total"), rec.total, r, lt);
        }
        if let Some(r) = it.get("grad_norm").and_then(num) {
            gg.compare_scalar(&format!("it{k}.grad_norm"), rec.grad_norm, r, gt);
        }
    }
    groups.extend([lr, clipped, loss_early, loss_late, gn_early, gn_late]);

    // iteration-1 gradients
    let zero = str_list(fx.json.get("grads_analytically_zero"));
    let g_tol = tier
        .get("iter1_grad_rel_to_tensor_max")
        .and_then(num)
        .unwrap_or(2e-3);
    let z_tol = both
        .and_then(|b| b.get("iter1_grad_noise_only_biases_abs"))
        .and_then(num)
        .unwrap_or(1e-5);
    let mut g1 = Group::new(format!("iter1_grad({tier_name})"));
    for (k, r) in fx.with_prefix("iter1_grad.") {
        match iter1_grads.get(k) {
            Some(m) if zero.iter().any(|z| z == k) => g1.compare(
                k,
                m,
                r,
                Tolerance {
                    rel: 0.0,
                    abs: z_tol,
                },
            ),
            Some(m) => rel_to_max(&mut g1, k, m, r, g_tol),
            None => g1.fail(format!("{k}: no gradient")),
        }
    }
    groups.push(g1);

    // validation
    for (v, res) in evals.iter() {
        let e = v.get("epoch").and_then(num).unwrap_or(0.0) as usize;
        let vt = tier.pointer(if e == 0 {
            "/val/epoch0"
        } else {
            "/val/epochs1_4"
        });
        let t = |key: &str| vt.and_then(|x| x.get(key)).and_then(num);
        let abs_of = |name: &str| -> Option<f64> {
            match name {
                "semseg.mIoU" => t("semseg_mIoU_abs"),
                "human_parts.mIoU" => t("human_parts_mIoU_abs"),
                "sal.mIoU" => t("sal_mIoU_abs"),
                "sal.maxF" => t("sal_maxF_abs"),
                "normals.mean" => t("normals_mean_abs"),
                _ => None,
            }
        };
        let mut vg = Group::new(format!("val epoch{e}({tier_name}, abs)"));
        if let Some(scores) = v.get("scores") {
            for (task, key) in [
                ("semseg", "mIoU"),
                ("human_parts", "mIoU"),
                ("sal", "mIoU"),
                ("sal", "maxF"),
                ("normals", "mean"),
            ] {
                let name = format!("{task}.{key}");
                let mine = res
                    .evaluator
                    .meters
                    .iter()
                    .find(|(t, _)| t.name() == task)
                    .map(|(_, m)| match (m, key) {
                        (mtlora_metrics::TaskMeter::Segmentation(c), _) => c.miou(),
                        (mtlora_metrics::TaskMeter::Saliency(s), "mIoU") => s.miou_maxthr(),
                        (mtlora_metrics::TaskMeter::Saliency(s), _) => s.maxf(),
                        (mtlora_metrics::TaskMeter::Normals(n), _) => n.mean(),
                    });
                match (
                    mine,
                    scores.pointer(&format!("/{task}/{key}")).and_then(num),
                    abs_of(&name),
                ) {
                    (Some(m), Some(r), Some(a)) => vg.compare_abs(&name, m, r, a),
                    (m, r, a) => vg.fail(format!(
                        "{name}: ours {m:?}, reference {r:?}, tolerance {a:?} (all three needed)"
                    )),
                }
            }
        }
        if let (Some(m), Some(r), Some(a)) = (
            res.scores.get("delta_m"),
            v.pointer("/delta_m/delta_m_percent").and_then(num),
            t("delta_m_percent_abs"),
        ) {
            vg.compare_abs("delta_m_percent", m, r, a);
        }
        groups.push(vg);
    }
    if evals.len() != vals.len() {
        groups.push(Group::check(
            "validations",
            false,
            format!("{} of {} evaluations replayed", evals.len(), vals.len()),
        ));
    }

    // final parameters and BN statistics
    let p_tol = tier
        .get("final_params_rel_to_tensor_max")
        .and_then(num)
        .unwrap_or(0.5);
    let bn_tol = tier
        .get("final_bn_rel_to_tensor_max")
        .and_then(num)
        .unwrap_or(0.5);
    let sum_lrs: f64 = records.iter().map(|r| r.lr).sum();
    let mut fp = Group::new(format!("final_params({tier_name})"));
    let mut fz = Group::new("final_noise_only_biases(abs 2·Σlr)");
    for (k, r) in fx.with_prefix("final.") {
        let Some(m) = sd.get(k) else {
            fp.fail(format!("{k}: not in the model"));
            continue;
        };
        if zero.iter().any(|z| z == k) {
            fz.compare(
                k,
                m,
                r,
                Tolerance {
                    rel: 0.0,
                    abs: 2.0 * sum_lrs,
                },
            );
        } else {
            rel_to_max(&mut fp, k, m, r, p_tol);
        }
    }
    let without = str_list(fx.json.pointer("/optimizer/trainable_without_grad"));
    let mut fw = Group::new("trainable_without_grad(== init)");
    for k in &without {
        match (sd.get(k), init.get(k)) {
            (Some(a), Some(b)) => fw.compare(k, a, b, Tolerance::EXACT),
            _ => fw.fail(format!("{k}: missing")),
        }
    }
    let mut fb = Group::new(format!("final_bn({tier_name})"));
    for (k, r) in fx.with_prefix("final_bn.") {
        let Some(m) = sd.get(k) else {
            fb.fail(format!("{k}: not in the model"));
            continue;
        };
        if k.ends_with("num_batches_tracked") {
            fb.compare(
                k,
                &m.clone().convert::<f64>(),
                &r.clone().convert::<f64>(),
                Tolerance::EXACT,
            );
        } else {
            rel_to_max(&mut fb, k, m, r, bn_tol);
        }
    }
    groups.extend([fp, fz, fw, fb]);
    Ok(groups)
}
