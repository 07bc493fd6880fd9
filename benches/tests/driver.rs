//! The bench driver (`cargo xtask bench` runs it) end to end: one JSON line per case, an
//! unknown case is a usage error.

use std::process::Command;

fn bench(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtlora-bench"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run mtlora-bench");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn bench_prints_json_per_case() {
    let (code, out) = bench(&[
        "--case",
        "tiny_64_infer_b1",
        "--runs",
        "2",
        "--json",
        "--no-record",
    ]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["case"], "tiny_64_infer_b1");
    for k in ["median_s", "min_s", "max_s"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
    assert!(v["min_s"].as_f64() <= v["median_s"].as_f64());
    assert!(v["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    let (code, out) = bench(&["--case", "nope", "--no-record"]);
    assert!(code == 2 && out.contains("unknown case"), "{out}");
}
