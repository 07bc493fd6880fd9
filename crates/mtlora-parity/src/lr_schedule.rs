//! `lr_schedule.json`: every learning rate of the reference scheduler, off-by-one included.

use burn::tensor::Device;
use serde_json::Value;

use crate::compare::Group;
use crate::fixture::{num, Fixture};
use crate::ParityError;
use mtlora_train::schedule::CosineSchedule;

const LR_REL: f64 = 1e-12;

fn schedule_of(run: &Value) -> Result<(CosineSchedule, usize), ParityError> {
    let p = run.get("params").unwrap_or(&Value::Null);
    let f = |k: &str| {
        p.get(k)
            .and_then(num)
            .ok_or_else(|| ParityError::Fixture(format!("params.{k} is missing")))
    };
    let (epochs, we, n) = (
        f("epochs")? as usize,
        f("warmup_epochs")? as usize,
        f("n_iter")? as usize,
    );
    let s =
        CosineSchedule::from_epochs(f("base_lr")?, f("warmup_lr")?, f("min_lr")?, epochs, we, n);
    Ok((s, epochs * n))
}

pub(crate) fn run(fx: &Fixture, _device: &Device) -> Result<Vec<Group>, ParityError> {
    let mut groups = vec![];
    let runs: Vec<(String, Value)> = fx
        .json
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.get("params").is_some())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if runs.is_empty() {
        return Err(ParityError::Fixture(
            "no schedule runs (objects with params)".into(),
        ));
    }
    for (name, run) in runs {
        let (s, total) = schedule_of(&run)?;
        let mut g = Group::new(name.to_string());
        if let Some(t) = run.get("total_iterations").and_then(num) {
            g.compare_scalar("total_iterations", total as f64, t, 0.0);
        }
        for (key, used) in [("f_t", false), ("lr_used_by_iteration", true)] {
            if let Some(list) = run.get(key).and_then(Value::as_array) {
                for (i, v) in list.iter().enumerate() {
                    let mine = if used { s.lr_used(i) } else { s.f(i) };
                    g.compare_scalar(
                        &format!("{key}[{i}]"),
                        mine,
                        num(v).unwrap_or(f64::NAN),
                        LR_REL,
                    );
                }
            }
        }
        if let Some(points) = run.get("points").and_then(Value::as_array) {
            for p in points {
                let k = p.get("iteration").and_then(num).unwrap_or(-1.0) as usize;
                if let Some(x) = p.get("f_t").and_then(num) {
                    g.compare_scalar(&format!("f({k})"), s.f(k), x, LR_REL);
                }
                if let Some(x) = p.get("lr_used").and_then(num) {
                    g.compare_scalar(&format!("lr_used({k})"), s.lr_used(k), x, LR_REL);
                }
            }
        }
        if let Some(x) = run.get("f_t_at_T").and_then(num) {
            g.compare_scalar("f(T)", s.f(total), x, LR_REL);
        }
        if g.count == 0 {
            g.fail("no learning rates to compare");
        }
        groups.push(g);
    }
    Ok(groups)
}
