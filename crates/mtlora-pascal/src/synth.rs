//! A synthetic dataset in the exact PASCAL_MT layout and file formats (dataset.md §9): real
//! JPEGs, P- and L-mode PNGs, MAT v5 files (compressed and plain) with the `anno` struct and
//! `LabelMap`, Parts JSON for the train split (the val one is left for regeneration).
//! Every human-parts case of the reference loader is exercised.

use std::path::Path;

use crate::codec::{encode_jpeg, encode_png};
use crate::error::{PascalError, Result};
use crate::layout::{parts_json_text, write_atomic};
use crate::mat::{matrix, string, write_mat, MatValue};
use crate::pipeline::SplitMix64;
use crate::plane::Plane;

/// Generator settings.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Number of ids (first half train, rest val).
    pub ids: usize,
    /// Seed.
    pub seed: u64,
    /// Image sizes `(W, H)`, used in turn.
    pub sizes: Vec<(usize, usize)>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            ids: 16,
            seed: 0,
            sizes: vec![(500, 375), (375, 500), (333, 500), (500, 332)],
        }
    }
}

/// Human-parts cases, in turn.
const CASES: [&str; 8] = [
    "person_with_parts",
    "no_objects",
    "dog_and_person_with_parts",
    "person_without_parts_and_cat",
    "two_persons_one_without_parts",
    "non_person_only",
    "person_with_parts_but_empty_instance_mask",
    "two_persons_overlapping_parts",
];

/// `(y0, x0, y1, x1)`, end-exclusive.
type Rect = (usize, usize, usize, usize);

