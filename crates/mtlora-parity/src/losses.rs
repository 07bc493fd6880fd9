//! `losses`: the per-task loss functions on small inputs, incl. the NaN edge cases.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use serde::Deserialize;

use crate::compare::Group;
use crate::fixture::{Fixture, Num};
use crate::ParityError;
use mtlora_train::losses::task_loss;
use mtlora_train::Task;

fn eval(fx: &Fixture, case: &str, task: &str, device: &Device) -> Result<f64, ParityError> {
    let kind = Task::from_name(task)
        .ok()
        .and_then(Task::loss)
        .ok_or_else(|| ParityError::Fixture(format!("case {case}: no loss for task {task:?}")))?;
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

/// The `losses` sidecar (FORMAT.md): the cases and the multi-task total.
#[derive(Deserialize)]
struct Sidecar {
    cases: Vec<Case>,
    multitask: Multitask,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    task: String,
    official_value: Num,
    official_is_nan: bool,
}

#[derive(Deserialize)]
struct Multitask {
    /// task → the case whose inputs it uses
    input_cases: BTreeMap<String, String>,
    loss_weights: BTreeMap<String, f64>,
    reimplementation_total_skipping_nan_term: f64,
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let device = device.clone();
    let side: Sidecar = fx.sidecar()?;
    let mut regular = Group::new("losses");
    let mut nan_cases = Group::new("losses_nan_fixed(Q18)");
    for c in &side.cases {
        let mine = eval(fx, &c.name, &c.task, &device)?;
        if c.official_is_nan != c.official_value.0.is_nan() {
            return Err(ParityError::Fixture(format!(
                "losses: case {}: official_is_nan disagrees with official_value",
                c.name
            )));
        }
        if c.official_is_nan {
            // the reference's 0/0; ours contributes 0 with no gradient
            nan_cases.compare_scalar(&c.name, mine, 0.0, 0.0);
        } else {
            regular.compare_scalar(&c.name, mine, c.official_value.0, 1e-5);
        }
    }
    let mut groups = vec![regular];
    if nan_cases.count > 0 {
        groups.push(nan_cases);
    }
    let mt = &side.multitask;
    let mut g = Group::new("multitask_total");
    let mut total = 0.0;
    for (task, case) in &mt.input_cases {
        let w = mt.loss_weights.get(task).ok_or_else(|| {
            ParityError::Fixture(format!("losses: multitask.loss_weights has no {task:?}"))
        })?;
        total += w * eval(fx, case, task, &device)?;
    }
    g.compare_scalar(
        "total (NaN term counted as 0)",
        total,
        mt.reimplementation_total_skipping_nan_term,
        1e-5,
    );
    groups.push(g);
    Ok(groups)
}
