//! `pascal_mini`: decoding of every file kind, the val transform at the recorded size and the
//! deterministic train ops, against the reference loader's tensors (FORMAT.md §11).

use burn::tensor::Device;
use std::collections::BTreeMap;

use burn::tensor::TensorData;
use mtlora::StateDict;
use mtlora_pascal::layout::PascalRoot;
use mtlora_pascal::pipeline::{
    flip, process, resize_image, resize_label, resize_normals, scale_rotate, TransformConfig,
};
use mtlora_pascal::sample::{decode_sample, RawSample, Task};
use mtlora_pascal::transforms::ImageCast;
use mtlora_pascal::Plane;
use serde::Deserialize;

use crate::compare::{add_to, values, Group, Tolerance};
use crate::fixture::Fixture;
use crate::ParityError;

/// Allowed JPEG decoder difference on the 0..255 scale (FORMAT.md §11.2: "a few levels"; the
/// visible fixture shows ≤ 3 between zune-jpeg and Pillow's libjpeg).
const JPEG_LEVELS: f64 = 6.0;
const IMAGE_TOL: Tolerance = Tolerance {
    rel: 0.0,
    abs: 1e-3,
};
const NORMALS_TOL: Tolerance = Tolerance {
    rel: 0.0,
    abs: 1e-5,
};

fn elem_task(e: &str) -> Option<Task> {
    Task::from_name(e).ok()
}

fn plane_data(p: &Plane<f64>) -> TensorData {
    let data: Vec<f32> = p.data.iter().map(|&v| v as f32).collect();
    if p.c == 1 {
        TensorData::new(data, [p.h, p.w])
    } else {
        TensorData::new(data, [p.h, p.w, p.c])
    }
}

fn to_plane(what: &str, d: &TensorData) -> Result<Plane<f64>, ParityError> {
    let s = d.shape().to_vec();
    let bad = |why: String| ParityError::Fixture(format!("{what}: {why}"));
    if !(s.len() == 2 || s.len() == 3) {
        return Err(bad(format!("shape {s:?} is not H×W or H×W×C")));
    }
    let c = if s.len() == 3 { s[2] } else { 1 };
    Ok(Plane::from_vec(
        s[0],
        s[1],
        c,
        values::<f64>(d).map_err(bad)?,
    ))
}

fn tol_of(elem: &str) -> Tolerance {
    match elem {
        "image" => IMAGE_TOL,
        "normals" => NORMALS_TOL,
        _ => Tolerance::EXACT,
    }
}

/// The ScaleNRotate ops of the fixture with their fixed rotation (degrees) and scale, as
/// FORMAT.md §11.5 lists them (the sidecar describes them in prose only; its text is checked
/// to name the same values).
const SCALE_ROTATE_OPS: [(&str, f64, f64); 2] = [("srot_a", 12.5, 1.15), ("srot_b", -17.0, 0.8)];

/// The `pascal_mini` sidecar (FORMAT.md §11): what this check reads of it.
#[derive(Deserialize)]
struct Sidecar {
    fixture: String,
    dataset_dir: String,
    ids: Vec<IdEntry>,
    parts_json: PartsJson,
    val_transform: ValTransform,
    train_ops: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct IdEntry {
    id: String,
}

#[derive(Deserialize)]
struct PartsJson {
    missing_for_split: String,
    regenerated_content_of_missing: String,
}

#[derive(Deserialize)]
struct ValTransform {
    img_size: ImgSize,
}

/// One number (square) or `[H, W]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ImgSize {
    Square(usize),
    HW([usize; 2]),
}

/// The raw train sample `id` as the fixture stores it (`train_raw.{id}.{elem}`, F32 HWC),
/// back in the pipeline's types: 8-bit image and label maps (the values must be integers),
/// f64 normals.
fn stored_raw(ops: &Tracked, id: &str) -> Result<RawSample, ParityError> {
    let plane = |elem: &str| -> Result<Plane<f64>, ParityError> {
        let key = format!("train_raw.{id}.{elem}");
        let d = ops
            .get(&key)
            .ok_or_else(|| ParityError::Fixture(format!("{key}: missing")))?;
        to_plane(&key, d)
    };
    let bytes = |elem: &str| -> Result<Plane<u8>, ParityError> {
        let p = plane(elem)?;
        if p.data
            .iter()
            .any(|v| v.fract() != 0.0 || !(0.0..=255.0).contains(v))
        {
            return Err(ParityError::Fixture(format!(
                "train_raw.{id}.{elem}: not 8-bit integers"
            )));
        }
        Ok(p.map(|v| v as u8))
    };
    let mut maps = BTreeMap::new();
    for t in [Task::Semseg, Task::HumanParts, Task::Sal] {
        maps.insert(t, bytes(t.name())?);
    }
    Ok(RawSample {
        id: id.to_string(),
        image: bytes("image")?,
        maps,
        normals: Some(plane("normals")?),
    })
}

