//! Every visible fixture of issue 2 passes `parity` (the same code as `cargo xtask parity`).

use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn assert_parity(name: &str) {
    let report = mtlora_parity::run(&fixture(name), &burn::tensor::Device::default()).unwrap();
    let text = report.render();
    println!("{text}");
    assert!(report.passed(), "{name}:\n{text}");
}

#[test]
fn model_forward() {
    assert_parity("model_forward.json");
}

#[test]
fn swin_backbone_only_and_pth_import() {
    assert_parity("swin_backbone_only.json");
}

#[test]
fn train_step() {
    assert_parity("train_step.json");
}

#[test]
fn losses() {
    assert_parity("losses.json");
}

#[test]
fn param_counts() {
    assert_parity("param_counts.json");
}

#[test]
fn shipped_configs_match_param_counts() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("param_counts.json")).unwrap())
            .unwrap();
    let dev = burn::tensor::Device::default();
    let mut checked = 0;
    for entry in counts["configs"].as_array().unwrap() {
        let file = entry["config_file"].as_str().unwrap();
        let stem = file.rsplit('/').next().unwrap().trim_end_matches(".yaml");
        let cfg = mtlora::ModelConfig::from_path(&root.join(format!("{stem}.toml"))).unwrap();
        let r = cfg.init(&dev).unwrap().param_report(&cfg);
        assert_eq!(
            r.total as u64,
            entry["total"].as_u64().unwrap(),
            "{stem} total"
        );
        assert_eq!(
            r.trainable as u64,
            entry["trainable"].as_u64().unwrap(),
            "{stem} trainable"
        );
        checked += 1;
    }
    assert_eq!(checked, 9);
}

#[test]
fn bad_fixture_paths_are_errors_not_panics() {
    let e = mtlora_parity::run(
        &fixture("does_not_exist.json"),
        &burn::tensor::Device::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("does_not_exist.json"), "{e}");
}

#[test]
fn pascal_mini() {
    assert_parity("pascal_mini.json");
}

#[test]
fn metrics() {
    assert_parity("metrics.json");
}

#[test]
fn lr_schedule() {
    assert_parity("lr_schedule.json");
}

#[test]
fn train_run() {
    assert_parity("train_run.json");
}
