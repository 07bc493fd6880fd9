//! The benchmark cases shared by the criterion benches (`benches/model.rs`) and
//! `cargo xtask bench`: each case is built once (weights, inputs) and returns a closure that
//! runs the timed work and waits for the device (`Device::sync`).

use burn::tensor::{Device, Distribution, Tensor};
use mtlora::{ModelConfig, MultiTaskSwin};
use mtlora_lora::BaseLinearConfig;
use mtlora_pascal::dataset::{DatasetConfig, PascalDataset, PascalLoader};
use mtlora_pascal::{PascalRoot, Task, TransformConfig};
use mtlora_train::{Batch, TrainConfig, Trainer};

const R64: &str = include_str!("../configs/mtlora_tiny_448_r64_scale4_pertask.toml");
const TINY: &str = include_str!("../configs/mtlora_tiny_cpu.toml");

/// A prepared case.
pub struct Case {
    /// Name (`mtlora_r64_448_infer_b1`, ...).
    pub name: &'static str,
    /// Images per run (0 for building blocks).
    pub images: usize,
    /// One timed run (ends with `device.sync()`).
    pub run: Box<dyn FnMut()>,
}

/// Every case, in report order: the two headline cases first.
pub const NAMES: [&str; 12] = [
    "mtlora_r64_448_infer_b1",
    "mtlora_r64_448_train_b2",
    "tiny_64_infer_b1",
    "tiny_64_train_b2",
    "tiny_64_epoch_loader",
    "tiny_64_epoch_compute",
    "block_mtlora_linear_fc1_s0",
    "block_plain_linear_fc1_s0",
    "block_window_attention_shifted_s0",
    "block_patch_merging_s0",
    "block_hrnet_head",
    "block_downsampler",
];

/// Larger training batches for a GPU (scaling and device memory; too slow and large for the
/// 2-core CPU, so in no default list): `cargo xtask bench --case mtlora_r64_448_train_b8`.
pub const GPU_ONLY: [&str; 2] = ["mtlora_r64_448_train_b8", "mtlora_r64_448_train_b32"];

/// Cases of `cargo xtask bench --quick`.
pub const QUICK: [&str; 6] = [
    "mtlora_r64_448_infer_b1",
    "mtlora_r64_448_train_b2",
    "tiny_64_infer_b1",
    "tiny_64_train_b2",
    "block_mtlora_linear_fc1_s0",
    "block_plain_linear_fc1_s0",
];

fn config(name: &str) -> ModelConfig {
    let text = if name.starts_with("tiny") { TINY } else { R64 };
    ModelConfig::from_toml_str(text).expect("shipped config")
}

fn targets(cfg: &ModelConfig, b: usize, device: &Device) -> Vec<Tensor<4>> {
    let heads = mtlora_train::task_heads(cfg).expect("shipped tasks");
    mtlora_train::heads::random_targets(&heads, b, cfg.img_size, device)
}

fn infer(name: &'static str, device: &Device) -> Case {
    let cfg = config(name);
    // what `predict` runs: shared LoRA branches folded into the frozen weights
    let (model, _) = cfg.init(device).expect("model").merge_for_inference();
    let [h, w] = cfg.img_size;
    let x = Tensor::<4>::random([1, 3, h, w], Distribution::Normal(0.0, 1.0), device);
    let dev = device.clone();
    Case {
        name,
        images: 1,
        run: Box::new(move || {
            let out = model.forward(x.clone());
            std::hint::black_box(out);
            dev.sync().expect("sync");
        }),
    }
}

fn train(name: &'static str, device: &Device) -> Case {
    let cfg = config(name);
    let ad = device.clone().autodiff();
    let model = cfg.init(&ad).expect("model");
    let mut trainer = Trainer::new(
        cfg.clone(),
        TrainConfig::default(),
        model,
        ad.clone(),
        device.clone(),
        156,
    )
    .expect("trainer");
    let [h, w] = cfg.img_size;
    let b: usize = name
        .rsplit_once("_b")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(2);
    let batch = Batch {
        image: Tensor::random([b, 3, h, w], Distribution::Normal(0.0, 1.0), &ad),
        targets: targets(&cfg, b, &ad),
    };
    let dev = device.clone();
    Case {
        name,
        images: b,
        run: Box::new(move || {
            // forward, weighted loss, backward, global clipping, AdamW (reads back the losses)
            std::hint::black_box(trainer.step(std::slice::from_ref(&batch), 0));
            dev.sync().expect("sync");
        }),
    }
}

/// Batch size and decode threads of the epoch cases (those of the embedded default run).
const EPOCH_BATCH: usize = 4;
const EPOCH_WORKERS: usize = 2;

