//! `cargo xtask` is the `mtlora` command line plus `bench`: its help lists both, and a product
//! command runs through it unchanged.

use std::process::Command;

fn xtask(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run xtask");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_lists_the_product_commands_and_bench() {
    let (code, text) = xtask(&["--help"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Usage: cargo xtask"), "{text}");
    for cmd in [
        "train", "eval", "predict", "parity", "params", "dataset", "bench",
    ] {
        assert!(text.contains(cmd), "{cmd} missing:\n{text}");
    }
}

#[test]
fn a_product_command_runs_through_xtask() {
    let (code, text) = xtask(&[
        "params",
        "--config",
        "configs/mtlora_tiny_448_r64_scale4_pertask.toml",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("34262906") && text.contains("8344634"),
        "{text}"
    );
    let (code, text) = xtask(&["trian"]);
    assert_eq!(code, 2, "{text}");
}
