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
    let stems = unique_stems(&a.image);
    for (img, stem) in a.image.iter().zip(stems) {
        let plain = img.file_stem().map(|s| s.to_string_lossy().to_string());
        if plain.as_deref() != Some(stem.as_str()) {
            pb.println(format!(
                "{}: another image has the same name; its outputs are named {stem}_*",
                img.display()
            ));
        }
        let p = crate::predict::predict(&loaded, &model, img, a.raw, &dev)?;
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

/// Output stems, one per image: the file stem, with `_2`, `_3`, … appended where images share
/// one (`a/x.jpg` and `b/x.jpg`, or `x.jpg` and `x.png`), so no image's outputs overwrite
/// another's.
fn unique_stems(images: &[std::path::PathBuf]) -> Vec<String> {
    let mut taken = std::collections::BTreeSet::<String>::new();
    images
        .iter()
        .map(|img| {
            let base = img
                .file_stem()
                .map_or("image".into(), |s| s.to_string_lossy().to_string());
            let mut stem = base.clone();
            let mut k = 1;
            while !taken.insert(stem.clone()) {
                k += 1;
                stem = format!("{base}_{k}");
            }
            stem
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::unique_stems;

    #[test]
    fn images_sharing_a_name_get_distinct_stems() {
        let p = |s: &str| std::path::PathBuf::from(s);
        let stems = unique_stems(&[
            p("a/x.jpg"),
            p("b/x.jpg"),
            p("x.png"),
            p("y.jpg"),
            p("x_2.jpg"),
        ]);
        assert_eq!(stems, ["x", "x_2", "x_3", "y", "x_2_2"]);
    }
}