/// One training epoch of the embedded default run: the tiny model over the 96-id synthetic set
/// with VOC-sized files (48 training images, augmented, 4 per step, 2 decode threads):
/// `tiny_64_epoch_loader` decodes through
/// `PascalLoader::epoch_prefetched` (what `train` runs: the next batch decodes on a background
/// thread during the step), `tiny_64_epoch_compute` steps over the same batches decoded once
/// before timing (compute alone). Their ratio is the loader's cost.
fn epoch(name: &'static str, device: &Device) -> Case {
    let cfg = config("tiny");
    let ad = device.clone().autodiff();
    let tasks: Vec<Task> = cfg
        .tasks
        .iter()
        .map(|t| Task::from_name(&t.name).expect("shipped task"))
        .collect();
    let dataset = PascalDataset::new(
        PascalRoot::new(crate::synthetic_voc_sized(96)),
        DatasetConfig {
            splits: vec!["train".into()],
            tasks: tasks.clone(),
            transform: TransformConfig {
                size: cfg.img_size,
                ..Default::default()
            },
            augment: true,
            seed: 0,
        },
    )
    .expect("synthetic dataset");
    let model = cfg.init(&ad).expect("model");
    let mut trainer = Trainer::new(
        cfg,
        TrainConfig::default(),
        model,
        ad.clone(),
        device.clone(),
        1,
    )
    .expect("trainer");
    let images = dataset.ids().len() / EPOCH_BATCH * EPOCH_BATCH;
    let dev = device.clone();
    let run: Box<dyn FnMut()> = if name == "tiny_64_epoch_loader" {
        Box::new(move || {
            let loader = PascalLoader::train(&dataset, EPOCH_BATCH, EPOCH_WORKERS, 0);
            loader
                .epoch_prefetched(0, &ad, |b| -> Result<bool, mtlora_train::TrainError> {
                    let b = mtlora_train::run::to_batch(b.expect("batch"), &tasks)?;
                    std::hint::black_box(trainer.step(std::slice::from_ref(&b), 0));
                    Ok(true)
                })
                .expect("epoch");
            dev.sync().expect("sync");
        })
    } else {
        let loader = PascalLoader::train(&dataset, EPOCH_BATCH, EPOCH_WORKERS, 0);
        let batches: Vec<Batch> = loader
            .epoch(0, &ad)
            .map(|b| mtlora_train::run::to_batch(b.expect("batch"), &tasks).expect("tasks"))
            .collect();
        Box::new(move || {
            for b in &batches {
                std::hint::black_box(trainer.step(std::slice::from_ref(b), 0));
            }
            dev.sync().expect("sync");
        })
    };
    Case { name, images, run }
}

/// Stage-0 geometry of Swin-T at 448: 112×112 tokens of 96 channels.
fn stage0_tokens(device: &Device) -> Tensor<3> {
    Tensor::random([1, 112 * 112, 96], Distribution::Normal(0.0, 1.0), device)
}

fn r64_model(device: &Device) -> MultiTaskSwin {
    config("r64").init(device).expect("model")
}

fn block(name: &'static str, device: &Device) -> Case {
    let dev = device.clone();
    let model = r64_model(device);
    let x = stage0_tokens(device);
    let sync = move || dev.sync().expect("sync");
    let run: Box<dyn FnMut()> = match name {
        "block_mtlora_linear_fc1_s0" => {
            // the TS block's fc1: frozen 96→384 + shared r64 + 4 task branches r4
            let fc1 = model.backbone.layers[0].blocks[1].mlp.fc1.clone();
            let tasks: Vec<Tensor<3>> = (0..4).map(|_| x.clone()).collect();
            Box::new(move || {
                std::hint::black_box(fc1.forward(x.clone(), Some(tasks.clone())));
                sync();
            })
        }
        "block_plain_linear_fc1_s0" => {
            let lin = BaseLinearConfig::new(96, 384).init(device);
            Box::new(move || {
                std::hint::black_box(lin.forward(x.clone()));
                sync();
            })
        }
        "block_window_attention_shifted_s0" => {
            // the whole shifted (TS) block of stage 0: attention + MLP, shared + 4 task streams
            let b = model.backbone.layers[0].blocks[1].clone();
            Box::new(move || {
                std::hint::black_box(b.forward(x.clone()));
                sync();
            })
        }
        "block_patch_merging_s0" => {
            let pm = model.backbone.layers[0]
                .downsample
                .clone()
                .expect("stage 0 merges");
            Box::new(move || {
                std::hint::black_box(pm.forward(x.clone()));
                sync();
            })
        }
        "block_hrnet_head" | "block_downsampler" => {
            let img = Tensor::<4>::random([1, 3, 448, 448], Distribution::Normal(0.0, 1.0), device);
            let stages = model.backbone.forward(img);
            let feats: Vec<Tensor<4>> = stages
                .iter()
                .zip(&model.backbone.feature_info)
                .map(|(s, fi)| {
                    let [b, l, c] = s.tasks[0].dims();
                    let side = (l as f64).sqrt() as usize;
                    let _ = fi;
                    s.tasks[0]
                        .clone()
                        .reshape([b, side, side, c])
                        .permute([0, 3, 1, 2])
                })
                .collect();
            let ds = model.downsampler[0].clone();
            if name == "block_downsampler" {
                Box::new(move || {
                    std::hint::black_box(ds.forward(&feats));
                    sync();
                })
            } else {
                let maps = ds.forward(&feats);
                let head = model.decoders[0].clone();
                Box::new(move || {
                    std::hint::black_box(head.forward(&maps));
                    sync();
                })
            }
        }
        other => panic!("unknown block case {other}"),
    };
    Case {
        name,
        images: 0,
        run,
    }
}

/// Build a case by name (`None` for an unknown name).
pub fn build(name: &str, device: &Device) -> Option<Case> {
    let name: &'static str = NAMES.iter().chain(&GPU_ONLY).find(|n| **n == name)?;
    Some(if name.starts_with("block_") {
        block(name, device)
    } else if name.contains("_epoch_") {
        epoch(name, device)
    } else if name.ends_with("_infer_b1") {
        infer(name, device)
    } else {
        train(name, device)
    })
}
