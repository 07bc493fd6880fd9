//! `init` and `diff`: a seed's initial model, and key-by-key comparison of tensor files.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use mtlora_train::RunConfig;

use super::{device, DEFAULT_TRAIN, TINY_MODEL};

pub(crate) fn init(
    config: Option<&Path>,
    seed: Option<u64>,
    device_name: Option<&str>,
    out: &Path,
    quiet: bool,
) -> Result<ExitCode> {
    let dev = device(device_name, quiet)?.device;
    let run = match config {
        Some(p) => RunConfig::from_path(p)?,
        None => RunConfig::from_toml_str(&format!("{TINY_MODEL}\n{DEFAULT_TRAIN}"))?,
    };
    let seed = seed.unwrap_or(run.train.seed);
    let model = run.model.init_seeded(seed, &dev)?;
    model.save_checkpoint(out, &run.model)?;
    println!("initial state (seed {seed}) written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn diff(a: &Path, b: &Path, atol: f64) -> Result<ExitCode> {
    let sa = mtlora::read_state_dict(a)?;
    let sb = mtlora::read_state_dict(b)?;
    let only_a: Vec<&String> = sa.keys().filter(|k| !sb.contains_key(*k)).collect();
    let only_b: Vec<&String> = sb.keys().filter(|k| !sa.contains_key(*k)).collect();
    let mut ok = only_a.is_empty() && only_b.is_empty();
    for k in &only_a {
        println!("only in {}: {k}", a.display());
    }
    for k in &only_b {
        println!("only in {}: {k}", b.display());
    }
    let (mut worst, mut worst_key, mut identical) = (0.0f64, String::new(), 0usize);
    for (k, ta) in &sa {
        let Some(tb) = sb.get(k) else { continue };
        if ta.shape() != tb.shape() {
            println!("{k}: shape {:?} vs {:?}", ta.shape(), tb.shape());
            ok = false;
            continue;
        }
        let (va, vb): (Vec<f64>, Vec<f64>) = match (
            ta.clone().convert::<f64>().try_into_vec::<f64>(),
            tb.clone().convert::<f64>().try_into_vec::<f64>(),
        ) {
            (Ok(x), Ok(y)) => (x, y),
            _ => {
                println!("{k}: not a numeric tensor");
                ok = false;
                continue;
            }
        };
        let mut max_abs = 0.0f64;
        let mut max_ref = 0.0f64;
        for (x, y) in va.iter().zip(&vb) {
            let d = if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (x - y).abs()
            };
            max_abs = if d.is_nan() {
                f64::INFINITY
            } else {
                max_abs.max(d)
            };
            max_ref = max_ref.max(x.abs());
        }
        if max_abs == 0.0 {
            identical += 1;
        } else {
            println!(
                "{k}: max|a-b| {max_abs:.3e} (max|a| {max_ref:.3e}, rel {:.3e})",
                max_abs / max_ref.max(f64::MIN_POSITIVE)
            );
        }
        if max_abs > worst {
            worst = max_abs;
            worst_key = k.clone();
        }
        ok &= max_abs <= atol;
    }
    println!(
        "{} common tensors, {identical} identical; largest difference {worst:.3e}{} (atol {atol:e}): {}",
        sa.len() - only_a.len(),
        if worst_key.is_empty() { String::new() } else { format!(" in {worst_key}") },
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
