//! Run records: per-iteration log (CSV), evaluation records (`metrics.json` + `metrics.csv`)
//! and the run's plots (drawn by [`crate::plot`]). Every file is replaced atomically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use mtlora_tasks::Task;
use serde::{Deserialize, Serialize};

use crate::plot;
use crate::trainer::IterRecord;
use crate::TrainError;

/// One evaluation of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// 0-based epoch after which it ran.
    pub epoch: usize,
    /// Optimizer steps done at that point.
    pub iteration: usize,
    /// Named scores (metrics.md §8 names; mIoU-type values in percent) incl. `delta_m`.
    pub scores: BTreeMap<String, f64>,
    /// Per-class IoU (percent).
    pub per_class: BTreeMap<String, Vec<f64>>,
    /// Mean validation loss per task and `total`.
    pub val_loss: BTreeMap<String, f64>,
}

impl EvalRecord {
    /// The record of an evaluation after `epoch` (0-based) at optimizer step `iteration`.
    pub fn from_result(
        epoch: usize,
        iteration: usize,
        tasks: &[String],
        res: &crate::trainer::EvalResult,
    ) -> Self {
        let n = tasks.len();
        Self {
            epoch,
            iteration,
            scores: res.scores.values.clone(),
            per_class: res.scores.per_class.clone(),
            val_loss: crate::trainer::named_losses(tasks, &res.val_losses[..n], res.val_losses[n]),
        }
    }
}

/// Write `text` to `path` atomically.
pub fn write_text(path: &Path, text: &str) -> Result<(), TrainError> {
    Ok(mtlora::state_dict::write_atomic(path, text.as_bytes())?)
}

/// Header of the per-iteration CSV for `tasks`.
pub fn iter_csv_header(tasks: &[String]) -> String {
    let mut h = String::from("iteration,epoch,lr");
    for t in tasks {
        let _ = write!(h, ",loss_{t}");
    }
    h.push_str(",loss_total,grad_norm,clipped,skipped");
    h
}

/// One CSV row of an iteration.
pub fn iter_csv_row(r: &IterRecord) -> String {
    let mut s = format!("{},{},{:e}", r.iteration, r.epoch, r.lr);
    for l in &r.losses {
        let _ = write!(s, ",{l}");
    }
    let _ = write!(
        s,
        ",{},{},{},{}",
        r.total, r.grad_norm, r.clipped as u8, r.skipped as u8
    );
    s
}

/// Parse the per-iteration CSV back: `(iteration, losses…, total)`.
pub fn read_iter_csv(path: &Path, tasks: usize) -> Vec<(usize, Vec<f64>)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    parse_iter_rows(text.lines().skip(1), tasks)
}

/// Parse per-iteration CSV rows (no header): `(iteration, losses…, total)`; malformed rows are
/// left out.
pub fn parse_iter_rows<'a>(
    rows: impl IntoIterator<Item = &'a str>,
    tasks: usize,
) -> Vec<(usize, Vec<f64>)> {
    rows.into_iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 4 + tasks {
                return None;
            }
            let it = f[0].parse().ok()?;
            let vals: Option<Vec<f64>> = f[3..4 + tasks].iter().map(|x| x.parse().ok()).collect();
            Some((it, vals?))
        })
        .collect()
}

