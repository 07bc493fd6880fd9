//! Run records: per-iteration log (CSV) and evaluation records (`metrics.json` +
//! `metrics.csv`). Every file is replaced atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

/// `(iteration, per-task losses…, total)` per optimizer step: what the loss plot draws.
pub type LossHistory = Vec<(usize, Vec<f64>)>;

/// Header of the per-iteration CSV for `tasks`.
pub fn iter_csv_header(tasks: &[String]) -> Vec<String> {
    let mut h: Vec<String> = ["iteration", "epoch", "lr"].map(String::from).to_vec();
    h.extend(tasks.iter().map(|t| format!("loss_{t}")));
    h.extend(["loss_total", "grad_norm", "clipped", "skipped"].map(String::from));
    h
}

/// The CSV fields of one iteration (the columns of [`iter_csv_header`]; per-task columns are
/// why this is a record, not a serde row).
pub fn iter_csv_record(r: &IterRecord) -> Vec<String> {
    let mut f = vec![
        r.iteration.to_string(),
        r.epoch.to_string(),
        format!("{:e}", r.lr),
    ];
    f.extend(r.losses.iter().map(f64::to_string));
    f.extend([
        r.total.to_string(),
        r.grad_norm.to_string(),
        (r.clipped as u8).to_string(),
        (r.skipped as u8).to_string(),
    ]);
    f
}

/// `(iteration, losses…, total)` of one CSV record of a run with `tasks` tasks (`None` when
/// malformed).
pub fn loss_history_row(r: &csv::StringRecord, tasks: usize) -> Option<(usize, Vec<f64>)> {
    let it = r.get(0)?.parse().ok()?;
    let vals: Option<Vec<f64>> = (3..4 + tasks)
        .map(|i| r.get(i).and_then(|x| x.parse().ok()))
        .collect();
    Some((it, vals?))
}

/// Read the per-iteration CSV back: `(iteration, losses…, total)`; malformed rows are left out.
pub fn read_iter_csv(path: &Path, tasks: usize) -> Result<LossHistory, TrainError> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(TrainError::record(path))?;
    Ok(r.records()
        .filter_map(Result::ok)
        .filter_map(|row| loss_history_row(&row, tasks))
        .collect())
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
    let json = serde_json::to_string_pretty(&doc)
        .map_err(|e| TrainError::Config(format!("metrics.json: {e}")))?;
    write_text(&dir.join("metrics.json"), &json)?;
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
    let path = dir.join("metrics.csv");
    let err = TrainError::record(&path);
    let mut w = csv::Writer::from_writer(vec![]);
    let header = ["epoch", "iteration"]
        .map(String::from)
        .into_iter()
        .chain(keys.iter().cloned())
        .chain(lk.iter().map(|k| format!("val_loss_{k}")));
    w.write_record(header).map_err(err)?;
    let cell = |v: Option<&f64>| v.map_or_else(String::new, f64::to_string);
    for r in history {
        let row = [r.epoch.to_string(), r.iteration.to_string()]
            .into_iter()
            .chain(keys.iter().map(|k| cell(r.scores.get(k))))
            .chain(lk.iter().map(|k| cell(r.val_loss.get(k))));
        w.write_record(row).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| err(e.into_error().into()))?;
    Ok(mtlora::state_dict::write_atomic(&path, &bytes)?)
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
        let mut w = csv::Writer::from_path(&p).unwrap();
        w.write_record(iter_csv_header(&["a".into(), "b".into()]))
            .unwrap();
        w.write_record(iter_csv_record(&r)).unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(
            read_iter_csv(&p, 2).unwrap(),
            vec![(3, vec![1.5, 0.25, 2.0])]
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "iteration,epoch,lr,loss_a,loss_b,loss_total,grad_norm,clipped,skipped\n3,1,1e-4,1.5,0.25,2,7,1,0\n"
        );
    }
}
