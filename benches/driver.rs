//! The bench driver (`cargo xtask bench` runs it): the benchmark cases of `benches/cases.rs`, each in its own child
//! process (so its peak memory is its own), print one table (or JSON lines), append the table
//! with machine, date, commit and command to `benches/RESULTS.md`, and optionally compare, in the
//! same run and with the same thread count, with the official MTLoRA code
//! (`benches/reference/bench_official.py`, checkout named by `MTLORA_OFFICIAL`) and timm's plain
//! Swin-T (`benches/reference/bench_torch.py`), and with this build's generic (unfused) kernels.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Fewer cases (the headline, tiny and linear ones) and fewer runs.
    #[arg(long)]
    quick: bool,
    /// One JSON object per case and line instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only these cases (repeat the flag; see `--list`).
    #[arg(long)]
    case: Vec<String>,
    /// List the case names.
    #[arg(long)]
    list: bool,
    /// Timed runs per case (default 10, `--quick` 3; one untimed warm-up run before).
    #[arg(long)]
    runs: Option<usize>,
    /// Repeat each case's measurements this many times, alternating ours and the references
    /// (`--compare`) or the generic kernels (`--ablate`): medians are medians of the rounds'
    /// medians, ratios medians of the per-round ratios (paired, so a VM that slows down between
    /// two processes shifts both sides of a round)
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Also time the PyTorch references in the same run and print ratios: the official MTLoRA
    /// model (needs `MTLORA_OFFICIAL` = a scale-lab/MTLoRA checkout) and timm's plain Swin-T.
    /// `MTLORA_PYTHON` selects the interpreter; without Python only our numbers print.
    #[arg(long)]
    compare: bool,
    /// Also time every case with the generic burn-op kernels (`MTLORA_KERNELS=generic`), in
    /// the same run: the before/after of the fused kernels.
    #[arg(long)]
    ablate: bool,
    /// Do not append to benches/RESULTS.md.
    #[arg(long)]
    no_record: bool,
    /// Internal: run one case in this process and print its JSON.
    #[arg(long, hide = true)]
    child: bool,
    /// Internal: the command line to record in benches/RESULTS.md (`cargo xtask bench ...`).
    #[arg(long, hide = true)]
    record_as: Option<String>,
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn stats(mut t: Vec<f64>) -> (f64, f64, f64) {
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let med = if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    };
    (med, t[0], t[n - 1])
}

fn child(case: &str, runs: usize) -> Result<()> {
    let device = mtlora_cli::backend::choose(None)?.device;
    let mut c = mtlora_benches::cases::build(case, &device)
        .with_context(|| format!("unknown case {case:?}"))?;
    (c.run)();
    let mut times = vec![];
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        (c.run)();
        times.push(t0.elapsed().as_secs_f64());
    }
    let (median, min, max) = stats(times);
    println!(
        "{}",
        json!({"case": case, "median_s": median, "min_s": min, "max_s": max,
               "peak_rss_bytes": peak_rss_bytes(), "images": c.images, "runs": runs,
               // GPU backends: bytes the allocator holds after the runs (≈ its peak)
               "device_reserved_bytes": device.memory_pool_usage().map(|u| u.bytes_reserved)})
    );
    Ok(())
}

