//! `cargo xtask <command>`: project commands.
//!
//! - `parity FIXTURE.json...` — rebuild each fixture from its sidecar, compare every captured
//!   tensor with the reference (FORMAT.md §12); prints `parity: PASS` / `parity: FAIL (...)`,
//!   exit code 0 only on PASS.
//! - `params --config FILE` — total / trainable / breakdown parameter counts of a config.
//! - `dataset verify ROOT` — check and decode every file of a PASCAL_MT folder; exit 1 on problems.
//! - `dataset synth OUT [--ids N] [--seed S]` — write a synthetic PASCAL_MT-format dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage:
  cargo xtask parity FIXTURE.json [FIXTURE.json ...]
  cargo xtask params --config CONFIG.toml|json [--json]
  cargo xtask dataset verify ROOT [--cache-dir DIR] [--threads N]
  cargo xtask dataset synth OUT [--ids N] [--seed S] [--size WxH]";

fn main() -> ExitCode {
    mtlora_pascal::tune_allocator();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        println!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match cmd.as_str() {
        "parity" => parity(&args[1..]),
        "params" => params(&args[1..]),
        "dataset" => dataset(&args[1..]),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

fn parity(files: &[String]) -> Result<ExitCode> {
    if files.is_empty() {
        bail!("parity needs at least one fixture sidecar (.json)\n{USAGE}");
    }
    let mut all_pass = true;
    for f in files {
        let path = PathBuf::from(f);
        println!("== {}", path.display());
        match mtlora_train::parity::run(&path) {
            Ok(report) => {
                print!("{}", report.render());
                all_pass &= report.passed();
            }
            Err(e) => {
                println!("error: {e}");
                println!("parity: FAIL (could not run)");
                all_pass = false;
            }
        }
    }
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn params(args: &[String]) -> Result<ExitCode> {
    let mut config = None;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = it.next().cloned(),
            "--json" => json = true,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let path = PathBuf::from(config.context("--config is required")?);
    let cfg = mtlora::ModelConfig::from_path(&path)?;
    let device = burn::tensor::Device::default();
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
    println!("main.py printout: trainable {} | decoder {} | lora {} | extra {} | total {} | total without lora {}",
        m.number_of_trainable_params, m.decoder_params, m.lora_params, m.extra_params, m.total_params, m.total_params_without_lora);
    Ok(ExitCode::SUCCESS)
}

fn dataset(args: &[String]) -> Result<ExitCode> {
    let Some(sub) = args.first() else {
        bail!("dataset needs a subcommand\n{USAGE}")
    };
    let mut positional = Vec::new();
    let mut opts = std::collections::HashMap::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if let Some(k) = a.strip_prefix("--") {
            let v = it.next().with_context(|| format!("--{k} needs a value"))?;
            opts.insert(k.to_string(), v.clone());
        } else {
            positional.push(a.clone());
        }
    }
    let path = PathBuf::from(positional.first().context("missing dataset folder")?);
    match sub.as_str() {
        "verify" => {
            let mut root = mtlora_pascal::PascalRoot::new(&path);
            if let Some(c) = opts.get("cache-dir") {
                root = root.with_cache_dir(c);
            }
            let threads = match opts.get("threads") {
                Some(t) => t.parse().context("--threads")?,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            };
            // (split, split start, last print)
            let state = std::sync::Mutex::new((
                String::new(),
                std::time::Instant::now(),
                std::time::Instant::now(),
            ));
            let report =
                mtlora_pascal::verify_with_progress(&root, threads, &|split, done, total| {
                    let mut st = state.lock().expect("progress lock");
                    if st.0 != split {
                        *st = (
                            split.to_string(),
                            std::time::Instant::now(),
                            std::time::Instant::now(),
                        );
                    }
                    if done == total || st.2.elapsed().as_millis() >= 500 {
                        st.2 = std::time::Instant::now();
                        let rate = done as f64 / st.1.elapsed().as_secs_f64().max(1e-9);
                        let eta = (total - done) as f64 / rate.max(1e-9);
                        eprint!("\r{split}: {done}/{total} ids  {rate:.0} ids/s  ETA {eta:.0}s   ");
                        if done == total {
                            eprintln!();
                        }
                    }
                });
            print!("{}", report.render(&path));
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "synth" => {
            let mut cfg = mtlora_pascal::SynthConfig::default();
            if let Some(n) = opts.get("ids") {
                cfg.ids = n.parse().context("--ids")?;
            }
            if let Some(s) = opts.get("seed") {
                cfg.seed = s.parse().context("--seed")?;
            }
            if let Some(s) = opts.get("size") {
                let (w, h) = s.split_once('x').context("--size WxH")?;
                cfg.sizes = vec![(
                    w.parse().context("--size W")?,
                    h.parse().context("--size H")?,
                )];
            }
            let (train, val) = mtlora_pascal::synthesize(&path, &cfg)?;
            println!(
                "wrote {} train and {} val ids to {}",
                train.len(),
                val.len(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown dataset subcommand {other:?}\n{USAGE}"),
    }
}
