//! Checkpoint round trip, import of the Microsoft-layout `.pth`, and bad-input errors.

use std::path::PathBuf;

use burn::tensor::{Device, TensorData};
use mtlora::{
    read_pth, read_safetensors, write_checkpoint, CheckpointFile, ModelConfig, StateDict,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn config_a() -> ModelConfig {
    let text = std::fs::read_to_string(fixtures().join("model_forward.json")).unwrap();
    ModelConfig::from_json_str(&text).unwrap()
}

/// A fresh temp folder, removed with its contents when the guard drops.
fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("mtlora-test-{name}-"))
        .tempdir()
        .expect("temp folder")
}

#[test]
fn checkpoint_round_trip_is_exact() {
    let cfg = config_a();
    let dev = Device::default();
    // load the fixture weights so every tensor (LoRA B included) is non-trivial
    let sd = read_safetensors(&fixtures().join("model_forward.safetensors")).unwrap();
    let (model, _) = cfg.init(&dev).unwrap().load_state_dict(&sd);
    let dir = tmp("roundtrip");
    let path = dir.path().join("ckpt.safetensors");
    model.save_checkpoint(&path, &cfg).unwrap();
    let fresh = cfg.init(&dev).unwrap().load_checkpoint(&path).unwrap();
    let a = model.state_dict().unwrap();
    let b = fresh.state_dict().unwrap();
    assert_eq!(a.len(), b.len());
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{k} differs after round trip");
    }
    // saving again over an existing file works (atomic replace)
    model.save_checkpoint(&path, &cfg).unwrap();
    let file = CheckpointFile::read(&path).unwrap();
    assert_eq!(file.model_config().unwrap(), Some(cfg.clone()));
    assert!(file.optim.is_empty());
}

#[test]
fn one_format_carries_training_state_and_rejects_unknown_tags() {
    let cfg = config_a();
    let dev = Device::default();
    let model = cfg.init(&dev).unwrap();
    let dir = tmp("format");
    let path = dir.path().join("train.safetensors");
    let optim = StateDict::from([(
        "step.backbone.patch_embed.proj.weight".to_string(),
        TensorData::new(vec![3.0f32], [1]),
    )]);
    let section = (
        "mtlora.state".to_string(),
        "{\"epochs_done\":2}".to_string(),
    );
    write_checkpoint(&path, &model, &cfg, optim.clone(), [section]).unwrap();
    let file = CheckpointFile::read(&path).unwrap();
    assert_eq!(
        file.optim, optim,
        "training tensors come back under their own keys"
    );
    assert!(file.model.keys().all(|k| !k.starts_with("optim.")));
    assert_eq!(
        file.section::<serde_json::Value>("mtlora.state").unwrap(),
        Some(serde_json::json!({"epochs_done": 2}))
    );
    // the model loader reads the same file: the training tensors are not "unexpected" keys
    cfg.init(&dev).unwrap().load_checkpoint(&path).unwrap();

    // a file of another format is refused by name, not half-read
    let other = dir.path().join("other.safetensors");
    let meta =
        std::collections::HashMap::from([("format".to_string(), "someone-else-v9".to_string())]);
    mtlora::write_safetensors(&other, &model.state_dict().unwrap(), Some(meta)).unwrap();
    let e = cfg
        .init(&dev)
        .unwrap()
        .load_checkpoint(&other)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("other.safetensors") && e.contains("someone-else-v9"),
        "{e}"
    );
}

#[test]
fn wrong_shapes_and_missing_keys_are_listed() {
    let cfg = config_a();
    let dev = Device::default();
    let mut sd = cfg.init(&dev).unwrap().state_dict().unwrap();
    let removed = "backbone.layers.0.blocks.1.attn.proj.lora_tasks_A.sal".to_string();
    assert!(sd.remove(&removed).is_some());
    let bad = "decoders.decoders.semseg.last_layer.3.weight".to_string();
    sd.insert(bad.clone(), TensorData::new(vec![0.0f32; 6], [2, 3, 1, 1]));
    sd.insert(
        "backbone.extra.weight".into(),
        TensorData::new(vec![1.0f32], [1]),
    );
    let (_, report) = cfg.init(&dev).unwrap().load_state_dict(&sd);
    assert_eq!(report.missing, vec![removed.clone()]);
    assert_eq!(report.unexpected, vec!["backbone.extra.weight".to_string()]);
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(report.mismatched[0].0, bad);
    assert_eq!(report.mismatched[0].2, vec![2, 3, 1, 1]);
    let msg = report.ensure_strict().unwrap_err().to_string();
    assert!(
        msg.contains(&removed) && msg.contains(&bad) && msg.contains("backbone.extra.weight"),
        "{msg}"
    );
}