struct Obj {
    class: &'static str,
    class_ind: u8,
    context_id: u16,
    rect: (usize, usize, usize, usize), // y0, x0, y1, x1 (exclusive)
    parts: Vec<(&'static str, Rect)>,
    empty_mask: bool,
}

fn person(rect: (usize, usize, usize, usize), with_parts: bool, empty_mask: bool) -> Obj {
    let (y0, x0, y1, x1) = rect;
    let h = y1 - y0;
    let band = |a: usize, b: usize| (y0 + h * a / 8, x0, (y0 + h * b / 8).max(y0 + 1), x1);
    let xm = (x0 + x1) / 2;
    let parts = if with_parts {
        vec![
            ("hair", band(0, 1)),
            ("head", band(1, 2)),
            ("neck", band(2, 3)),
            ("torso", band(3, 5)),
            ("luarm", (y0 + h * 3 / 8, x0, y0 + h * 4 / 8, xm)),
            ("rlarm", (y0 + h * 4 / 8, xm, y0 + h * 5 / 8, x1)),
            ("luleg", band(5, 6)),
            ("rlleg", band(6, 7)),
            ("lfoot", band(7, 8)),
        ]
    } else {
        vec![]
    };
    Obj {
        class: "person",
        class_ind: 15,
        context_id: 284,
        rect,
        parts,
        empty_mask,
    }
}

fn animal(
    class: &'static str,
    class_ind: u8,
    context_id: u16,
    rect: (usize, usize, usize, usize),
) -> Obj {
    Obj {
        class,
        class_ind,
        context_id,
        rect,
        parts: vec![],
        empty_mask: false,
    }
}

fn rect_mask(h: usize, w: usize, r: (usize, usize, usize, usize)) -> Vec<f64> {
    let mut m = vec![0.0; h * w];
    for y in r.0..r.2.min(h) {
        for x in r.1..r.3.min(w) {
            m[y * w + x] = 1.0;
        }
    }
    m
}

fn objects_for(case: &str, h: usize, w: usize, rng: &mut SplitMix64) -> Vec<Obj> {
    let mut r = |fy0: f64, fx0: f64, fy1: f64, fx1: f64| {
        let j = (rng.next_f64() * 0.05 * h.min(w) as f64) as usize;
        (
            ((fy0 * h as f64) as usize + j).min(h - 2),
            ((fx0 * w as f64) as usize + j).min(w - 2),
            ((fy1 * h as f64) as usize).max(2),
            ((fx1 * w as f64) as usize).max(2),
        )
    };
    match case {
        "person_with_parts" => vec![person(r(0.15, 0.3, 0.95, 0.6), true, false)],
        "no_objects" => vec![],
        "dog_and_person_with_parts" => vec![
            animal("dog", 12, 113, r(0.6, 0.05, 0.95, 0.35)),
            person(r(0.1, 0.45, 0.9, 0.75), true, false),
        ],
        "person_without_parts_and_cat" => vec![
            person(r(0.2, 0.1, 0.9, 0.4), false, false),
            animal("cat", 8, 65, r(0.5, 0.6, 0.9, 0.9)),
        ],
        "two_persons_one_without_parts" => vec![
            person(r(0.1, 0.05, 0.9, 0.4), true, false),
            person(r(0.2, 0.55, 0.95, 0.9), false, false),
        ],
        "non_person_only" => vec![animal("bird", 3, 25, r(0.1, 0.2, 0.5, 0.7))],
        "person_with_parts_but_empty_instance_mask" => {
            vec![person(r(0.2, 0.3, 0.9, 0.6), true, true)]
        }
        _ => vec![
            person(r(0.1, 0.1, 0.9, 0.55), true, false),
            person(r(0.15, 0.4, 0.95, 0.85), true, false),
        ],
    }
}

fn struct_value(fields: &[&str], elems: Vec<Vec<MatValue>>) -> MatValue {
    MatValue::Struct {
        dims: vec![1, elems.len()],
        fields: fields.iter().map(|s| s.to_string()).collect(),
        elems,
    }
}

fn palette() -> Vec<u8> {
    // VOC-style bit-interleaved colour map
    (0..256u32)
        .flat_map(|i| {
            let (mut r, mut g, mut b, mut c) = (0u8, 0u8, 0u8, i);
            for j in 0..8 {
                r |= ((c & 1) as u8) << (7 - j);
                g |= (((c >> 1) & 1) as u8) << (7 - j);
                b |= (((c >> 2) & 1) as u8) << (7 - j);
                c >>= 3;
            }
            [r, g, b]
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes)
}

/// One id's files; returns its Parts list.
fn write_id(
    root: &Path,
    id: &str,
    index: usize,
    w: usize,
    h: usize,
    rng: &mut SplitMix64,
) -> Result<Vec<i64>> {
    let case = CASES[index % CASES.len()];
    let objs = objects_for(case, h, w, rng);
    let n = h * w;
    // LabelMap: wall (valid) or sky (invalid) on top, floor (valid) below
    let top: u16 = if index.is_multiple_of(2) { 440 } else { 360 };
    let mut label_map: Vec<f64> = (0..n)
        .map(|i| if i / w < h / 2 { top as f64 } else { 158.0 })
        .collect();
    let mut semseg = vec![0u8; n];
    let mut sal = vec![0u8; n];
    let mut image = Plane::<u8>::new(h, w, 3);
    for y in 0..h {
        for x in 0..w {
            let o = (y * w + x) * 3;
            image.data[o] = (40 + (x * 80 / w)) as u8;
            image.data[o + 1] = if y < h / 2 { 120 } else { 70 };
            image.data[o + 2] = (60 + (y * 100 / h)) as u8;
            sal[y * w + x] = ((x + y) % 128) as u8; // 0..127: never salient
        }
    }
    let mut parts_list = Vec::new();
    let mut objects = Vec::new();
    for o in &objs {
        let m = if o.empty_mask {
            vec![0.0; n]
        } else {
            rect_mask(h, w, o.rect)
        };
        let area = m.iter().filter(|v| **v != 0.0).count();
        parts_list.push(if area > 0 { o.class_ind as i64 } else { -1 });
        let (y0, x0, y1, x1) = o.rect;
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                let i = y * w + x;
                let border = y == y0 || x == x0 || y + 1 == y1 || x + 1 == x1;
                semseg[i] = if border { 255 } else { o.class_ind };
                label_map[i] = o.context_id as f64;
                sal[i] = if (x + y) % 2 == 0 {
                    128
                } else {
                    200 + (o.class_ind % 50)
                };
                let c = o.class_ind as usize * 12;
                image.data[i * 3] = (c % 256) as u8;
                image.data[i * 3 + 1] = (255 - c % 256) as u8;
                image.data[i * 3 + 2] = (80 + c % 128) as u8;
            }
        }
        let parts_value = if o.parts.is_empty() {
            MatValue::Numeric {
                dims: vec![0, 0],
                data: vec![],
                class: 6,
            }
        } else {
            struct_value(
                &["part_name", "mask"],
                o.parts
                    .iter()
                    .map(|(name, r)| vec![string(name), matrix(h, w, &rect_mask(h, w, *r), 9)])
                    .collect(),
            )
        };
        objects.push(vec![
            string(o.class),
            matrix(1, 1, &[o.class_ind as f64], 6),
            matrix(h, w, &m, 9),
            parts_value,
        ]);
    }
    let objects_value = if objects.is_empty() {
        MatValue::Numeric {
            dims: vec![0, 0],
            data: vec![],
            class: 6,
        }
    } else {
        struct_value(&["class", "class_ind", "mask", "parts"], objects)
    };
    let anno = struct_value(
        &["imname", "objects"],
        vec![vec![string(&format!("{id}.jpg")), objects_value]],
    );
    let compress = index.is_multiple_of(2);
    write(
        &root.join(format!("human_parts/{id}.mat")),
        &write_mat(&[("anno", &anno)], compress),
    )?;
    let lm = matrix(h, w, &label_map, 11);
    write(
        &root.join(format!("pascal-context/trainval/{id}.mat")),
        &write_mat(&[("LabelMap", &lm)], !compress),
    )?;