/// Write `metrics.json` (all evaluations, plus last/best summary) and `metrics.csv`.
pub fn write_metrics(
    dir: &Path,
    history: &[EvalRecord],
    best: Option<(f64, usize)>,
    device: &str,
) -> Result<(), TrainError> {
    let last = history.last();
    let best_rec = best.and_then(|(_, e)| history.iter().find(|r| r.epoch == e));
    let doc = serde_json::json!({
        "evaluations": history,
        "last": last,
        "best_by_delta_m": best_rec,
        "device": device,
        "notes": {
            "normals.mean_angle_deg": "mean angular error; the column MTLoRA tables call 'rmse'",
            "normals.rmse_angle_deg": "true RMSE of the angular error; not comparable with the papers' 'rmse'",
            "sal.miou_maxthr": "max over 15 thresholds of the mean per-image IoU: the paper's 'Saliency mIoU'",
            "sal.maxf_beta_invpt_compat": "InvPT-family 'maxF' (double sigmoid)",
            "delta_m": "percent, against train.delta_m_baselines",
        }
    });
    write_text(
        &dir.join("metrics.json"),
        &serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )?;
    let mut keys: Vec<String> = history
        .iter()
        .flat_map(|r| r.scores.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let mut lk: Vec<String> = history
        .iter()
        .flat_map(|r| r.val_loss.keys().cloned())
        .collect();
    lk.sort();
    lk.dedup();
    let mut csv = String::from("epoch,iteration");
    for k in &keys {
        let _ = write!(csv, ",{k}");
    }
    for k in &lk {
        let _ = write!(csv, ",val_loss_{k}");
    }
    csv.push('\n');
    for r in history {
        let _ = write!(csv, "{},{}", r.epoch, r.iteration);
        for k in &keys {
            let _ = write!(
                csv,
                ",{}",
                r.scores.get(k).map(|v| v.to_string()).unwrap_or_default()
            );
        }
        for k in &lk {
            let _ = write!(
                csv,
                ",{}",
                r.val_loss.get(k).map(|v| v.to_string()).unwrap_or_default()
            );
        }
        csv.push('\n');
    }
    write_text(&dir.join("metrics.csv"), &csv)
}

/// Write `plots/loss.svg` (training loss per task, log scale), `plots/metrics.svg` (the Δm
/// inputs per evaluation) and `plots/delta_m.svg`.
pub fn write_plots(
    dir: &Path,
    tasks: &[String],
    iters: &[(usize, Vec<f64>)],
    history: &[EvalRecord],
) -> Result<(), TrainError> {
    let plots = dir.join("plots");
    let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![];
    for (i, name) in tasks
        .iter()
        .chain(std::iter::once(&"total".to_string()))
        .enumerate()
    {
        series.push((
            name.clone(),
            iters
                .iter()
                .filter_map(|(k, v)| v.get(i).map(|&y| (*k as f64, y)))
                .collect(),
        ));
    }
    write_text(
        &plots.join("loss.svg"),
        &plot::svg_chart(
            "training loss per task (unweighted; total weighted)",
            "iteration",
            &series,
            true,
        ),
    )?;
    let keys: Vec<&str> = Task::ALL.iter().filter_map(|t| t.delta_m_key()).collect();
    let series: Vec<(String, Vec<(f64, f64)>)> = keys
        .iter()
        .filter(|k| history.iter().any(|r| r.scores.contains_key(**k)))
        .map(|k| {
            (
                k.to_string(),
                history
                    .iter()
                    .filter_map(|r| r.scores.get(*k).map(|v| (r.epoch as f64, *v)))
                    .collect(),
            )
        })
        .collect();
    write_text(
        &plots.join("metrics.svg"),
        &plot::svg_chart(
            "validation metrics (mIoU %, normals degrees)",
            "epoch",
            &series,
            false,
        ),
    )?;
    let dm = vec![(
        "delta_m (%)".to_string(),
        history
            .iter()
            .filter_map(|r| r.scores.get("delta_m").map(|v| (r.epoch as f64, *v)))
            .collect(),
    )];
    write_text(
        &plots.join("delta_m.svg"),
        &plot::svg_chart("Δm against single-task baselines", "epoch", &dm, false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_roundtrip() {
        let r = IterRecord {
            iteration: 3,
            epoch: 1,
            lr: 1e-4,
            losses: vec![1.5, 0.25],
            total: 2.0,
            grad_norm: 7.0,
            clipped: true,
            clip_coef: 0.7,
            skipped: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("it.csv");
        std::fs::write(
            &p,
            format!(
                "{}\n{}\n",
                iter_csv_header(&["a".into(), "b".into()]),
                iter_csv_row(&r)
            ),
        )
        .unwrap();
        assert_eq!(read_iter_csv(&p, 2), vec![(3, vec![1.5, 0.25, 2.0])]);
    }
}
