//! Decoding one id into raw arrays (dataset.md §3).

use std::collections::BTreeMap;
use std::path::Path;

use crate::classes::{normal_valid, part_group, PERSON};
use crate::codec::{read_mat, read_png_raw, read_rgb, PngKind};
use crate::error::{PascalError, Result};
use crate::layout::{has_persons, objects_of, IdPaths};
use crate::mat::MatValue;
use crate::plane::Plane;

pub use mtlora_tasks::Task;

/// The PASCAL_MT task called `name`: one of [`Task::PASCAL`] (the vocabulary knows more tasks,
/// e.g. NYUD-v2's depth, that this reader cannot decode).
pub fn pascal_task(name: &str) -> Result<Task> {
    let t = Task::from_name(name).map_err(|_| {
        PascalError::Invalid(format!(
            "task {name:?} does not exist (PASCAL_MT tasks: semseg, human_parts, sal, normals)"
        ))
    })?;
    check_pascal(t)?;
    Ok(t)
}

/// An error for tasks outside [`Task::PASCAL`].
pub fn check_pascal(t: Task) -> Result<()> {
    if Task::PASCAL.contains(&t) {
        Ok(())
    } else {
        Err(PascalError::Invalid(format!(
            "task {t} is not a PASCAL_MT task (expected semseg, human_parts, sal or normals)"
        )))
    }
}

/// Raw decoded sample at the image's size.
#[derive(Debug, Clone)]
pub struct RawSample {
    /// Image id.
    pub id: String,
    /// RGB `H×W×3`.
    pub image: Plane<u8>,
    /// Integer label maps `H×W` (semseg and parts ids, sal 0/1), nearest-interpolated.
    pub maps: BTreeMap<Task, Plane<u8>>,
    /// Masked normals `H×W×3` (if requested).
    pub normals: Option<Plane<f64>>,
}

impl RawSample {
    /// Every label as f64 `H×W×C` (for comparisons and statistics).
    pub fn labels(&self) -> BTreeMap<Task, Plane<f64>> {
        let mut out: BTreeMap<Task, Plane<f64>> =
            self.maps.iter().map(|(t, m)| (*t, m.to_f64())).collect();
        if let Some(n) = &self.normals {
            out.insert(Task::Normals, n.clone());
        }
        out
    }
}

fn check_size(path: &Path, h: usize, w: usize, img: &Plane<u8>) -> Result<()> {
    if (h, w) != (img.h, img.w) {
        return Err(PascalError::Size {
            path: path.to_path_buf(),
            got_h: h,
            got_w: w,
            want_h: img.h,
            want_w: img.w,
        });
    }
    Ok(())
}

fn single_channel(path: &Path, p: Plane<u8>, kind: PngKind) -> Result<Plane<u8>> {
    if p.c != 1 {
        return Err(PascalError::corrupt(
            path,
            format!(
                "{kind:?} PNG with {} channels; expected one 8-bit channel",
                p.c
            ),
        ));
    }
    Ok(p)
}

/// Semseg: raw sample values (palette indices for 'P').
pub fn decode_semseg(path: &Path, img: &Plane<u8>) -> Result<Plane<u8>> {
    let (p, kind) = read_png_raw(path)?;
    let p = single_channel(path, p, kind)?;
    check_size(path, p.h, p.w, img)?;
    // a value the loss cannot index must be named here, not fail inside a kernel
    let classes = crate::classes::VOC_CLASSES.len();
    if let Some((i, v)) = p
        .data
        .iter()
        .enumerate()
        .find(|(_, &v)| v as usize >= classes && v != 255)
    {
        return Err(PascalError::corrupt(
            path,
            format!(
                "semseg label {v} at row {}, column {} (classes are 0..{}, 255 = ignore)",
                i / p.w,
                i % p.w,
                classes - 1
            ),
        ));
    }
    Ok(p)
}

/// Saliency: `v/255 > 0.5` on raw values (128 → 1, 127 → 0).
pub fn decode_sal(path: &Path, img: &Plane<u8>) -> Result<Plane<u8>> {
    let (p, kind) = read_png_raw(path)?;
    let p = single_channel(path, p, kind)?;
    check_size(path, p.h, p.w, img)?;
    Ok(p.map(|v| u8::from(v as f64 / 255.0 > 0.5)))
}

/// `LabelMap` of a PASCAL-Context MAT file, row-major.
pub fn decode_label_map(path: &Path) -> Result<(usize, usize, Vec<f64>)> {
    let vars = read_mat(path)?;
    let lm = vars
        .iter()
        .find(|(n, _)| n == "LabelMap")
        .ok_or_else(|| PascalError::corrupt(path, "no variable 'LabelMap'"))?;
    lm.1.as_matrix()
        .ok_or_else(|| PascalError::corrupt(path, "'LabelMap' is not a 2-D numeric array"))
}

