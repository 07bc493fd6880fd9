//! `train`, `eval` and `predict` end to end through the binary: a run killed with SIGKILL
//! resumes to the same final weights and metrics as an uninterrupted run; eval and predict
//! work on its checkpoints; bad inputs give clear errors without touching existing runs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{root, tmp};
use std::time::{Duration, Instant};

fn mtlora(args: &[&str]) -> (i32, String) {
    let mut all = vec!["--quiet"];
    all.extend_from_slice(args);
    common::mtlora(&all)
}

/// `mtlora train --config CFG --data DATA --out OUT`.
fn train(cfg: &str, data: &str, out: &str) -> (i32, String) {
    mtlora(&["train", "--config", cfg, "--data", data, "--out", out])
}

fn setup(dir: &Path, epochs: usize) -> (String, String) {
    let data = dir.join("data");
    let (code, out) = mtlora(&[
        "dataset",
        "synth",
        data.to_str().unwrap(),
        "--ids",
        "16",
        "--seed",
        "5",
        "--size",
        "80x64",
    ]);
    assert_eq!(code, 0, "{out}");
    let tiny = std::fs::read_to_string(root().join("configs/mtlora_tiny_cpu.toml")).unwrap();
    let cfg = dir.join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "{tiny}\n[train]\nepochs = {epochs}\nwarmup_epochs = 1\nbatch_size = 2\neval_batch_size = 4\n\
             eval_every = 2\nckpt_every = 2\nworkers = 1\nseed = 7\nscale_lr = false\nbase_lr = 0.002\n\
             warmup_lr = 0.00002\nmin_lr = 0.00002\n"
        ),
    )
    .unwrap();
    (cfg.to_str().unwrap().into(), data.to_str().unwrap().into())
}

