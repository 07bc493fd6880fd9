//! `pascal_mini`: decoding of every file kind, the val transform at the recorded size and the
//! deterministic train ops, against the reference loader's tensors (FORMAT.md §11).

use burn::tensor::Device;
use std::collections::BTreeMap;

use burn::tensor::TensorData;
use mtlora_pascal::layout::PascalRoot;
use mtlora_pascal::pipeline::{process, TransformConfig};
use mtlora_pascal::sample::{decode_sample, RawSample, Task};
use mtlora_pascal::transforms::{fixed_resize, hflip, scale_rotate, ImageCast, Interp};
use mtlora_pascal::Plane;
use serde_json::Value;

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

fn parse_after(s: &str, key: &str) -> Option<f64> {
    let i = s.find(key)? + key.len();
    let rest = &s[i..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))?;
    rest[..end].parse().ok()
}

pub(crate) fn run(fx: &Fixture, _device: &Device) -> Result<Vec<Group>, ParityError> {
    let dir = fx
        .json
        .get("dataset_dir")
        .and_then(Value::as_str)
        .unwrap_or("pascal_mini/");
    let cache = std::env::temp_dir().join(format!("mtlora-parity-cache-{}", std::process::id()));
    let root = PascalRoot::new(fx.dir.join(dir)).with_cache_dir(&cache);
    let stem = fx
        .json
        .get("fixture")
        .and_then(Value::as_str)
        .unwrap_or("pascal_mini");
    let val = mtlora::read_safetensors(&fx.dir.join(format!("{stem}_val.safetensors")))?;
    let ops = mtlora::read_safetensors(&fx.dir.join(format!("{stem}_train_ops.safetensors")))?;
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
    if let Some(expected) = fx
        .json
        .pointer("/parts_json/regenerated_content_of_missing")
        .and_then(Value::as_str)
    {
        let split = fx
            .json
            .pointer("/parts_json/missing_for_split")
            .and_then(Value::as_str)
            .unwrap_or("val");
        let written = std::fs::read_to_string(cache.join(format!("ImageSets/Parts/{split}.txt")))
            .unwrap_or_default();
        pj.count += 1;
        if written != expected {
            pj.fail(format!(
                "regenerated text differs:\n{written:?}\nexpected\n{expected:?}"
            ));
        }
    }
    groups.push(pj);

    // 1. raw decoding of every id
    let ids = fx.field("ids")?.as_array().cloned().unwrap_or_default();
    let mut raws: BTreeMap<String, RawSample> = BTreeMap::new();
    for e in &ids {
        let id = e.get("id").and_then(Value::as_str).unwrap_or("");
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
    let size_v = fx.json.pointer("/val_transform/img_size");
    let [sh, sw] = match size_v.and_then(Value::as_array) {
        Some(a) if a.len() == 2 => [0, 1].map(|i| a[i].as_u64().unwrap_or(32) as usize),
        _ => [size_v.and_then(Value::as_u64).unwrap_or(32) as usize; 2],
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
            let resized = fixed_resize(&img, sh, sw, Interp::Cubic, false);
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

    // 3. deterministic train ops on the stored raw train samples
    let ops_doc = fx.json.get("train_ops").cloned().unwrap_or(Value::Null);
    for (key, r) in &ops {
        let mut it = key.splitn(3, '.');
        let (Some(op), Some(id), Some(elem)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if op == "train_raw" {
            continue;
        }
        let Some(src) = ops.get(&format!("train_raw.{id}.{elem}")) else {
            continue;
        };
        let src = to_plane(&format!("train_raw.{id}.{elem}"), src)?;
        let task = elem_task(elem);
        let normals = task == Some(Task::Normals);
        let interp = if elem == "image" || normals {
            Interp::Cubic
        } else {
            Interp::Nearest
        };
        let out = if op == "flip" {
            hflip(&src, normals)
        } else if op.starts_with("resize") {
            let s = r.shape().to_vec();
            fixed_resize(&src, s[0], s[1], interp, normals)
        } else if op.starts_with("srot") {
            let doc = ops_doc.get(op).and_then(Value::as_str).unwrap_or("");
            let (Some(rot), Some(sc)) = (parse_after(doc, "rots=["), parse_after(doc, "scales=["))
            else {
                let mut g = Group::new(op);
                g.fail(format!("cannot read rotation/scale from {doc:?}"));
                groups.push(g);
                continue;
            };
            scale_rotate(&src, rot, sc, interp, normals)
        } else {
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
    let _ = std::fs::remove_dir_all(&cache);
    Ok(groups)
}