/// The tensors of one of the fixture's extra files, remembering which were read, so that a
/// tensor no check reads fails the run as the fixture's own `coverage` group does.
struct Tracked {
    name: String,
    map: StateDict,
    read: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Tracked {
    fn read(path: &std::path::Path) -> Result<Self, ParityError> {
        Ok(Self {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().to_string()),
            map: mtlora::read_safetensors(path)?,
            read: Default::default(),
        })
    }

    fn get(&self, key: &str) -> Option<&TensorData> {
        let t = self.map.get(key)?;
        self.read.borrow_mut().insert(key.to_string());
        Some(t)
    }

    /// Every key, to iterate over (not counted as read).
    fn keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    fn coverage(&self) -> Group {
        let read = self.read.borrow();
        let unread: Vec<&String> = self.map.keys().filter(|k| !read.contains(*k)).collect();
        let listed: Vec<&str> = unread.iter().take(5).map(|s| s.as_str()).collect();
        let note = if unread.is_empty() {
            String::new()
        } else {
            format!(
                "{} tensor(s) read by no check: {}",
                unread.len(),
                listed.join(", ")
            )
        };
        Group::check(format!("coverage({})", self.name), unread.is_empty(), note)
    }
}

/// A sample's planes after one train op.
struct Planes {
    image: Plane<f64>,
    maps: BTreeMap<Task, Plane<u8>>,
    normals: Option<Plane<f64>>,
}

impl Planes {
    /// Element `elem` as f64.
    fn element(&self, elem: &str) -> Option<Plane<f64>> {
        match elem_task(elem) {
            None if elem == "image" => Some(self.image.clone()),
            Some(Task::Normals) => self.normals.clone(),
            Some(t) => self.maps.get(&t).map(Plane::to_f64),
            None => None,
        }
    }
}

/// Op `op` of the fixture (`flip`, `srot_*`, `resize*` to `size`) through the pipeline's steps.
fn apply(op: &str, mut sample: RawSample, size: [usize; 2]) -> Planes {
    if op == "flip" {
        flip(&mut sample);
        return Planes {
            image: sample.image.to_f64(),
            maps: sample.maps,
            normals: sample.normals,
        };
    }
    if let Some((_, rot, sc)) = SCALE_ROTATE_OPS.iter().find(|o| o.0 == op) {
        let w = scale_rotate(sample, *rot, *sc);
        return Planes {
            image: w.image,
            maps: w.maps,
            normals: w.normals,
        };
    }
    Planes {
        image: resize_image(&sample.image, size),
        maps: sample
            .maps
            .iter()
            .map(|(t, m)| (*t, resize_label(m, size)))
            .collect(),
        normals: sample.normals.as_ref().map(|n| resize_normals(n, size)),
    }
}

