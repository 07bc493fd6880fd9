//! Helpers shared by the whole-run test binaries (`run.rs`, `run_dp.rs`).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mtlora_pascal::{synthesize, SynthConfig};
use mtlora_train::run::RunOptions;
use mtlora_train::RunConfig;

const TINY: &str = include_str!("../../../../configs/mtlora_tiny_cpu.toml");

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mtlora-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn dataset(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    synthesize(
        &root,
        &SynthConfig {
            ids: 12,
            seed: 3,
            sizes: vec![(80, 72), (72, 96)],
        },
    )
    .unwrap();
    root
}

pub fn config() -> RunConfig {
    let text = format!(
        "{TINY}\n[train]\nepochs = 3\nwarmup_epochs = 1\nbatch_size = 2\neval_batch_size = 4\n\
         eval_every = 1\nckpt_every = 2\nworkers = 1\nseed = 11\nbase_lr = 0.05\nwarmup_lr = 0.0005\nmin_lr = 0.0005\n"
    );
    RunConfig::from_toml_str(&text).unwrap()
}

pub fn opts(out: &Path, data: &Path, cache: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        data: data.to_path_buf(),
        cache_dir: Some(cache.to_path_buf()),
        weights: None,
        resume: false,
        device: Device::default(),
        device_name: "test CPU".into(),
        stop_after_epochs: None,
        worker_devices: vec![],
    }
}