fn machine() -> String {
    let cpu = mtlora_cli::backend::cpu_model();
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or(String::new(), |kb| {
            format!(", {:.0} GiB", kb as f64 / 1048576.0)
        });
    let backend = mtlora_cli::backend::choose(None).map_or_else(
        |e| format!("none ({e:#})"),
        |c| format!("{} — {}", c.backend, c.adapter),
    );
    format!("{cpu}, {n} threads{mem}, backend {backend}")
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// One PyTorch reference timing: `Ok(None)` when the script has no such case or is not set up
/// (missing Python, torch, or `MTLORA_OFFICIAL`), with a note on stderr.
fn reference(script: &str, case: &str, runs: usize) -> Result<Option<Value>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let py = std::env::var("MTLORA_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = match Command::new(&py)
        .arg(script)
        .args([
            "--case",
            case,
            "--runs",
            &runs.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("note: {py} not runnable ({e}); PyTorch columns left empty");
            return Ok(None);
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(3) {
            if !err.contains("no reference for case") && !err.contains("no official reference") {
                eprintln!("note: {script}: {}", err.trim());
            }
            return Ok(None);
        }
        if err.contains("ModuleNotFoundError") {
            eprintln!(
                "note: {script}: {} (pip install -r benches/reference/requirements.txt)",
                err.lines().last().unwrap_or("")
            );
            return Ok(None);
        }
        bail!("{script} failed:\n{err}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok()))
}

/// One row from the rounds of a case: medians of the numeric fields that are times or ratios,
/// the smallest minimum, the largest maximum and peak RSS; `rounds` says how many.
fn combine_rounds(rounds: Vec<Value>) -> Value {
    let mut out = rounds[0].clone();
    let n = rounds.len();
    out["rounds"] = json!(n);
    if n == 1 {
        return out;
    }
    let keys: Vec<String> = out
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    for k in keys {
        let vals: Vec<f64> = rounds.iter().filter_map(|r| r[&k].as_f64()).collect();
        if vals.len() != n {
            continue;
        }
        let v = if k == "min_s" {
            vals.iter().copied().fold(f64::INFINITY, f64::min)
        } else if k == "max_s" || k.ends_with("_bytes") {
            vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        } else if k.ends_with("_s") || k.starts_with("ratio_") {
            stats(vals).0
        } else {
            continue;
        };
        out[&k] = json!(v);
    }
    out
}

/// Runs one case in a child process of this binary (its own peak RSS).
fn run_child(exe: &Path, case: &str, runs: usize, generic: bool) -> Result<Value> {
    let mut cmd = Command::new(exe);
    cmd.args(["--child", "--case", case, "--runs", &runs.to_string()]);
    if generic {
        cmd.env("MTLORA_KERNELS", "generic");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "case {case} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or(""),
    )
    .with_context(|| format!("case {case}: no JSON result"))
}

pub fn run(a: BenchArgs, cmdline: String) -> Result<std::process::ExitCode> {
    use mtlora_benches::cases::{GPU_ONLY, NAMES, QUICK};
    let cmdline = a.record_as.clone().unwrap_or(cmdline);
    let runs = a.runs.unwrap_or(if a.quick { 3 } else { 10 });
    if a.child {
        child(a.case.first().context("--child needs --case")?, runs)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if a.list {
        for n in NAMES {
            println!("{n}");
        }
        for n in GPU_ONLY {
            println!("{n} (GPU only)");
        }
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let cases: Vec<&str> = if !a.case.is_empty() {
        a.case
            .iter()
            .map(|c| match NAMES.iter().chain(&GPU_ONLY).find(|n| *n == c) {
                Some(n) => Ok(*n),
                None => bail!("unknown case {c:?}; cases: {}", NAMES.join(", ")),
            })
            .collect::<Result<_>>()?
    } else if a.quick {
        QUICK.to_vec()
    } else {
        NAMES.to_vec()
    };
    let exe = std::env::current_exe()?;
    let mut rows = vec![];
    for case in cases {
        if !a.json {
            eprintln!("running {case} ({runs} runs) ...");
        }
        let mut per_round = vec![];
        for _ in 0..a.rounds.max(1) {
            let mut v = run_child(&exe, case, runs, false)?;
            if a.ablate {
                let g = run_child(&exe, case, runs, true)?;
                v["generic_median_s"] = g["median_s"].clone();
                v["generic_peak_rss_bytes"] = g["peak_rss_bytes"].clone();
            }
            if a.compare {
                for (key, script) in [
                    ("official", "benches/reference/bench_official.py"),
                    ("timm", "benches/reference/bench_torch.py"),
                ] {
                    if let Some(r) = reference(script, case, runs)? {
                        v[format!("{key}_median_s")] = r["median_s"].clone();
                        v[format!("{key}_peak_rss_bytes")] = r["peak_rss_bytes"].clone();
                        if let (Some(m), Some(p)) = (v["median_s"].as_f64(), r["median_s"].as_f64())
                        {
                            v[format!("ratio_vs_{key}")] = json!(m / p);
                        }
                    }
                }
            }
            per_round.push(v);
        }
        let v = combine_rounds(per_round);
        if a.json {
            println!("{v}");
        }
        rows.push(v);
    }
    let mut head = vec!["case", "median", "min–max", "images/s", "peak RSS"];
    if a.ablate {
        head.extend(["generic kernels", "generic / fused"]);
    }
    if a.compare {
        head.extend([
            "official MTLoRA",
            "official RSS",
            "ours / official",
            "timm Swin-T",
            "timm RSS",
            "ours / timm",
        ]);
    }
    let mut table = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for v in &rows {
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let ips = match v["images"].as_u64() {
            Some(n) if n > 0 => format!("{:.2}", n as f64 / f("median_s")),
            _ => "—".into(),
        };
        let mib = |k: &str| format!("{:.0} MiB", f(k) / 1048576.0);
        table.push_str(&format!(
            "| `{}` | {} | {}–{} | {ips} | {} |",
            v["case"].as_str().unwrap_or("?"),
            fmt_s(f("median_s")),
            fmt_s(f("min_s")),
            fmt_s(f("max_s")),
            mib("peak_rss_bytes")
        ));
        if a.ablate {
            table.push_str(&format!(
                " {} | {:.2} |",
                fmt_s(f("generic_median_s")),
                f("generic_median_s") / f("median_s")
            ));
        }
        if a.compare {
            for key in ["official", "timm"] {
                match v[format!("{key}_median_s")].as_f64() {
                    Some(p) => table.push_str(&format!(
                        " {} | {} | {:.2} |",
                        fmt_s(p),
                        mib(&format!("{key}_peak_rss_bytes")),
                        f(&format!("ratio_vs_{key}"))
                    )),
                    None => table.push_str(" — | — | — |"),
                }
            }
        }
        table.push('\n');
    }
    if !a.json {
        print!("{table}");
    }
    if !a.no_record {
        let date = mtlora_cli::timestamp();
        let section = format!(
            "\n## `cargo xtask bench` run {date} UTC\n\n- **Command:** `{cmdline}`\n- **Machine:** {}\n- **Commit:** {}\n- **Runs per case:** {runs} (after one warm-up run), each case in its own process{rounds}\n\n{table}",
            machine(),
            commit(),
            rounds = if a.rounds > 1 {
                format!("; {} alternating rounds (medians of round medians, ratios medians of per-round ratios)", a.rounds)
            } else {
                String::new()
            }
        );
        let path = Path::new("benches/RESULTS.md");
        let mut text =
            std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmark results\n".into());
        text.push_str(&section);
        mtlora::state_dict::write_atomic(path, text.as_bytes())?;
        if !a.json {
            eprintln!("appended to {}", path.display());
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn fmt_s(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}
