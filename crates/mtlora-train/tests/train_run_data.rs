//! Our data pipeline on `train_run_data/` (validation transform at the fixture's size, no
//! augmentation, file order) reproduces the batches stored in `train_run.safetensors`:
//! labels exactly, JPEG-decoded images within 6 levels, normals within 1e-5 (FORMAT.md §12).

use std::path::PathBuf;

use burn::data::dataset::Dataset;
use mtlora_pascal::dataset::{epoch_batches, DatasetConfig, PascalDataset};
use mtlora_pascal::{ImageCast, PascalRoot, Task, TransformConfig};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[test]
fn pipeline_reproduces_stored_batches() {
    let dir = fixtures();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("train_run.json")).unwrap())
            .unwrap();
    let tensors = mtlora::read_safetensors(&dir.join("train_run.safetensors")).unwrap();
    let size = json["model"]["img_size"][0].as_u64().unwrap() as usize;
    let cache = std::env::temp_dir().join(format!("mtlora-trd-{}", std::process::id()));
    let mut compared = 0;
    for split in ["train", "val"] {
        let root = PascalRoot::new(dir.join("train_run_data")).with_cache_dir(&cache);
        let ds = PascalDataset::new(
            root,
            DatasetConfig {
                splits: vec![split.into()],
                tasks: Task::PASCAL.to_vec(),
                transform: TransformConfig {
                    size: [size, size],
                    cast: ImageCast::Wrap,
                },
                augment: false,
                seed: 0,
            },
        )
        .unwrap();
        // fixed order: file order in pairs, last incomplete pair dropped for train
        let order = epoch_batches(ds.len(), 2, None, split == "train");
        if split == "train" {
            let iters = json["iterations"].as_array().unwrap();
            for (b, it) in order.iter().zip(iters) {
                let ids: Vec<String> = b.iter().map(|&i| ds.ids()[i].1.clone()).collect();
                let want: Vec<String> = it["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(ids, want, "train batch order");
            }
        } else {
            let want = json["validation"][0]["val_batch_ids"].as_array().unwrap();
            assert_eq!(order.len(), want.len());
        }
        for idx in order.into_iter().flatten() {
            let p = ds.load(idx).unwrap();
            let key = |t: &str| format!("data.{split}.{}.{t}", p.id);
            let img: Vec<u8> = tensors[&key("image_uint8")].clone().try_to_vec().unwrap();
            let worst = img
                .iter()
                .zip(&p.image_u8.data)
                .map(|(a, b)| {
                    // the wrapping cast makes -1 and 255 neighbours
                    let d = (*a as i32 - *b as i32).abs();
                    d.min(256 - d)
                })
                .max()
                .unwrap();
            assert!(worst <= 6, "{}: image differs by {worst} levels", p.id);
            for t in Task::PASCAL {
                let want: Vec<f32> = tensors[&key(t.name())]
                    .clone()
                    .convert::<f32>()
                    .try_to_vec()
                    .unwrap();
                let got = &p.labels[&t];
                assert_eq!(want.len(), got.len(), "{} {}", p.id, t.name());
                let tol = if t == Task::Normals { 1e-5 } else { 0.0 };
                for (a, b) in want.iter().zip(got) {
                    assert!((a - b).abs() <= tol, "{} {}: {a} vs {b}", p.id, t.name());
                }
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 22, "16 train + 6 val ids");
    let _ = std::fs::remove_dir_all(cache);
}