#[test]
fn killed_run_resumes_exactly_then_eval_and_predict() {
    let guard = tmp("kill");
    let dir = guard.path();
    let (cfg, data) = setup(dir, 6);
    let a = dir.join("a");
    let (code, out) = train(&cfg, &data, a.to_str().unwrap());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("validation loss:"), "{out}");
    // the CLI draws the run's plots after every evaluation
    for f in ["plots/loss.svg", "plots/metrics.svg", "plots/delta_m.svg"] {
        let svg = std::fs::read_to_string(a.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{f}: {svg:.200}"
        );
    }

    // the same run, killed as soon as its first checkpoint exists
    let b = dir.join("b");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtlora"))
        .args([
            "--quiet",
            "train",
            "--config",
            &cfg,
            "--data",
            &data,
            "--out",
            b.to_str().unwrap(),
        ])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let last = b.join("checkpoints/last.safetensors");
    let t0 = Instant::now();
    while !last.exists() && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(last.exists(), "no checkpoint before the kill");
    let (code, out) = mtlora(&[
        "train",
        "--out",
        b.to_str().unwrap(),
        "--data",
        &data,
        "--resume",
    ]);
    assert_eq!(code, 0, "{out}");

    let ta = mtlora::read_safetensors(&a.join("checkpoints/last.safetensors")).unwrap();
    let tb = mtlora::read_safetensors(&last).unwrap();
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        assert_eq!(
            v.as_bytes(),
            tb[k].as_bytes(),
            "{k} differs after kill + resume"
        );
    }
    let metrics = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("metrics.json")).unwrap())
                .unwrap();
        v["evaluations"].clone()
    };
    assert_eq!(metrics(&a), metrics(&b));

    // eval on the produced checkpoint reproduces the run's last evaluation
    let ck = a.join("checkpoints/last.safetensors");
    let ev = dir.join("eval.json");
    let (code, out) = mtlora(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        &data,
        "--batch-size",
        "4",
        "--out",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ev).unwrap()).unwrap();
    let last_eval = metrics(&a).as_array().unwrap().last().unwrap().clone();
    assert_eq!(e["scores"]["delta_m"], last_eval["scores"]["delta_m"]);
    assert_eq!(
        e["scores"]["semseg.miou"],
        last_eval["scores"]["semseg.miou"]
    );

    // predict writes one PNG per task and an overlay
    let img = std::fs::read_dir(Path::new(&data).join("JPEGImages"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let pred = dir.join("pred");
    let (code, out) = mtlora(&[
        "predict",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--image",
        img.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let stem = img.file_stem().unwrap().to_str().unwrap();
    for t in ["semseg", "human_parts", "sal", "normals", "overlay"] {
        let p = pred.join(format!("{stem}_{t}.png"));
        let (plane, _) = mtlora_pascal::codec::read_png_raw(&p).unwrap();
        // the overlay shows the image and the four tasks side by side
        let w = if t == "overlay" { 5 * 80 } else { 80 };
        assert_eq!((plane.h, plane.w), (64, w), "{t}: original size");
    }
}

#[test]
fn bad_inputs() {
    let guard = tmp("bad");
    let dir = guard.path();
    let (cfg, data) = setup(dir, 1);
    let tiny = std::fs::read_to_string(root().join("configs/mtlora_tiny_cpu.toml")).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let out_dir = dir.join("o");
    let o = out_dir.to_str().unwrap();
    // unknown key, wrong type, unknown task
    let c = write("k.toml", format!("embed_dimm = 3\n{tiny}"));
    let (code, out) = train(&c, &data, o);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown model key(s): embed_dimm"), "{out}");
    let c = write("t.toml", format!("{tiny}\n[train]\nbatch_size = \"big\"\n"));
    let (code, out) = train(&c, &data, o);
    assert!(
        code == 2 && out.contains("[train]") && out.contains("batch_size"),
        "{out}"
    );
    let c = write(
        "task.toml",
        tiny.replace("name = \"normals\"", "name = \"depth_map\""),
    );
    let (code, out) = train(&c, &data, o);
    assert!(
        code == 2 && out.contains("\"depth_map\" does not exist"),
        "{out}"
    );
    // --data that is not PASCAL_MT
    let (code, out) = train(&cfg, dir.to_str().unwrap(), o);
    assert!(code == 2 && out.contains("dataset verify"), "{out}");
    // --resume without a checkpoint
    let (code, out) = mtlora(&["train", "--out", o, "--data", &data, "--resume"]);
    assert!(code == 2 && out.contains("nothing to resume"), "{out}");
    // a resumed run keeps its stored recipe: --epochs is refused, not ignored
    let (code, out) = mtlora(&[
        "train", "--out", o, "--data", &data, "--resume", "--epochs", "3",
    ]);
    assert!(
        code == 2 && out.contains("--epochs cannot change a resumed run"),
        "{out}"
    );
    // unwritable output folder
    let f = write("plainfile", String::new());
    let (code, out) = train(&cfg, &data, &format!("{f}/run"));
    assert!(code == 2 && out.contains("not writable"), "{out}");
    // a finished run is not overwritten by a new run into the same folder
    let (code, out) = train(&cfg, &data, o);
    assert_eq!(code, 0, "{out}");
    let before = std::fs::read(out_dir.join("metrics.json")).unwrap();
    let (code, out) = train(&cfg, &data, o);
    assert!(code == 2 && out.contains("already holds a run"), "{out}");
    assert_eq!(std::fs::read(out_dir.join("metrics.json")).unwrap(), before);
    // a checkpoint of another architecture lists the mismatched keys
    let ck = out_dir.join("checkpoints/last.safetensors");
    let other = write(
        "other.toml",
        tiny.replace("embed_dim = 16", "embed_dim = 24"),
    );
    let (code, out) = mtlora(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        &data,
        "--config",
        &other,
    ]);
    assert!(
        code == 2
            && out.contains("shape mismatches")
            && out.contains("backbone.patch_embed.proj.weight"),
        "{out}"
    );
    // predict on a non-image
    let txt = write("notes.txt", "hello".into());
    let (code, out) = mtlora(&[
        "predict",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--image",
        &txt,
        "--out",
        dir.join("p").to_str().unwrap(),
    ]);
    assert!(
        code == 2 && out.contains("notes.txt: not a readable JPEG or PNG image"),
        "{out}"
    );
    // none of this damaged the run
    assert_eq!(std::fs::read(out_dir.join("metrics.json")).unwrap(), before);
}