#[test]
fn corrupt_and_missing_files_give_named_errors() {
    let cfg = config_a();
    let dev = Device::default();
    let guard = tmp("corrupt");
    let dir = guard.path();
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a tensor file").unwrap();
    let e = cfg
        .init(&dev)
        .unwrap()
        .load_checkpoint(&garbage)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("garbage.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );

    let bytes = std::fs::read(fixtures().join("swin_ckpt_tiny.pth")).unwrap();
    let truncated = dir.join("truncated.pth");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let e = read_pth(&truncated).unwrap_err().to_string();
    assert!(e.contains("truncated.pth"), "{e}");

    let e = read_pth(&dir.join("absent.pth")).unwrap_err().to_string();
    assert!(
        e.contains("absent.pth") && e.contains("no such file"),
        "{e}"
    );

    let e = ModelConfig::from_path(&dir.join("absent.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.toml"), "{e}");
}

#[test]
fn microsoft_checkpoint_imports_into_the_backbone() {
    let cfg = config_a();
    let dev = Device::default();
    let sd = read_pth(&fixtures().join("swin_ckpt_tiny.pth")).unwrap();
    let (model, report, ignored) = cfg.init(&dev).unwrap().import_swin_backbone(&sd);
    assert_eq!(
        ignored,
        vec!["head.bias", "head.weight", "norm.bias", "norm.weight"]
    );
    assert!(report.unexpected.is_empty(), "{:?}", report.unexpected);
    assert!(report.mismatched.is_empty());
    assert!(
        report.missing.iter().all(|k| k.contains("lora_")),
        "{:?}",
        report.missing
    );
    assert_eq!(
        report.recomputed.len(),
        8 + 2,
        "8 relative_position_index + 2 attn_mask"
    );
    report.ensure(|k| k.contains("lora_")).unwrap();
    // the wrapped qkv weight went under `.linear.`
    let exported = model.state_dict().unwrap();
    assert_eq!(
        exported["backbone.layers.0.blocks.0.attn.qkv.linear.weight"],
        sd["layers.0.blocks.0.attn.qkv.weight"]
    );
}

#[test]
fn configs_parse_from_toml_and_json_and_reject_unsupported() {
    let cfg = config_a();
    let toml = cfg.to_toml_string();
    assert_eq!(ModelConfig::from_toml_str(&toml).unwrap(), cfg);
    let mut bad = cfg.clone();
    bad.ape = true;
    assert!(bad.validate().unwrap_err().to_string().contains("ape"));
    let mut bad = cfg.clone();
    bad.num_heads = vec![1, 3, 4, 8];
    assert!(bad.validate().unwrap_err().to_string().contains("heads"));
    let mut bad = cfg.clone();
    bad.img_size = [60, 60];
    assert!(bad.validate().is_err());
    // values that used to panic deep inside a kernel are named here
    for (ratio, what) in [(-1.0, "-1"), (f64::NAN, "NaN"), (0.0, "0")] {
        let mut bad = cfg.clone();
        bad.mlp_ratio = ratio;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("mlp_ratio") && e.contains(what), "{e}");
    }
    let mut bad = cfg;
    let m = bad.mtlora.as_mut().expect("config A has MTLoRA");
    let (task, ranks) = m.task_rank.iter_mut().next().expect("per-task ranks");
    let task = task.clone();
    ranks[0] = 0;
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("rank 0 in stage 0"), "{task}: {e}");
}

#[test]
fn merge_for_inference_keeps_outputs() {
    use burn::tensor::{Distribution, Tensor};
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs/mtlora_tiny_cpu.toml");
    let cfg = mtlora::ModelConfig::from_path(&p).unwrap();
    let dev = burn::tensor::Device::default();
    // non-zero LoRA B so the merge matters
    let model = cfg.init(&dev).unwrap();
    let sd: mtlora::StateDict = model
        .state_dict()
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            if k.contains("lora_shared_B") || k.contains("lora_tasks_B") {
                let t = Tensor::<2>::random(
                    [v.shape()[0], v.shape()[1]],
                    Distribution::Normal(0.0, 0.05),
                    &dev,
                );
                (k, t.into_data())
            } else {
                (k, v)
            }
        })
        .collect();
    let (model, _) = model.load_state_dict(&sd);
    let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Normal(0.0, 1.0), &dev);
    let a = model.forward(x.clone());
    let (merged, n) = model.merge_for_inference();
    // qkv of all 8 blocks + proj/fc1/fc2 of the 4 non-TS blocks
    assert_eq!(n, 8 + 3 * 4);
    let b = merged.forward(x);
    for (p, q) in a.outputs.iter().zip(&b.outputs) {
        let d: f32 = (p.clone() - q.clone()).abs().max().into_scalar();
        let m: f32 = p.clone().abs().max().into_scalar();
        assert!(
            d <= 1e-4 * m + 1e-5,
            "merged output differs by {d} (max {m})"
        );
    }
}

