//! `metrics`: the reference's online evaluation recomputed from stored logits and targets
//! (tp/fp/fn exact, scores to 1e-12 relative), and Δm.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde_json::Value;

use crate::compare::Group;
use crate::fixture::{num, Fixture};
use crate::ParityError;

use mtlora_metrics::{
    beta_thresholds, delta_m, mask_thresholds, Baselines, Evaluator, Task, TaskMeter,
};

/// Relative tolerance of recomputed scores (FORMAT.md §12).
const SCORE_REL: f64 = 1e-12;

/// The numbers of a JSON list (`None` when `v` is not a list of numbers).
fn nums(v: Option<&Value>) -> Option<Vec<f64>> {
    v?.as_array()?.iter().map(num).collect()
}

/// Compare a list of numbers with the reference list at `v` (absent or not numbers: a failure).
pub(crate) fn compare_list(g: &mut Group, what: &str, mine: &[f64], v: Option<&Value>, rel: f64) {
    let Some(r) = nums(v) else {
        g.fail(format!("{what}: the reference has no list of numbers"));
        return;
    };
    if r.len() != mine.len() {
        g.fail(format!(
            "{what}: {} values vs reference {}",
            mine.len(),
            r.len()
        ));
        return;
    }
    for (i, (a, b)) in mine.iter().zip(&r).enumerate() {
        g.compare_scalar(&format!("{what}[{i}]"), *a, *b, rel);
    }
}

/// A task named in a fixture.
pub(crate) fn task(name: &str) -> Result<Task, ParityError> {
    Task::from_name(name).map_err(|e| ParityError::Fixture(e.to_string()))
}

/// `task → value` from a `{task: {metric: value}}` JSON object.
fn per_task(v: &Value, what: &str) -> Result<BTreeMap<Task, f64>, ParityError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ParityError::Fixture(format!("{what} is not an object")))?;
    obj.iter()
        .map(|(name, m)| {
            let x = m
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(num)
                .ok_or_else(|| ParityError::Fixture(format!("{what}.{name}: no number")))?;
            Ok((task(name)?, x))
        })
        .collect()
}

/// Baselines from a `{task: {metric: value}}` JSON object (the paper's where absent).
pub(crate) fn baselines_from(v: &Value, what: &str) -> Result<Baselines, ParityError> {
    let mut b = Baselines::default();
    for (t, x) in per_task(v, what)? {
        b.set(t, x);
    }
    Ok(b)
}

/// Compare an evaluator's results with a reference `scores` object (fractions for mIoU-type
/// values, as the reference reports them). `groups` receives one group per task.
pub(crate) fn compare_scores(ev: &Evaluator, scores: &Value, rel: f64, groups: &mut Vec<Group>) {
    for (task, meter) in &ev.meters {
        let r = scores.get(task.name());
        let mut g = Group::new(format!("scores.{task}"));
        let cmp =
            |g: &mut Group, key: &str, mine: f64| match r.and_then(|r| r.get(key)).and_then(num) {
                Some(x) => g.compare_scalar(key, mine, x, rel),
                None => g.fail(format!("reference has no {task}.{key}")),
            };
        match meter {
            TaskMeter::Segmentation(c) => {
                cmp(&mut g, "mIoU", c.miou());
                compare_list(
                    &mut g,
                    "jaccards_all_categs",
                    &c.iou(),
                    r.and_then(|r| r.get("jaccards_all_categs")),
                    rel,
                );
            }
            TaskMeter::Saliency(m) => {
                cmp(&mut g, "mIoU", m.miou_maxthr());
                cmp(&mut g, "maxF", m.maxf());
                // the reference's "Beta maxF" is the double-sigmoid variant
                cmp(&mut g, "Beta maxF", m.beta_invpt.max_f());
            }
            TaskMeter::Normals(m) => {
                let pct = m.pct_below();
                cmp(&mut g, "mean", m.mean());
                // reference bug: its "rmse" is the mean (Q35)
                cmp(&mut g, "rmse", m.mean());
                cmp(&mut g, "mean_v2", m.mean_v2());
                cmp(&mut g, "v1_pct_below_11.25", pct[0]);
                cmp(&mut g, "v1_pct_below_22.5", pct[1]);
                cmp(&mut g, "v1_pct_below_30", pct[2]);
            }
        }
        groups.push(g);
    }
}

