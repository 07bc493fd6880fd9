//! Whole runs on a synthetic PASCAL_MT folder with the tiny config: exact resumption after an
//! interrupted run, run-folder outputs, and the bad inputs of the trainer. (Tests that train
//! share burn's global RNG, so only one test per binary may train: see `run_dp.rs`.)

mod common;

use common::{config, dataset, opts, tmp};
use mtlora_train::run::{train, Silent};
use mtlora_train::TrainError;

#[test]
fn interrupted_run_resumes_exactly() {
    let dir = tmp("resume");
    let data = dataset(&dir);
    let cache = dir.join("cache");
    // uninterrupted
    let a = dir.join("a");
    let sa = train(Some(config()), &opts(&a, &data, &cache), &mut Silent).unwrap();
    assert!(sa.finished && sa.state.epochs_done == 3);
    // interrupted after one epoch, with debris a kill mid-epoch leaves behind
    let b = dir.join("b");
    let mut ob = opts(&b, &data, &cache);
    ob.stop_after_epochs = Some(1);
    let sb = train(Some(config()), &ob, &mut Silent).unwrap();
    assert!(!sb.finished && sb.state.epochs_done == 1);
    let log = b.join("train_log.csv");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("99,1,1e-3,0,0,0,0,0,0,0,0\n");
    std::fs::write(&log, text).unwrap();
    std::fs::write(b.join("checkpoints/last.safetensors.tmp123"), b"half").unwrap();
    ob.stop_after_epochs = None;
    ob.resume = true;
    let sb = train(None, &ob, &mut Silent).unwrap();
    assert!(sb.finished);

    // identical final weights, optimizer state, metrics and iteration log
    let ta = mtlora::read_safetensors(&a.join("checkpoints/last.safetensors")).unwrap();
    let tb = mtlora::read_safetensors(&b.join("checkpoints/last.safetensors")).unwrap();
    assert_eq!(ta.len(), tb.len());
    assert!(ta.keys().any(|k| k.starts_with("optim.exp_avg.")));
    for (k, v) in &ta {
        assert_eq!(v.as_bytes(), tb[k].as_bytes(), "{k} differs after resume");
    }
    assert_eq!(sa.state.history, sb.state.history);
    assert_eq!(
        std::fs::read_to_string(a.join("train_log.csv")).unwrap(),
        std::fs::read_to_string(b.join("train_log.csv")).unwrap()
    );

    // run folder contents; the loss fell
    for f in [
        "config.toml",
        "metrics.json",
        "metrics.csv",
        "train_log.csv",
        "train.log",
        "checkpoints/epoch_0.safetensors",
        "checkpoints/epoch_2.safetensors",
        "checkpoints/best.safetensors",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }
    // plots are the CLI's (its observer draws them); the library run writes none
    assert!(!a.join("plots").exists());
    let rows = mtlora_train::record::read_iter_csv(&a.join("train_log.csv"), 4).unwrap();
    assert_eq!(rows.len(), 3 * 3);
    let first: f64 = rows[..3].iter().map(|r| r.1[4]).sum();
    let last: f64 = rows[rows.len() - 3..].iter().map(|r| r.1[4]).sum();
    assert!(last < first, "total loss did not fall: {first} -> {last}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["evaluations"].as_array().unwrap().len(), 3);
    assert!(m["last"]["scores"]["delta_m"].is_number());
    assert!(m["best_by_delta_m"]["scores"]["sal.miou_maxthr"].is_number());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_inputs_have_clear_errors_and_keep_runs_intact() {
    let dir = tmp("bad");
    let cache = dir.join("cache");
    // not a PASCAL_MT folder
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = train(
        Some(config()),
        &opts(&dir.join("r0"), &empty, &cache),
        &mut Silent,
    )
    .unwrap_err();
    assert!(matches!(e, TrainError::Dataset(_)), "{e}");
    assert!(e.to_string().contains("dataset verify"), "{e}");
    // --resume with no checkpoint
    let mut o = opts(&dir.join("r1"), &empty, &cache);
    o.resume = true;
    let e = train(None, &o, &mut Silent).unwrap_err();
    assert!(e.to_string().contains("nothing to resume"), "{e}");
    // unwritable output folder (its parent is a file)
    std::fs::write(dir.join("file"), b"x").unwrap();
    let e = train(
        Some(config()),
        &opts(&dir.join("file/run"), &empty, &cache),
        &mut Silent,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not writable"), "{e}");
    // an existing run is not overwritten
    let run = dir.join("r2");
    std::fs::create_dir_all(run.join("checkpoints")).unwrap();
    std::fs::write(run.join("checkpoints/last.safetensors"), b"precious").unwrap();
    std::fs::write(run.join("metrics.json"), b"{}").unwrap();
    let e = train(Some(config()), &opts(&run, &empty, &cache), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    assert_eq!(
        std::fs::read(run.join("checkpoints/last.safetensors")).unwrap(),
        b"precious"
    );
    assert_eq!(std::fs::read(run.join("metrics.json")).unwrap(), b"{}");
    // a corrupt checkpoint on resume names the file
    let mut o = opts(&run, &empty, &cache);
    o.resume = true;
    let e = train(None, &o, &mut Silent).unwrap_err();
    assert!(e.to_string().contains("last.safetensors"), "{e}");
    assert_eq!(
        std::fs::read(run.join("checkpoints/last.safetensors")).unwrap(),
        b"precious"
    );
    let _ = std::fs::remove_dir_all(dir);
}
