//! The `mtlora` binary end to end: `parity` exit codes and output, `dataset synth` + `verify`,
//! `params` on an official config, `init` + `diff`, `doctor`, refused recipes.

mod common;

use common::{mtlora, root, tmp};

#[test]
fn parity_passes_and_fails_with_the_right_exit_code() {
    let (code, out) = mtlora(&[
        "parity",
        "tests/fixtures/losses.json",
        "tests/fixtures/pascal_mini.json",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("parity: PASS").count(), 2, "{out}");

    // a corrupted copy of a fixture must fail with exit code 1
    let scratch = tmp("scratch");
    let dir = scratch.path();
    let mut sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/losses.json")).unwrap(),
    )
    .unwrap();
    sidecar["cases"][0]["official_value"] = serde_json::json!(1.0);
    std::fs::write(dir.join("losses.json"), sidecar.to_string()).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/losses.safetensors"),
        dir.join("losses.safetensors"),
    )
    .unwrap();
    let (code, out) = mtlora(&["parity", dir.join("losses.json").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("parity: FAIL (1 of"), "{out}");
}

#[test]
fn dataset_synth_then_verify() {
    let scratch = tmp("scratch");
    let dir = scratch.path().join("synth");
    let d = dir.to_str().unwrap();
    let (code, out) = mtlora(&[
        "dataset", "synth", d, "--ids", "6", "--seed", "4", "--size", "48x36",
    ]);
    assert_eq!(code, 0, "{out}");
    let cache = format!("{d}-cache");
    let (code, out) = mtlora(&["dataset", "verify", d, "--cache-dir", &cache]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("split train ids      3") && out.contains("problems: none"),
        "{out}"
    );
    std::fs::remove_file(dir.join("sal_distill/2009_000005.png")).unwrap();
    let (code, out) = mtlora(&["dataset", "verify", d, "--cache-dir", &cache]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sal_distill/2009_000005.png"), "{out}");
}

#[test]
fn params_of_the_released_config() {
    let (code, out) = mtlora(&[
        "params",
        "--config",
        "configs/mtlora_tiny_448_r64_scale4_pertask.toml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("34262906") && out.contains("8344634"), "{out}");
}

#[test]
fn init_is_repeatable_and_diff_tells_identical_from_different() {
    let dir = tmp("init-diff");
    let f = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    for (name, seed) in [("a", "3"), ("b", "3"), ("c", "4")] {
        let (code, out) = mtlora(&[
            "--quiet",
            "init",
            "--seed",
            seed,
            "--out",
            &f(&format!("{name}.safetensors")),
        ]);
        assert_eq!(code, 0, "{out}");
    }
    let (code, out) = mtlora(&["diff", &f("a.safetensors"), &f("b.safetensors")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("identical") && out.contains("PASS"), "{out}");
    let (code, out) = mtlora(&["diff", &f("a.safetensors"), &f("c.safetensors")]);
    assert_eq!(code, 1, "another seed must differ: {out}");
    assert!(out.contains("FAIL"), "{out}");
    // a loose enough tolerance accepts the difference
    let (code, out) = mtlora(&[
        "diff",
        &f("a.safetensors"),
        &f("c.safetensors"),
        "--atol",
        "100",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn doctor_names_this_builds_backends() {
    let (code, out) = mtlora(&["doctor"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("backends in this binary: flex"), "{out}");
    assert!(
        out.contains("cuda: the build downloads an LLVM bundle"),
        "{out}"
    );
}

#[test]
fn absurd_recipe_values_are_refused_by_name() {
    let dir = tmp("absurd");
    let out = dir.path().join("run");
    let (code, text) = mtlora(&[
        "train",
        "--epochs",
        "18446744073709551615",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "an error, not a panic (101): {text}");
    assert!(
        text.contains("train.epochs") && !text.contains("panicked"),
        "{text}"
    );
    assert!(!out.exists(), "nothing is written for a refused config");
}