/// Compare meter internals (`meter_internals` object).
pub(crate) fn compare_internals(ev: &Evaluator, internals: &Value, groups: &mut Vec<Group>) {
    for (task, meter) in &ev.meters {
        let r = internals.get(task.name());
        let get = |k: &str| r.and_then(|r| r.get(k));
        let mut g = Group::new(format!("internals.{task}"));
        match meter {
            TaskMeter::Segmentation(c) => {
                let f = |v: &[u64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
                compare_list(&mut g, "tp", &f(&c.tp), get("tp"), 0.0);
                compare_list(&mut g, "fp", &f(&c.fp), get("fp"), 0.0);
                compare_list(&mut g, "fn", &f(&c.fn_), get("fn"), 0.0);
            }
            TaskMeter::Saliency(m) => {
                compare_list(
                    &mut g,
                    "thresholds",
                    &mask_thresholds(),
                    get("thresholds"),
                    0.0,
                );
                let bt: Vec<f64> = beta_thresholds().iter().map(|&t| t as f64).collect();
                compare_list(&mut g, "beta_thresholds", &bt, get("beta_thresholds"), 0.0);
                for (key, rows) in [
                    ("per_image_jaccard", &m.jaccard),
                    ("per_image_precision", &m.precision),
                    ("per_image_recall", &m.recall),
                ] {
                    let Some(refs) = get(key).and_then(Value::as_array) else {
                        g.fail(format!("the reference has no {key} list"));
                        continue;
                    };
                    if refs.len() != rows.len() {
                        g.fail(format!(
                            "{key}: {} images vs reference {}",
                            rows.len(),
                            refs.len()
                        ));
                        continue;
                    }
                    for (i, (row, rr)) in rows.iter().zip(refs).enumerate() {
                        compare_list(&mut g, &format!("{key}[{i}]"), row, Some(rr), SCORE_REL);
                    }
                }
                let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
                let b = &m.beta_invpt;
                compare_list(
                    &mut g,
                    "beta_true_positives",
                    &f(&b.tp),
                    get("beta_true_positives"),
                    0.0,
                );
                compare_list(
                    &mut g,
                    "beta_predicted_positives",
                    &f(&b.pp),
                    get("beta_predicted_positives"),
                    0.0,
                );
                compare_list(
                    &mut g,
                    "beta_actual_positives",
                    &f(&b.ap),
                    get("beta_actual_positives"),
                    0.0,
                );
            }
            TaskMeter::Normals(m) => {
                let s = r.and_then(|r| r.get("v1_sums"));
                let sget = |k: &str| s.and_then(|s| s.get(k)).and_then(num);
                let mut req =
                    |what: &str, mine: f64, reference: Option<f64>, rel: f64| match reference {
                        Some(x) => g.compare_scalar(what, mine, x, rel),
                        None => g.fail(format!("the reference has no {what}")),
                    };
                req("v1_sums.n", m.n as f64, sget("n"), 0.0);
                req("v1_sums.mean", m.sum.value(), sget("mean"), SCORE_REL);
                for (k, c) in ["11.25", "22.5", "30"].iter().zip(m.below) {
                    req(&format!("v1_sums.{k}"), 100.0 * c as f64, sget(k), 0.0);
                }
                req(
                    "v2_sum_deg",
                    m.v2_sum.value(),
                    get("v2_sum_deg").and_then(num),
                    SCORE_REL,
                );
                req(
                    "v2_count",
                    m.v2_n as f64,
                    get("v2_count").and_then(num),
                    0.0,
                );
            }
        }
        groups.push(g);
    }
}

/// Compare Δm of the evaluator with a reference `delta_m` object.
pub(crate) fn compare_delta_m(ev: &Evaluator, dm: &Value, rel: f64, groups: &mut Vec<Group>) {
    let mut g = Group::new("delta_m");
    let mine = ev.scores();
    match (mine.get("delta_m"), dm.get("delta_m_percent").and_then(num)) {
        (Some(a), Some(b)) => g.compare_scalar("delta_m_percent", a, b, rel),
        (a, b) => g.fail(format!("delta_m: ours {a:?}, reference {b:?}")),
    }
    if let Some(anchor) = dm.get("anchor_check") {
        let scores = match anchor.get("inputs_percent") {
            Some(v) => match per_task(v, "anchor_check.inputs_percent") {
                Ok(s) => s,
                Err(e) => {
                    g.fail(e.to_string());
                    BTreeMap::new()
                }
            },
            None => {
                g.fail("anchor_check has no inputs_percent");
                BTreeMap::new()
            }
        };
        match (
            delta_m(&scores, &ev.baselines),
            anchor.get("delta_m_percent").and_then(num),
        ) {
            (Some(a), Some(b)) => g.compare_scalar("anchor_check", a, b, rel),
            (a, b) => g.fail(format!("anchor_check: ours {a:?}, reference {b:?}")),
        }
    }
    groups.push(g);
}

pub(crate) fn run(fx: &Fixture, _device: &Device) -> Result<Vec<Group>, ParityError> {
    let tasks: Vec<String> = serde_json::from_value(fx.field("tasks")?.clone())
        .map_err(|e| ParityError::Fixture(format!("metrics: tasks: {e}")))?;
    let nb = fx
        .field("batch_sizes")?
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| ParityError::Fixture("batch_sizes is not a list".into()))?;
    let mut spec = vec![];
    for t in &tasks {
        let shape = fx.tensor(&format!("batch0.logits.{t}"))?.shape().to_vec();
        spec.push((task(t)?, shape[1]));
    }
    let baselines = match fx.json.pointer("/delta_m/baselines") {
        Some(v) => baselines_from(v, "delta_m.baselines")?,
        None => {
            return Err(ParityError::Fixture(
                "sidecar has no delta_m.baselines".into(),
            ))
        }
    };
    let mut ev = Evaluator::new(&spec, baselines);
    for b in 0..nb {
        for t in &tasks {
            let l = fx.tensor(&format!("batch{b}.logits.{t}"))?;
            let g = fx.tensor(&format!("batch{b}.target.{t}"))?;
            let dims: [usize; 4] = l
                .shape()
                .to_vec()
                .try_into()
                .map_err(|_| ParityError::Fixture(format!("batch{b}.logits.{t}: not 4-D")))?;
            let lv = crate::compare::values::<f32>(l).map_err(ParityError::Fixture)?;
            let gv = crate::compare::values::<f32>(g).map_err(ParityError::Fixture)?;
            ev.update(task(t)?, &lv, dims, &gv);
        }
    }
    let mut groups = vec![];
    compare_internals(&ev, fx.field("meter_internals")?, &mut groups);
    compare_scores(&ev, fx.field("scores")?, SCORE_REL, &mut groups);
    compare_delta_m(&ev, fx.field("delta_m")?, SCORE_REL, &mut groups);
    Ok(groups)
}
