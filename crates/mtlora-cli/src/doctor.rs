//! `cargo xtask doctor`: which backends this binary has, which adapters it sees, and what the
//! other backends need (facts checked on this machine, not guesses).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::backend;

/// The LLVM bundle that burn's `cuda` feature downloads at build time (tracel-llvm-bundler
/// 23.1.0-4, pulled in by cubecl-cuda 0.11.3).
const LLVM_BUNDLE: &str = "tracel-llvm-23.1.0-4";
const LLVM_URL: &str = "https://github.com/tracel-ai/tracel-llvm/releases/download/v23.1.0-4/";

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn data_local() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home().map(|h| h.join(".local/share")))
}

fn first_existing(paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

/// Vulkan ICD manifests (drivers) the loader would find.
fn vulkan_icds() -> Vec<String> {
    let mut out = vec![];
    for dir in ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                out.push(e.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn vulkan_loader() -> Option<String> {
    first_existing(&[
        "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
        "/usr/lib/aarch64-linux-gnu/libvulkan.so.1",
        "/usr/lib64/libvulkan.so.1",
        "/usr/lib/libvulkan.so.1",
    ])
}

fn nvidia_driver() -> Option<String> {
    std::fs::read_to_string("/proc/driver/nvidia/version")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Print the report.
pub fn run() -> Result<ExitCode> {
    let have = backend::compiled_backends();
    println!("backends in this binary: {}", have.join(", "));
    println!(
        "default device: {}",
        match backend::choose(None) {
            Ok(c) => format!("{} — {}", c.backend, c.adapter),
            Err(e) => format!("none ({e:#})"),
        }
    );
    if backend::compiled("flex") {
        println!(
            "  flex: CPU, {} threads (RAYON_NUM_THREADS to change), AVX2+FMA {}, AVX-512F {}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            yes(cpu_has("avx2") && cpu_has("fma")),
            yes(cpu_has("avx512f")),
        );
    }
    let adapters = backend::adapters();
    for (b, kind, name) in &adapters {
        println!("  {b}: {kind}: {name}");
    }
    if (backend::compiled("wgpu") || backend::compiled("vulkan")) && adapters.is_empty() {
        println!("  wgpu: no adapter found");
    }

    println!();
    println!("what the backends need on this machine:");
    let loader = vulkan_loader();
    let icds = vulkan_icds();
    println!(
        "  wgpu / vulkan: build offline (`cargo build --release -p xtask --no-default-features \
         --features wgpu` or `vulkan`; a cold build takes 30-40 min on 2 cores); at run time a Vulkan loader \
         ({}) and a driver manifest ({}); the software device comes with Debian's \
         `mesa-vulkan-drivers libvulkan1` (llvmpipe: correct, slow)",
        loader.as_deref().unwrap_or("libvulkan.so.1 NOT FOUND"),
        if icds.is_empty() {
            "none found in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d".to_string()
        } else {
            icds.join(", ")
        },
    );
    println!(
        "  vulkan vs wgpu: `vulkan` compiles kernels to SPIR-V (CubeCL's own compiler; can use \
         tensor cores on NVIDIA), `wgpu` to WGSL; on an NVIDIA card prefer `vulkan`, and check \
         above that the adapter is the card, not llvmpipe (NVIDIA's Vulkan ICD must be present)"
    );
    let bundle = data_local().map(|d| d.join("tracel").join(LLVM_BUNDLE));
    let installed = bundle
        .as_ref()
        .is_some_and(|b| b.join(".tracel-llvm-installed").exists());
    let cache = home().map(|h| h.join(".cache/tracel"));
    let cached = cache.as_ref().is_some_and(|c| {
        c.join(format!("{LLVM_BUNDLE}-linux-x64.tar.xz")).exists()
            && c.join(format!("{LLVM_BUNDLE}-linux-x64.checksums.json"))
                .exists()
    });
    println!(
        "  cuda: the build downloads an LLVM bundle ({LLVM_URL}linux-x64.tar.xz and \
         linux-x64.checksums.json) in tracel-llvm-bundler's build script, so it needs network \
         access to github.com once, or a pre-seeded bundle: installed at {} ({}), or both files \
         placed in {} as {LLVM_BUNDLE}-linux-x64.tar.xz / .checksums.json ({}) with \
         TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD=1; at run time the NVIDIA driver ({})",
        bundle
            .as_ref()
            .map_or("?".into(), |b| b.display().to_string()),
        if installed { "present" } else { "absent" },
        cache
            .as_ref()
            .map_or("?".into(), |c| c.display().to_string()),
        if cached { "present" } else { "absent" },
        nvidia_driver().unwrap_or_else(|| "no /proc/driver/nvidia/version: absent".into()),
    );
    for b in backend::BACKENDS {
        if !backend::compiled(b) {
            println!(
                "  {b} is not in this binary: `cargo run --release -p xtask \
                 --no-default-features --features {b} -- …`"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cpu_has(flag: &str) -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == flag))
    })
}
