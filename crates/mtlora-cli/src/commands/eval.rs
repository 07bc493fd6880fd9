//! `eval`: all metrics and Δm of a checkpoint on a PASCAL_MT split.

use std::process::ExitCode;

use anyhow::{Context, Result};
use mtlora_metrics::Baselines;

use super::{device, EvalArgs};
use crate::progress::bar;

pub(crate) fn eval(a: EvalArgs, quiet: bool) -> Result<ExitCode> {
    let dev = device(a.device.as_deref(), quiet)?.device;
    let loaded = mtlora_train::inference::load(&a.checkpoint, a.config.as_deref(), &dev)?;
    let baselines = match loaded.run.as_ref() {
        Some(r) => Baselines::from_names(&r.train.delta_m_baselines)
            .context("the checkpoint's train.delta_m_baselines")?,
        None => Baselines::default(),
    };
    struct P(Option<indicatif::ProgressBar>, bool);
    impl mtlora_train::run::Observer for P {
        fn eval_start(&mut self, _: usize, n: usize) {
            self.0 = Some(bar(n as u64, "eval".into(), self.1));
        }
        fn eval_batch(&mut self) {
            if let Some(b) = &self.0 {
                b.inc(1);
            }
        }
    }
    let mut p = P(None, quiet);
    let rec = mtlora_train::inference::evaluate(
        &loaded,
        &a.data,
        a.cache_dir.as_deref(),
        &a.split,
        a.batch_size,
        a.workers,
        baselines,
        &dev,
        &mut p,
    )?;
    if let Some(b) = p.0 {
        b.finish_and_clear();
    }
    let out = a.out.clone().unwrap_or_else(|| {
        let stem = a
            .checkpoint
            .file_stem()
            .map_or("checkpoint".into(), |s| s.to_string_lossy().to_string());
        a.checkpoint
            .with_file_name(format!("{stem}.eval-{}.json", a.split))
    });
    let doc = serde_json::json!({
        "checkpoint": a.checkpoint,
        "split": a.split,
        "scores": rec.scores,
        "per_class_iou": rec.per_class,
        "val_loss": rec.val_loss,
        "notes": {"normals.mean_angle_deg": "mean angular error (the papers' 'rmse' column)", "delta_m": "percent"}
    });
    // the metrics first: a file that cannot be written must not cost the evaluation
    for (k, v) in &rec.scores {
        println!("{k:<30} {v:>10.4}");
    }
    mtlora_train::record::write_text(&out, &serde_json::to_string_pretty(&doc)?)?;
    println!("written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