/// Normals: `2v/255 − 1`, zeroed where LabelMap is not a normal-valid class.
pub fn decode_normals(path: &Path, context: &Path, img: &Plane<u8>) -> Result<Plane<f64>> {
    let (p, _) = read_png_raw(path)?;
    if p.c != 3 {
        return Err(PascalError::corrupt(
            path,
            format!("normals PNG with {} channels; expected RGB", p.c),
        ));
    }
    check_size(path, p.h, p.w, img)?;
    let (lh, lw, lm) = decode_label_map(context)?;
    check_size(context, lh, lw, img)?;
    let valid = normal_valid_table();
    let lut: Vec<f64> = (0..256).map(|v| 2.0 * v as f64 / 255.0 - 1.0).collect();
    let mut out = p.map(|v| lut[v as usize]);
    for (i, &cls) in lm.iter().enumerate() {
        let ok =
            cls >= 0.0 && (cls as usize) < valid.len() && cls.fract() == 0.0 && valid[cls as usize];
        if !ok {
            out.data[i * 3..i * 3 + 3].fill(0.0);
        }
    }
    Ok(out)
}

fn normal_valid_table() -> &'static [bool] {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| (0..=460).map(|i| normal_valid(i as f64)).collect())
}

/// Paint `value` into the row-major `out` wherever the (column-major) MAT mask is non-zero.
fn paint(
    path: &Path,
    v: &MatValue,
    img: &Plane<u8>,
    value: u8,
    out: &mut [u8],
    what: &str,
) -> Result<()> {
    let MatValue::Numeric { dims, data, .. } = v else {
        return Err(PascalError::corrupt(path, format!("{what} is not numeric")));
    };
    if dims.len() != 2 {
        return Err(PascalError::corrupt(
            path,
            format!("{what} is not 2-D ({dims:?})"),
        ));
    }
    check_size(path, dims[0], dims[1], img)?;
    let h = dims[0];
    for (c, col) in data.chunks_exact(h.max(1)).enumerate() {
        for (r, &m) in col.iter().enumerate() {
            if m != 0.0 {
                out[r * img.w + c] = value;
            }
        }
    }
    Ok(())
}

/// Human parts (6-part grouping): painted only if the Parts list contains 15; persons with
/// non-empty parts, parts in file order, later writes win; everything else 0.
pub fn decode_human_parts(
    path: &Path,
    parts_list: Option<&[i64]>,
    img: &Plane<u8>,
) -> Result<Plane<u8>> {
    let mut out = Plane::<u8>::new(img.h, img.w, 1);
    if !parts_list.is_some_and(has_persons) {
        return Ok(out);
    }
    let vars = read_mat(path)?;
    let Some((_, objects)) = objects_of(path, &vars)? else {
        return Ok(out);
    };
    for (i, o) in objects.iter().enumerate() {
        let ci = o[1].scalar().ok_or_else(|| {
            PascalError::corrupt(path, format!("object {i}: class_ind is not numeric"))
        })?;
        if ci as i64 != PERSON || o[3].is_empty() {
            continue;
        }
        let MatValue::Struct { fields, elems, .. } = &o[3] else {
            return Err(PascalError::corrupt(
                path,
                format!("object {i}: 'parts' is not a struct array"),
            ));
        };
        if fields.len() < 2 {
            return Err(PascalError::corrupt(
                path,
                format!("object {i}: parts have fields {fields:?}; expected (part_name, mask)"),
            ));
        }
        for part in elems {
            let name = part[0].text().ok_or_else(|| {
                PascalError::corrupt(path, format!("object {i}: part_name is not text"))
            })?;
            let g = part_group(name).ok_or_else(|| {
                PascalError::corrupt(path, format!("object {i}: unknown part name {name:?}"))
            })?;
            paint(path, &part[1], img, g, &mut out.data, "part mask")?;
        }
    }
    Ok(out)
}

/// Decode the image and the labels of `tasks` for one id.
pub fn decode_sample(
    id: &str,
    paths: &IdPaths,
    tasks: &[Task],
    parts_list: Option<&[i64]>,
) -> Result<RawSample> {
    let image = read_rgb(&paths.image)?;
    let mut maps = BTreeMap::new();
    let mut normals = None;
    for &t in tasks {
        match t {
            Task::Semseg => {
                maps.insert(t, decode_semseg(&paths.semseg, &image)?);
            }
            Task::HumanParts => {
                maps.insert(
                    t,
                    decode_human_parts(&paths.human_parts, parts_list, &image)?,
                );
            }
            Task::Sal => {
                maps.insert(t, decode_sal(&paths.sal, &image)?);
            }
            Task::Normals => {
                normals = Some(decode_normals(&paths.normals, &paths.context, &image)?)
            }
            other => check_pascal(other)?,
        }
    }
    Ok(RawSample {
        id: id.to_string(),
        image,
        maps,
        normals,
    })
}
