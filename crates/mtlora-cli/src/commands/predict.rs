//! `predict`: per-task PNGs (and raw outputs) for images.

use std::process::ExitCode;

use anyhow::Result;

use super::{device, PredictArgs};
use crate::progress::bar;

pub(crate) fn predict(a: PredictArgs, quiet: bool) -> Result<ExitCode> {
    let dev = device(a.device.as_deref(), quiet)?.device;
    let loaded = mtlora_train::inference::load(&a.checkpoint, a.config.as_deref(), &dev)?;
    mtlora_train::run::ensure_writable(&a.out)?;
    let model = loaded.merged();
    let pb = bar(a.image.len() as u64, "predict".into(), quiet);
    for img in &a.image {
        let p = crate::predict::predict(&loaded, &model, img, a.raw, &dev)?;
        let stem = img
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy().to_string());
        let mut files = crate::predict::write_prediction(&a.out, &stem, &p)?;
        if a.raw {
            files.push(crate::predict::write_raw(&a.out, &stem, &p)?);
        }
        for f in files {
            pb.println(format!("wrote {}", f.display()));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(ExitCode::SUCCESS)
}
