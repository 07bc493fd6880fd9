//! Shared helpers of the `mtlora` binary's tests.

#![allow(dead_code)] // each test file uses a part

use std::path::PathBuf;
use std::process::Command;

/// The repository root (the tests run there, as a user would).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `mtlora args…` in the repository root: exit code and stdout + stderr.
pub fn mtlora(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtlora"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run mtlora");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A fresh folder, removed with everything in it when the guard drops (also on failure).
pub fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("mtlora-cli-{name}-"))
        .tempdir()
        .expect("temp folder")
}
