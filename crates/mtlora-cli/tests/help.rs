//! The `mtlora` binary: its help lists the product commands, and a bad invocation is a usage
//! error, not a panic.

mod common;

use common::mtlora;

#[test]
fn help_lists_every_product_command() {
    let (code, text) = mtlora(&["--help"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Usage: mtlora"), "{text}");
    for cmd in [
        "train", "eval", "predict", "parity", "doctor", "diff", "init", "params", "dataset",
    ] {
        assert!(text.contains(cmd), "{cmd} missing:\n{text}");
    }
    // developer chores stay in `cargo xtask`
    assert!(!text.contains("bench"), "{text}");
}

#[test]
fn params_of_the_shipped_tiny_config_and_a_usage_error() {
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/mtlora_tiny_cpu.toml"
    );
    let (code, text) = mtlora(&["params", "--config", cfg, "--json"]);
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON");
    assert!(
        v.get("total")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
            > 0,
        "{text}"
    );
    let (code, text) = mtlora(&["trian"]);
    assert_eq!(code, 2, "{text}");
}