    let sem = Plane::from_vec(h, w, 1, semseg);
    if index % 3 == 1 {
        // pascal-context fallback, grayscale ('L')
        write(
            &root.join(format!("semseg/pascal-context/{id}.png")),
            &encode_png(&sem, None),
        )?;
    } else {
        write(
            &root.join(format!("semseg/VOC12/{id}.png")),
            &encode_png(&sem, Some(&palette())),
        )?;
        if index % 3 == 2 {
            // decoy: must be ignored because the VOC12 file exists
            let decoy = sem.map(|v| if v == 255 { 255 } else { (v + 1) % 21 });
            write(
                &root.join(format!("semseg/pascal-context/{id}.png")),
                &encode_png(&decoy, None),
            )?;
        }
    }
    write(
        &root.join(format!("sal_distill/{id}.png")),
        &encode_png(&Plane::from_vec(h, w, 1, sal), None),
    )?;
    let mut normals = Plane::<u8>::new(h, w, 3);
    for y in 0..h {
        for x in 0..w {
            let o = (y * w + x) * 3;
            normals.data[o] = (128 + (x * 60 / w)) as u8;
            normals.data[o + 1] = (100 + (y * 60 / h)) as u8;
            normals.data[o + 2] = 255 - (x % 40) as u8;
        }
    }
    write(
        &root.join(format!("normals_distill/{id}.png")),
        &encode_png(&normals, None),
    )?;
    write(
        &root.join(format!("JPEGImages/{id}.jpg")),
        &encode_jpeg(&image, 90),
    )?;
    Ok(parts_list)
}

/// Write a synthetic dataset under `out` (created; existing files with the same names are
/// replaced atomically). Returns the `(train, val)` ids.
pub fn synthesize(out: &Path, cfg: &SynthConfig) -> Result<(Vec<String>, Vec<String>)> {
    if cfg.ids < 2 {
        return Err(PascalError::Invalid(
            "synth needs at least 2 ids (one train, one val)".into(),
        ));
    }
    if cfg.sizes.is_empty() || cfg.sizes.iter().any(|&(w, h)| w < 16 || h < 16) {
        return Err(PascalError::Invalid(
            "synth sizes must be at least 16x16".into(),
        ));
    }
    let n_train = cfg.ids.div_ceil(2);
    let mut train = Vec::new();
    let mut val = Vec::new();
    let mut train_parts = Vec::new();
    for i in 0..cfg.ids {
        let is_train = i < n_train;
        let id = if is_train {
            format!("2008_{:06}", i + 1)
        } else {
            format!("2009_{:06}", i + 1)
        };
        let (w, h) = cfg.sizes[i % cfg.sizes.len()];
        let mut rng = SplitMix64::for_sample(cfg.seed, 0, i as u64);
        let list = write_id(out, &id, i, w, h, &mut rng)?;
        if is_train {
            train_parts.push((id.clone(), list));
            train.push(id);
        } else {
            val.push(id);
        }
    }
    let lines = |ids: &[String]| ids.iter().map(|i| format!("{i}\n")).collect::<String>();
    write(
        &out.join("ImageSets/Context/train.txt"),
        lines(&train).as_bytes(),
    )?;
    write(
        &out.join("ImageSets/Context/val.txt"),
        lines(&val).as_bytes(),
    )?;
    write(
        &out.join("ImageSets/Parts/train.txt"),
        parts_json_text(&train_parts).as_bytes(),
    )?;
    let stale = out.join("ImageSets/Parts/val.txt");
    if stale.exists() {
        std::fs::remove_file(&stale).map_err(|e| PascalError::io(&stale, e))?;
    }
    Ok((train, val))
}
