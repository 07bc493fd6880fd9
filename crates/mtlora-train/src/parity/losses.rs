//! `losses`: the per-task loss functions on small inputs, incl. the NaN edge cases.

use burn::tensor::{Device, Tensor};
use serde_json::Value;

use super::compare::Group;
use super::fixture::{num, Fixture};
use super::ParityError;
use crate::losses::{task_loss, TaskLossKind};

fn eval(fx: &Fixture, case: &str, task: &str, device: &Device) -> Result<f64, ParityError> {
    let kind = TaskLossKind::for_task(task)
        .ok_or_else(|| ParityError::Fixture(format!("case {case}: unknown task {task}")))?;
    let logits = Tensor::<4>::from_data(
        fx.tensor(&format!("{case}.logits"))?
            .clone()
            .convert::<f32>(),
        device,
    );
    let label = Tensor::<4>::from_data(
        fx.tensor(&format!("{case}.label"))?
            .clone()
            .convert::<f32>(),
        device,
    );
    Ok(task_loss(kind, logits, label).into_scalar::<f32>() as f64)
}

pub(super) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let device = device.clone();
    let cases = fx
        .field("cases")?
        .as_array()
        .ok_or_else(|| ParityError::Fixture("cases is not a list".into()))?;
    let mut regular = Group::new("losses");
    let mut nan_cases = Group::new("losses_nan_fixed(Q18)");
    for c in cases {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let task = c.get("task").and_then(Value::as_str).unwrap_or("?");
        let mine = eval(fx, name, task, &device)?;
        let official = c.get("official_value").and_then(num).unwrap_or(f64::NAN);
        let is_nan = c
            .get("official_is_nan")
            .and_then(Value::as_bool)
            .unwrap_or(official.is_nan());
        if is_nan {
            // the reference's 0/0; ours contributes 0 with no gradient
            nan_cases.compare_scalar(name, mine, 0.0, 0.0);
        } else {
            regular.compare_scalar(name, mine, official, 1e-5);
        }
    }
    let mut groups = vec![regular];
    if nan_cases.count > 0 {
        groups.push(nan_cases);
    }
    if let Some(mt) = fx.json.get("multitask") {
        let mut g = Group::new("multitask_total");
        let inputs = mt.get("input_cases").and_then(Value::as_object);
        let weights = mt.get("loss_weights").and_then(Value::as_object);
        let expected = mt
            .get("reimplementation_total_skipping_nan_term")
            .and_then(num);
        if let (Some(inputs), Some(weights), Some(expected)) = (inputs, weights, expected) {
            let mut total = 0.0;
            for (task, case) in inputs {
                let w = weights.get(task).and_then(num).unwrap_or(1.0);
                let l = eval(fx, case.as_str().unwrap_or(""), task, &device)?;
                total += w * l;
            }
            g.compare_scalar("total (NaN term counted as 0)", total, expected, 1e-5);
        } else {
            g.fail("multitask fields missing");
        }
        groups.push(g);
    }
    Ok(groups)
}
