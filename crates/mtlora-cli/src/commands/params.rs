//! `params`: parameter counts of a configuration.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

pub(crate) fn params(path: &Path, json: bool) -> Result<ExitCode> {
    let cfg = mtlora::ModelConfig::from_path(path)?;
    let device = crate::backend::choose(None)?.device;
    let report = cfg.init(&device)?.param_report(&cfg);
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("trainable_names");
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("config     {}", path.display());
    println!("total      {:>12}", report.total);
    println!("trainable  {:>12}", report.trainable);
    println!("frozen     {:>12}", report.frozen);
    println!("trainable breakdown:");
    for (k, v) in &report.breakdown_trainable {
        println!("  {k:<30} {v:>12}");
    }
    println!("trainable by category:");
    for (k, v) in &report.breakdown_trainable_fine {
        println!("  {k:<30} {v:>12}");
    }
    println!("total by category:");
    for (k, v) in &report.breakdown_total_fine {
        println!("  {k:<30} {v:>12}");
    }
    let m = &report.main_py_printout;
    println!(
        "main.py printout: trainable {} | decoder {} | lora {} | extra {} | total {} | total without lora {}",
        m.number_of_trainable_params, m.decoder_params, m.lora_params, m.extra_params, m.total_params, m.total_params_without_lora
    );
    Ok(ExitCode::SUCCESS)
}
