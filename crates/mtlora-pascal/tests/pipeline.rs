//! Decoding, Parts-index caching, bad inputs and the loader, on the `pascal_mini` fixture and
//! on synthetic datasets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use mtlora_pascal::layout::PascalRoot;
use mtlora_pascal::sample::{decode_sample, Task};
use mtlora_pascal::{
    load_batch, synthesize, verify, DatasetConfig, PascalBatcher, PascalDataset, PascalError,
    SynthConfig, TransformConfig,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A fresh folder `<temp>/<random>/<name>`; the random parent (and so siblings such as
/// `<name>.cache`) is removed with everything in it when this drops.
struct Scratch {
    _root: tempfile::TempDir,
    path: PathBuf,
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

fn tmp(name: &str) -> Scratch {
    let root = tempfile::Builder::new()
        .prefix("mtlora-pascal-test-")
        .tempdir()
        .expect("temp folder");
    let path = root.path().join(name);
    std::fs::create_dir_all(&path).expect("scratch folder");
    Scratch { _root: root, path }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(listing(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

/// `raw.{id}.*` tensors of the fixture as (shape, f64 values).
fn fixture_tensors() -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(fixtures().join("pascal_mini_val.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .filter(|(n, _)| n.starts_with("raw."))
        .map(|(n, v)| {
            let vals: Vec<f64> = match v.dtype() {
                safetensors::Dtype::U8 => v.data().iter().map(|&b| b as f64).collect(),
                safetensors::Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                d => panic!("{d:?}"),
            };
            (n, (v.shape().to_vec(), vals))
        })
        .collect()
}

fn mini_root(cache: &Path) -> PascalRoot {
    PascalRoot::new(fixtures().join("pascal_mini")).with_cache_dir(cache)
}

#[test]
fn every_file_kind_decodes_like_the_reference() {
    let cache = tmp("decode");
    let root = mini_root(&cache);
    let parts = root.parts_index("val").unwrap();
    let reference = fixture_tensors();
    for id in root.split_ids("val").unwrap() {
        let raw = decode_sample(
            &id,
            &root.paths(&id),
            &Task::PASCAL,
            parts.get(&id).map(Vec::as_slice),
        )
        .unwrap();
        let (shape, img) = &reference[&format!("raw.{id}.image")];
        assert_eq!(shape, &vec![raw.image.h, raw.image.w, 3]);
        let max = img
            .iter()
            .zip(&raw.image.data)
            .map(|(a, &b)| (a - b as f64).abs())
            .fold(0.0, f64::max);
        assert!(max <= 4.0, "{id}: JPEG differs by {max} levels");
        for (t, l) in &raw.labels() {
            let (_, r) = &reference[&format!("raw.{id}.{}", t.name())];
            let mine: Vec<f64> = l.data.iter().map(|&v| v as f32 as f64).collect();
            assert_eq!(&mine, r, "{id} {}", t.name());
        }
    }
}

#[test]
fn parts_index_is_regenerated_into_the_cache_not_the_dataset() {
    let data = tmp("ro-data");
    copy_dir(&fixtures().join("pascal_mini"), &data);
    let before = listing(&data);
    // read-only permissions (effective for non-root users; the listing check covers root)
    for (p, _) in &before {
        let mut perm = std::fs::metadata(p).unwrap().permissions();
        perm.set_readonly(true);
        std::fs::set_permissions(p, perm).unwrap();
    }
    let cache = tmp("ro-cache");
    let root = PascalRoot::new(&data).with_cache_dir(&cache);
    let idx = root.parts_index("val").unwrap();
    assert_eq!(idx["2009_000202"], vec![15, -1, 12]);
    let text = std::fs::read_to_string(cache.join("ImageSets/Parts/val.txt")).unwrap();
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("pascal_mini.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        text,
        sidecar["parts_json"]["regenerated_content_of_missing"]
            .as_str()
            .unwrap()
    );
    assert_eq!(listing(&data), before, "the dataset folder was modified");
    // a stale cache (keys differ from the split) is regenerated
    std::fs::write(cache.join("ImageSets/Parts/val.txt"), "{\"other\": [15]}").unwrap();
    assert_eq!(root.parts_index("val").unwrap(), idx);
    for (p, _) in &before {
        let mut perm = std::fs::metadata(p).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(p, perm).unwrap();
    }
}

fn one_id_copy(name: &str) -> (Scratch, PascalRoot, String) {
    let data = tmp(name);
    copy_dir(&fixtures().join("pascal_mini"), &data);
    let root = PascalRoot::new(&data).with_cache_dir(data.with_extension("cache"));
    (data, root, "2009_000201".to_string())
}

fn decode_err(root: &PascalRoot, id: &str) -> String {
    let parts = root.parts_index("val").unwrap();
    decode_sample(
        id,
        &root.paths(id),
        &Task::PASCAL,
        parts.get(id).map(Vec::as_slice),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn truncated_jpeg_is_a_named_error() {
    let (data, root, id) = one_id_copy("bad-jpeg");
    let p = data.join(format!("JPEGImages/{id}.jpg"));
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = decode_err(&root, &id);
    assert!(
        e.contains(&format!("{id}.jpg")) && e.contains("JPEG"),
        "{e}"
    );
}

#[test]
fn png_of_the_wrong_size_is_a_named_error() {
    let (data, root, id) = one_id_copy("bad-png");
    let small = mtlora_pascal::codec::encode_png(&mtlora_pascal::Plane::new(5, 7, 1), None);
    std::fs::write(data.join(format!("sal_distill/{id}.png")), small).unwrap();
    let e = decode_err(&root, &id);
    assert!(
        e.contains(&format!("sal_distill/{id}.png"))
            && e.contains("5x7")
            && e.contains("differs from the image"),
        "{e}"
    );
}

#[test]
fn a_semseg_label_no_class_has_is_a_named_error() {
    let (_data, root, id) = one_id_copy("bad-label");
    let path = root.paths(&id).semseg;
    let (mut p, _) = mtlora_pascal::codec::read_png_raw(&path).unwrap();
    let i = p.w + 2; // row 1, column 2
    p.data[i] = 200;
    std::fs::write(&path, mtlora_pascal::codec::encode_png(&p, None)).unwrap();
    let e = decode_err(&root, &id);
    assert!(
        e.contains(&*path.to_string_lossy())
            && e.contains("semseg label 200 at row 1, column 2")
            && e.contains("255 = ignore"),
        "{e}"
    );
}

#[test]
fn mat_file_with_a_missing_field_is_a_named_error() {
    use mtlora_pascal::mat::{matrix, string, write_mat, MatValue};
    let (data, root, id) = one_id_copy("bad-mat");
    // objects without the `parts` field
    let objects = MatValue::Struct {
        dims: vec![1, 1],
        fields: vec!["class".into(), "class_ind".into(), "mask".into()],
        elems: vec![vec![
            string("person"),
            matrix(1, 1, &[15.0], 6),
            matrix(1, 1, &[1.0], 9),
        ]],
    };
    let anno = MatValue::Struct {
        dims: vec![1, 1],
        fields: vec!["imname".into(), "objects".into()],
        elems: vec![vec![string("x"), objects]],
    };
    std::fs::write(
        data.join(format!("human_parts/{id}.mat")),
        write_mat(&[("anno", &anno)], true),
    )
    .unwrap();
    // the Parts list says the image has a person, so decoding must read the broken struct
    let e = decode_sample(&id, &root.paths(&id), &[Task::HumanParts], Some(&[15]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("human_parts/{id}.mat")) && e.contains("class, class_ind, mask, parts"),
        "{e}"
    );
}

#[test]
fn missing_file_unknown_split_and_task_are_errors() {
    let (data, root, id) = one_id_copy("missing");
    std::fs::remove_file(data.join(format!("normals_distill/{id}.png"))).unwrap();
    let e = decode_err(&root, &id);
    assert!(
        e.contains(&format!("normals_distill/{id}.png")) && e.contains("missing file"),
        "{e}"
    );
    assert!(
        matches!(root.split_ids("test"), Err(PascalError::Invalid(m)) if m.contains("unknown split"))
    );
    assert!(mtlora_pascal::pascal_task("dpeth")
        .unwrap_err()
        .to_string()
        .contains("\"dpeth\" does not exist"));
    // a task of the vocabulary that this reader cannot decode
    assert!(mtlora_pascal::pascal_task("depth")
        .unwrap_err()
        .to_string()
        .contains("not a PASCAL_MT task"));
    let cfg = DatasetConfig {
        splits: vec!["train".into()],
        tasks: vec![Task::Semseg, Task::Depth],
        transform: TransformConfig::default(),
        augment: false,
        seed: 0,
    };
    match PascalDataset::new(root.clone(), cfg) {
        Ok(_) => panic!("depth accepted by the PASCAL_MT reader"),
        Err(e) => assert!(e.to_string().contains("not a PASCAL_MT task"), "{e}"),
    }
    // verify lists every problem, not just the first
    std::fs::remove_file(data.join("sal_distill/2009_000202.png")).unwrap();
    let report = verify(&root, 2);
    let text = report.problems.join("\n");
    assert!(
        text.contains("normals_distill/2009_000201.png")
            && text.contains("sal_distill/2009_000202.png"),
        "{text}"
    );
}

#[test]
fn synthetic_dataset_verifies_and_loads_deterministically() {
    let out = tmp("synth");
    let cfg = SynthConfig {
        ids: 8,
        seed: 3,
        sizes: vec![(50, 38), (38, 50)],
    };
    let (train, val) = synthesize(&out, &cfg).unwrap();
    assert_eq!((train.len(), val.len()), (4, 4));
    let root = PascalRoot::new(&out).with_cache_dir(out.with_extension("cache"));
    let report = verify(&root, 2);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        report.splits[0].with_parts, 2,
        "cases: parts, none, dog+parts, no-parts+cat"
    );

    let dcfg = DatasetConfig {
        splits: vec!["train".into()],
        tasks: Task::PASCAL.to_vec(),
        transform: TransformConfig {
            size: [32, 32],
            ..Default::default()
        },
        augment: true,
        seed: 7,
    };
    let ds = PascalDataset::new(root.clone(), dcfg.clone()).unwrap();
    assert_eq!(ds.len(), 4);
    let idx: Vec<usize> = (0..4).collect();
    let a = load_batch(&ds, &idx, 1).unwrap();
    let b = load_batch(&ds, &idx, 3).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x.image, y.image,
            "augmentation must not depend on the worker count"
        );
    }
    ds.set_epoch(1);
    let c = load_batch(&ds, &idx, 2).unwrap();
    assert!(
        a.iter().zip(&c).any(|(x, y)| x.image != y.image),
        "a new epoch draws new augmentations"
    );

    let batch = PascalBatcher.batch(a, &burn::tensor::Device::default());
    assert_eq!(batch.image.dims(), [4, 3, 32, 32]);
    assert_eq!(batch.targets[&Task::Normals].dims(), [4, 3, 32, 32]);
    assert_eq!(batch.targets[&Task::Semseg].dims(), [4, 1, 32, 32]);
    let parts: Vec<f32> = batch.targets[&Task::HumanParts]
        .clone()
        .into_data()
        .try_to_vec()
        .unwrap();
    // image 1 has no objects: its human-parts map is entirely ignored
    assert!(parts[1024..2048].iter().all(|&v| v == 255.0));
    assert_eq!(batch.ids, train);

    let val_ds = PascalDataset::new(
        root,
        DatasetConfig {
            splits: vec!["val".into()],
            augment: false,
            ..dcfg
        },
    )
    .unwrap();
    assert_eq!(val_ds.get(0).unwrap().id, val[0]);
}

#[test]
fn epoch_batches_shuffle_and_drop_last() {
    let b = mtlora_pascal::epoch_batches(10, 4, Some((1, 0)), true);
    assert_eq!(b.len(), 2);
    let mut all: Vec<usize> = b.concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 8);
    assert_eq!(
        mtlora_pascal::epoch_batches(10, 4, Some((1, 0)), true),
        b,
        "same seed, same order"
    );
    assert_ne!(mtlora_pascal::epoch_batches(10, 4, Some((1, 1)), true), b);
    assert_eq!(
        mtlora_pascal::epoch_batches(5, 2, None, false),
        vec![vec![0, 1], vec![2, 3], vec![4]]
    );
}

#[test]
fn optimized_train_pipeline_equals_the_composition_of_reference_ops() {
    use mtlora_pascal::transforms::{
        cast_u8, hflip_in_place, hflip_normals_in_place, ignore_empty_parts, ignore_zero_normals,
        normalize_image, renormalize, resize_cubic, resize_nearest, rotate_normals_in_place,
        rotation_matrix, to_chw, warp_cubic, warp_nearest, ImageCast,
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Image,
        Label,
        Normals,
    }
    use mtlora_pascal::{process, Augment};
    let out = tmp("compose");
    synthesize(
        &out,
        &SynthConfig {
            ids: 4,
            seed: 1,
            sizes: vec![(41, 29)],
        },
    )
    .unwrap();
    let root = PascalRoot::new(&out).with_cache_dir(out.with_extension("cache"));
    let parts = root.parts_index("train").unwrap();
    for id in root.split_ids("train").unwrap() {
        let raw = decode_sample(
            &id,
            &root.paths(&id),
            &Task::PASCAL,
            parts.get(&id).map(Vec::as_slice),
        )
        .unwrap();
        for a in [
            Augment {
                flip: true,
                rot: 12.5,
                scale: 1.15,
            },
            Augment {
                flip: false,
                rot: -17.0,
                scale: 0.8,
            },
        ] {
            let cfg = TransformConfig {
                size: [24, 20],
                cast: ImageCast::Wrap,
            };
            let fast = process(raw.clone(), &cfg, Some(a));
            // the reference ops composed per element on f64 planes (the pipeline runs them on
            // u8 planes, in place, element by element)
            let step = |p: &mtlora_pascal::Plane<f64>, kind: Kind| {
                let mut p = p.clone();
                if a.flip {
                    match kind {
                        Kind::Normals => hflip_normals_in_place(&mut p),
                        _ => hflip_in_place(&mut p),
                    }
                }
                let m = rotation_matrix(p.w as f64 / 2.0, p.h as f64 / 2.0, a.rot, a.scale);
                match kind {
                    Kind::Image => resize_cubic(&warp_cubic(&p, &m), 24, 20),
                    Kind::Label => resize_nearest(&warp_nearest(&p, &m), 24, 20),
                    Kind::Normals => {
                        rotate_normals_in_place(&mut p, a.rot);
                        let mut r = resize_cubic(&warp_cubic(&p, &m), 24, 20);
                        renormalize(&mut r);
                        r
                    }
                }
            };
            let img = step(&raw.image.to_f64(), Kind::Image).map(|v| cast_u8(v, ImageCast::Wrap));
            assert_eq!(fast.image, normalize_image(&img), "{id} image");
            for (t, l) in raw.labels() {
                let normals = t == Task::Normals;
                let mut r = step(&l, if normals { Kind::Normals } else { Kind::Label });
                if t == Task::HumanParts {
                    ignore_empty_parts(&mut r);
                }
                if normals {
                    ignore_zero_normals(&mut r);
                }
                assert_eq!(fast.labels[&t], to_chw(&r), "{id} {}", t.name());
            }
        }
    }
}

#[test]
fn loader_yields_shuffled_full_batches() {
    let out = tmp("loader");
    synthesize(
        &out,
        &SynthConfig {
            ids: 10,
            seed: 2,
            sizes: vec![(40, 30)],
        },
    )
    .unwrap();
    let root = PascalRoot::new(&out).with_cache_dir(out.with_extension("cache"));
    let cfg = DatasetConfig {
        splits: vec!["train".into()],
        tasks: vec![Task::Semseg, Task::Sal],
        transform: TransformConfig {
            size: [16, 16],
            ..Default::default()
        },
        augment: true,
        seed: 0,
    };
    let ds = PascalDataset::new(root, cfg).unwrap();
    let device = burn::tensor::Device::default();
    let loader = mtlora_pascal::PascalLoader::train(&ds, 2, 2, 9);
    assert_eq!(loader.num_batches(), 2, "5 ids, batch 2, drop_last");
    let e0: Vec<Vec<String>> = loader.epoch(0, &device).map(|b| b.unwrap().ids).collect();
    let e0b: Vec<Vec<String>> = loader.epoch(0, &device).map(|b| b.unwrap().ids).collect();
    assert_eq!(e0, e0b);
    assert!(e0.iter().all(|b| b.len() == 2));
    let eval = mtlora_pascal::PascalLoader::eval(&ds, 2, 1);
    let sizes: Vec<usize> = eval
        .epoch(0, &device)
        .map(|b| b.unwrap().ids.len())
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
}
