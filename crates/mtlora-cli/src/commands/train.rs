//! `train`: a run from a configuration (or the embedded default), resumable.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use mtlora_train::run::RunOptions;
use mtlora_train::RunConfig;

use super::{device, timestamp, TrainArgs, DEFAULT_DATA, DEFAULT_TRAIN, TINY_MODEL};
use crate::progress::TrainProgress;

pub(crate) fn train(a: TrainArgs, quiet: bool) -> Result<ExitCode> {
    let chosen = device(a.device.as_deref(), quiet)?;
    let workers = crate::backend::workers(&chosen, a.devices.unwrap_or(1))?;
    let (cfg, name) = match &a.config {
        Some(p) => (
            Some(RunConfig::from_path(p)?),
            p.file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().to_string()),
        ),
        None if a.resume => (None, "run".into()),
        None => (
            Some(RunConfig::from_toml_str(&format!(
                "{TINY_MODEL}\n{DEFAULT_TRAIN}"
            ))?),
            "tiny-default".into(),
        ),
    };
    if a.resume && a.config.is_none() {
        for (flag, given) in [
            ("--epochs", a.epochs.is_some()),
            ("--devices", a.devices.is_some()),
        ] {
            if given {
                bail!(
                    "{flag} cannot change a resumed run: --resume continues the recipe stored in \
                     its checkpoint (the learning-rate schedule depends on it); start a new run \
                     with --out to train with another {flag}"
                );
            }
        }
    }
    let cfg = cfg.map(|mut c| {
        if let Some(d) = a.devices {
            c.train.data_parallel = d;
        }
        if let Some(e) = a.epochs {
            c.train.epochs = e;
            c.train.warmup_epochs = c.train.warmup_epochs.min(e);
        }
        c
    });
    if let Some(c) = &cfg {
        c.train.validate()?;
    }
    let out = match (&a.out, a.resume) {
        (Some(o), _) => o.clone(),
        (None, true) => bail!("--resume needs --out runs/NAME (the run to continue)"),
        (None, false) => PathBuf::from("runs").join(format!("{name}-{}", timestamp())),
    };
    let data = match &a.data {
        Some(d) => d.clone(),
        None => {
            let d = PathBuf::from(DEFAULT_DATA);
            if !d.join("ImageSets").exists() {
                eprintln!(
                    "synthesizing a mini PASCAL_MT dataset in {} ...",
                    d.display()
                );
                let (tr, va) = mtlora_pascal::synthesize(
                    &d,
                    &mtlora_pascal::SynthConfig {
                        ids: 96,
                        seed: 0,
                        ..Default::default()
                    },
                )?;
                eprintln!("  {} train / {} val images", tr.len(), va.len());
            }
            d
        }
    };
    let tasks = cfg
        .as_ref()
        .map(|c| c.model.task_names())
        .unwrap_or_default();
    let mut obs = TrainProgress::new(quiet, tasks);
    let opts = RunOptions {
        out: out.clone(),
        data,
        cache_dir: a.cache_dir.clone(),
        weights: a.weights.clone(),
        resume: a.resume,
        device: chosen.device.clone(),
        device_name: format!("{} — {}", chosen.backend, chosen.adapter),
        stop_after_epochs: None,
        worker_devices: workers,
    };
    let s = mtlora_train::run::train(cfg, &opts, &mut obs)?;
    let hist = &s.state.history;
    if let (Some(first), Some(last)) = (hist.first(), hist.last()) {
        let l = |r: &mtlora_train::record::EvalRecord| {
            r.val_loss.get("total").copied().unwrap_or(f64::NAN)
        };
        println!(
            "validation loss: {:.4} (epoch {}) -> {:.4} (epoch {})",
            l(first),
            first.epoch + 1,
            l(last),
            last.epoch + 1
        );
        println!(
            "last  (epoch {}): {}",
            last.epoch + 1,
            mtlora_train::run::summary_line(last)
        );
        if let Some((dm, e)) = s.state.best {
            println!("best Δm {dm:.2} % after epoch {}", e + 1);
        }
    }
    println!(
        "run folder: {} (metrics.csv, metrics.json, plots/, checkpoints/, train.log)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