#[test]
fn a_seed_fixes_the_initial_model_whatever_the_device_generator() {
    // parameters come from the host generator (`init_seeded`), so the device's own RNG state
    // (which differs between backends) must not change a single bit
    let cfg = config_a();
    let dev = Device::default();
    dev.seed(1);
    let a = cfg.init_seeded(42, &dev).unwrap().state_dict().unwrap();
    dev.seed(2);
    let b = cfg.init_seeded(42, &dev).unwrap().state_dict().unwrap();
    let c = cfg.init_seeded(43, &dev).unwrap().state_dict().unwrap();
    assert_eq!(a.len(), b.len());
    let mut random = 0;
    for (k, v) in &a {
        assert_eq!(
            v.as_bytes(),
            b[k].as_bytes(),
            "{k} differs for the same seed"
        );
        if v.as_bytes() != c[k].as_bytes() {
            random += 1;
        }
    }
    // the randomly initialised tensors (weights, LoRA A, bias tables) change with the seed
    assert!(
        random > a.len() / 3,
        "only {random} of {} tensors depend on the seed",
        a.len()
    );
}

#[test]
fn atomic_writes_leave_no_temporary_file_behind() {
    let dir = tmp("atomic");
    let target = dir.path().join("ckpt.safetensors");
    mtlora::state_dict::write_atomic(&target, b"one").unwrap();
    mtlora::state_dict::write_atomic(&target, b"two").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"two");
    let names = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    };
    assert_eq!(names(dir.path()), vec!["ckpt.safetensors"]);
    // a failing rename (the target is a non-empty folder) is an error naming it, keeps the
    // folder as it was and removes the temporary file
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep"), b"x").unwrap();
    let e = mtlora::state_dict::write_atomic(&busy, b"three")
        .unwrap_err()
        .to_string();
    assert!(e.contains("busy"), "{e}");
    let mut left = names(dir.path());
    left.sort();
    assert_eq!(left, vec!["busy", "ckpt.safetensors"]);
    assert_eq!(names(&busy), vec!["keep"]);
}

#[test]
fn a_planted_symlink_at_a_temporary_name_is_not_followed() {
    let dir = tmp("planted");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let target = dir.path().join("ckpt.safetensors");
    // the names a predictable scheme would use (the old one: `<file>.tmp<pid>`)
    for name in [
        format!("ckpt.safetensors.tmp{}", std::process::id()),
        format!("ckpt.tmp{}", std::process::id()),
    ] {
        std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
    }
    mtlora::state_dict::write_atomic(&target, b"weights").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read(&target).unwrap(), b"weights");
}

#[test]
fn a_checkpoint_with_non_finite_values_is_refused_by_name() {
    let cfg = config_a();
    let dev = Device::default();
    let model = cfg.init(&dev).unwrap();
    let dir = tmp("nan");
    let path = dir.path().join("diverged.safetensors");
    let mut optim = StateDict::new();
    optim.insert(
        "exp_avg_sq.backbone.patch_embed.proj.weight".into(),
        TensorData::new(vec![0.0f32, f32::INFINITY], [2]),
    );
    write_checkpoint(&path, &model, &cfg, optim, []).unwrap();
    let e = cfg
        .init(&dev)
        .unwrap()
        .load_checkpoint(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("diverged.safetensors")
            && e.contains("NaN or infinite")
            && e.contains("optim.exp_avg_sq.backbone.patch_embed.proj.weight"),
        "{e}"
    );
}

#[test]
fn a_checkpoint_path_to_a_device_is_refused_by_name() {
    let dir = tmp("device");
    for name in ["zero.safetensors", "zero.pth"] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = CheckpointFile::read(&link).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains("not a regular file"), "{e}");
    }
}