pub(crate) fn run(fx: &Fixture, _device: &Device) -> Result<Vec<Group>, ParityError> {
    let side: Sidecar = fx.sidecar()?;
    // removed with its contents on every return
    let cache_dir = tempfile::Builder::new()
        .prefix("mtlora-parity-cache-")
        .tempdir()
        .map_err(|e| ParityError::Fixture(format!("temporary cache folder: {e}")))?;
    let cache = cache_dir.path().to_path_buf();
    let root = PascalRoot::new(fx.dir.join(&side.dataset_dir)).with_cache_dir(&cache);
    let stem = &side.fixture;
    let val = Tracked::read(&fx.dir.join(format!("{stem}_val.safetensors")))?;
    let ops = Tracked::read(&fx.dir.join(format!("{stem}_train_ops.safetensors")))?;
    let mut groups = Vec::new();

    // Parts index (the val file is missing on purpose: regenerated into the cache).
    let mut parts = BTreeMap::new();
    let mut pj = Group::new("parts_json");
    for split in ["train", "val"] {
        let idx = root
            .parts_index(split)
            .map_err(|e| ParityError::Fixture(e.to_string()))?;
        parts.extend(idx);
    }
    let regenerated = cache.join(format!(
        "ImageSets/Parts/{}.txt",
        side.parts_json.missing_for_split
    ));
    pj.count += 1;
    match std::fs::read_to_string(&regenerated) {
        Ok(written) if written == side.parts_json.regenerated_content_of_missing => {}
        Ok(written) => pj.fail(format!(
            "regenerated text differs:\n{written:?}\nexpected\n{:?}",
            side.parts_json.regenerated_content_of_missing
        )),
        Err(e) => pj.fail(format!("{}: not regenerated ({e})", regenerated.display())),
    }
    groups.push(pj);

    // 1. raw decoding of every id
    let mut raws: BTreeMap<String, RawSample> = BTreeMap::new();
    for e in &side.ids {
        let id = e.id.as_str();
        let raw = decode_sample(
            id,
            &root.paths(id),
            &Task::PASCAL,
            parts.get(id).map(Vec::as_slice),
        )
        .map_err(|e| ParityError::Fixture(format!("decode {id}: {e}")))?;
        for (prefix, store) in [("raw", &val), ("train_raw", &ops)] {
            let img_key = format!("{prefix}.{id}.image");
            if let Some(r) = store.get(&img_key) {
                let mine = plane_data(&raw.image.to_f64());
                add_to(
                    &mut groups,
                    "raw.image(jpeg)",
                    id,
                    &mine,
                    &r.clone().convert::<f32>(),
                    Tolerance {
                        rel: 0.0,
                        abs: JPEG_LEVELS,
                    },
                );
            }
            for (t, l) in &raw.labels() {
                if let Some(r) = store.get(&format!("{prefix}.{id}.{}", t.name())) {
                    let tol = tol_of(t.name());
                    add_to(
                        &mut groups,
                        &format!("raw.{}", t.name()),
                        id,
                        &plane_data(l),
                        &r.clone().convert::<f32>(),
                        tol,
                    );
                }
            }
        }
        raws.insert(id.to_string(), raw);
    }

    // 2. val transform at the recorded size, from the reference's decoded image (bit-exact
    //    path) and our decoded labels; the reference casts with the wrapping astype(uint8).
    // `img_size` is one number (square) or `[H, W]`
    let [sh, sw] = match side.val_transform.img_size {
        ImgSize::Square(n) => [n, n],
        ImgSize::HW(hw) => hw,
    };
    let cfg = TransformConfig {
        size: [sh, sw],
        cast: ImageCast::Wrap,
    };
    for (id, raw) in &raws {
        let Some(ref_img) = val.get(&format!("raw.{id}.image")) else {
            continue;
        };
        let img = to_plane(&format!("raw.{id}.image"), ref_img)?;
        let mut fed = raw.clone();
        fed.image = img.map(|v| v as u8);
        let p = process(fed, &cfg, None);
        if let Some(r) = val.get(&format!("val.{id}.image_resized_f32")) {
            let resized = resize_image(&img, [sh, sw]);
            add_to(
                &mut groups,
                "val.image_resized",
                id,
                &plane_data(&resized),
                r,
                IMAGE_TOL,
            );
        }
        if let Some(r) = val.get(&format!("val.{id}.image_uint8")) {
            add_to(
                &mut groups,
                "val.image_uint8(wrap)",
                id,
                &plane_data(&p.image_u8.to_f64()),
                &r.clone().convert::<f32>(),
                Tolerance::EXACT,
            );
        }
        if let Some(r) = val.get(&format!("val.{id}.image")) {
            add_to(
                &mut groups,
                "val.image",
                id,
                &TensorData::new(p.image.clone(), [3, sh, sw]),
                r,
                Tolerance {
                    rel: 0.0,
                    abs: 1e-6,
                },
            );
        }
        for (t, l) in &p.labels {
            if let Some(r) = val.get(&format!("val.{id}.{}", t.name())) {
                let tol = tol_of(t.name());
                add_to(
                    &mut groups,
                    &format!("val.{}", t.name()),
                    id,
                    &TensorData::new(l.clone(), [t.label_channels(), sh, sw]),
                    r,
                    tol,
                );
            }
        }
    }

    // 3. the pipeline's train steps (`pipeline::flip`, `scale_rotate`, `resize_*`: what
    //    `process` runs) on the stored raw train samples
    for (op, rot, scale) in SCALE_ROTATE_OPS {
        let mut g = Group::new(format!("{op}(sidecar text)"));
        g.count += 1;
        let text = side
            .train_ops
            .get(op)
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !(text.contains(&format!("rots=[{rot:?}]"))
            && text.contains(&format!("scales=[{scale:?}]")))
        {
            g.fail(format!(
                "sidecar describes {op} as {text:?}, FORMAT.md §11.5 as rot {rot}, scale {scale}"
            ));
        }
        groups.push(g);
    }
    // each op runs once per sample; its elements are then compared one by one
    let mut done: BTreeMap<(String, String), Planes> = BTreeMap::new();
    for key in ops.keys() {
        let mut it = key.splitn(3, '.');
        let (Some(op), Some(id), Some(elem)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let known =
            op == "flip" || op.starts_with("resize") || SCALE_ROTATE_OPS.iter().any(|o| o.0 == op);
        if !known {
            // `train_raw` is the input; an op this check does not know stays unread and the
            // coverage group reports it
            continue;
        }
        let r = ops.get(&key).expect("a listed key");
        let planes = match done.entry((op.to_string(), id.to_string())) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let size = [r.shape()[0], r.shape()[1]];
                e.insert(apply(op, stored_raw(&ops, id)?, size))
            }
        };
        let Some(out) = planes.element(elem) else {
            let mut g = Group::new(format!("{op}.{elem}"));
            g.fail(format!("{key}: no element {elem:?} in a PASCAL sample"));
            groups.push(g);
            continue;
        };
        add_to(
            &mut groups,
            &format!("{op}.{elem}"),
            id,
            &plane_data(&out),
            r,
            tol_of(elem),
        );
    }
    groups.push(val.coverage());
    groups.push(ops.coverage());
    Ok(groups)
}
