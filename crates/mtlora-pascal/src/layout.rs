//! The PASCAL_MT directory layout, split files and the Parts index (`ImageSets/Parts`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::classes::PERSON;
use crate::codec::read_mat;
use crate::error::{PascalError, Result};
use crate::mat::MatValue;

/// The files of one id.
#[derive(Debug, Clone)]
pub struct IdPaths {
    /// `JPEGImages/<id>.jpg`.
    pub image: PathBuf,
    /// `semseg/VOC12/<id>.png` if present, else `semseg/pascal-context/<id>.png`.
    pub semseg: PathBuf,
    /// `human_parts/<id>.mat`.
    pub human_parts: PathBuf,
    /// `pascal-context/trainval/<id>.mat`.
    pub context: PathBuf,
    /// `normals_distill/<id>.png`.
    pub normals: PathBuf,
    /// `sal_distill/<id>.png`.
    pub sal: PathBuf,
}

/// A PASCAL_MT root (read only) and a cache directory for regenerated Parts files.
#[derive(Debug, Clone)]
pub struct PascalRoot {
    /// Dataset root (the reference's `--pascal`).
    pub root: PathBuf,
    /// Where regenerated `ImageSets/Parts/<split>.txt` files go (never inside `root`).
    pub cache_dir: PathBuf,
}

/// The known splits.
pub const SPLITS: [&str; 2] = ["train", "val"];

fn default_cache(root: &Path) -> PathBuf {
    let base = std::env::var_os("MTLORA_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("mtlora-rs")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mtlora-rs")))
        .unwrap_or_else(|| std::env::temp_dir().join("mtlora-rs"));
    let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    // FNV-1a of the absolute root path: one cache folder per dataset location
    let mut h: u64 = 0xcbf29ce484222325;
    for b in abs.to_string_lossy().bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    base.join("pascal-parts").join(format!("{h:016x}"))
}

impl PascalRoot {
    /// A root with the default cache directory (`$MTLORA_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/mtlora-rs`, else `~/.cache/mtlora-rs`, one folder per root).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let cache_dir = default_cache(&root);
        Self { root, cache_dir }
    }

    /// Same root, explicit cache directory.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    /// Check that a split name is known.
    pub fn check_split(split: &str) -> Result<()> {
        if SPLITS.contains(&split) {
            Ok(())
        } else {
            Err(PascalError::Invalid(format!(
                "unknown split {split:?} (expected one of {SPLITS:?})"
            )))
        }
    }

    /// Ids of a split in file order (`ImageSets/Context/<split>.txt`).
    pub fn split_ids(&self, split: &str) -> Result<Vec<String>> {
        Self::check_split(split)?;
        let p = self
            .root
            .join("ImageSets/Context")
            .join(format!("{split}.txt"));
        let text = std::fs::read_to_string(&p).map_err(|e| PascalError::io(&p, e))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// Ids of several splits: split names sorted, ids in file order (reference rule).
    pub fn ids(&self, splits: &[&str]) -> Result<Vec<(String, String)>> {
        let mut s: Vec<&str> = splits.to_vec();
        s.sort_unstable();
        s.dedup();
        let mut out = Vec::new();
        for split in s {
            for id in self.split_ids(split)? {
                out.push((split.to_string(), id));
            }
        }
        Ok(out)
    }

    /// File paths of one id (semseg: VOC12 first, then pascal-context).
    pub fn paths(&self, id: &str) -> IdPaths {
        let r = &self.root;
        let voc = r.join("semseg/VOC12").join(format!("{id}.png"));
        let semseg = if voc.exists() {
            voc
        } else {
            r.join("semseg/pascal-context").join(format!("{id}.png"))
        };
        IdPaths {
            image: r.join("JPEGImages").join(format!("{id}.jpg")),
            semseg,
            human_parts: r.join("human_parts").join(format!("{id}.mat")),
            context: r.join("pascal-context/trainval").join(format!("{id}.mat")),
            normals: r.join("normals_distill").join(format!("{id}.png")),
            sal: r.join("sal_distill").join(format!("{id}.png")),
        }
    }

    /// The Parts index of a split: `ImageSets/Parts/<split>.txt` in the root if valid (its
    /// sorted keys equal the split ids), else a valid copy in the cache, else regenerated from
    /// `human_parts/*.mat` into the cache (same content as the reference writes).
    pub fn parts_index(&self, split: &str) -> Result<BTreeMap<String, Vec<i64>>> {
        let ids = self.split_ids(split)?;
        let name = format!("ImageSets/Parts/{split}.txt");
        for candidate in [self.root.join(&name), self.cache_dir.join(&name)] {
            if let Some(idx) = read_parts_json(&candidate, &ids) {
                return Ok(idx);
            }
        }
        let mut entries = Vec::with_capacity(ids.len());
        let mut idx = BTreeMap::new();
        for id in &ids {
            let list = object_classes(&self.paths(id).human_parts)?;
            entries.push((id.clone(), list.clone()));
            idx.insert(id.clone(), list);
        }
        let out = self.cache_dir.join(&name);
        write_atomic(&out, parts_json_text(&entries).as_bytes())?;
        tracing::info!("regenerated {} into {}", name, out.display());
        Ok(idx)
    }
}

/// Parse a Parts JSON file; `None` if absent, unparsable or its keys differ from `ids`.
pub fn read_parts_json(path: &Path, ids: &[String]) -> Option<BTreeMap<String, Vec<i64>>> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let obj = v.as_object()?;
    let mut a: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut b: Vec<&str> = ids.iter().map(String::as_str).collect();
    a.sort_unstable();
    b.sort_unstable();
    if a != b {
        return None;
    }
    obj.iter()
        .map(|(k, v)| {
            let list = v
                .as_array()?
                .iter()
                .map(|x| x.as_i64())
                .collect::<Option<Vec<_>>>()?;
            Some((k.clone(), list))
        })
        .collect()
}

/// The reference's text: `{\n`, entries `\t"<id>": [a, b]` joined by `,\n`, then `\n}\n`.
pub fn parts_json_text(entries: &[(String, Vec<i64>)]) -> String {
    let body: Vec<String> = entries
        .iter()
        .map(|(id, l)| {
            let items: Vec<String> = l.iter().map(i64::to_string).collect();
            format!("\t\"{id}\": [{}]", items.join(", "))
        })
        .collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

/// Field names and per-element field values of a struct array.
pub type StructFields = (Vec<String>, Vec<Vec<MatValue>>);

/// The `anno.objects` struct of a human-parts MAT file (fields by position).
pub fn objects_of(path: &Path, vars: &[(String, MatValue)]) -> Result<Option<StructFields>> {
    let anno = vars
        .iter()
        .find(|(n, _)| n == "anno")
        .or_else(|| vars.first())
        .ok_or_else(|| PascalError::corrupt(path, "no variable (expected struct 'anno')"))?;
    let MatValue::Struct { fields, elems, .. } = &anno.1 else {
        return Err(PascalError::corrupt(path, "'anno' is not a struct"));
    };
    if fields.len() < 2 || elems.is_empty() {
        return Err(PascalError::corrupt(
            path,
            format!("'anno' has fields {fields:?}; expected (imname, objects)"),
        ));
    }
    match &elems[0][1] {
        MatValue::Struct { fields, elems, .. } => {
            if fields.len() < 4 {
                return Err(PascalError::corrupt(
                    path,
                    format!("'anno.objects' has fields {fields:?}; expected (class, class_ind, mask, parts)"),
                ));
            }
            Ok(Some((fields.clone(), elems.clone())))
        }
        v if v.is_empty() => Ok(None),
        _ => Err(PascalError::corrupt(
            path,
            "'anno.objects' is not a struct array",
        )),
    }
}

/// Per object: `class_ind` if its mask area is > 0, else −1 (reference Parts JSON rule).
pub fn object_classes(path: &Path) -> Result<Vec<i64>> {
    let vars = read_mat(path)?;
    let Some((_, objs)) = objects_of(path, &vars)? else {
        return Ok(vec![]);
    };
    objs.iter()
        .map(|o| {
            let ci = o[1]
                .scalar()
                .ok_or_else(|| PascalError::corrupt(path, "object without numeric class_ind"))?;
            let area = match &o[2] {
                MatValue::Numeric { data, .. } => data.iter().filter(|&&v| v != 0.0).count(),
                _ => return Err(PascalError::corrupt(path, "object mask is not numeric")),
            };
            Ok(if area > 0 { ci as i64 } else { -1 })
        })
        .collect()
}

/// Whether a Parts list marks the image as having part-annotated persons.
pub fn has_persons(list: &[i64]) -> bool {
    list.contains(&PERSON)
}

/// Write atomically (creating parent folders): a new temporary file with an unpredictable
/// name in the same folder, created exclusively (never following a planted symlink), then
/// renamed over `path`; on failure it is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| PascalError::io(d, e))?;
            d
        }
        None => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
    let io = |e: std::io::Error| PascalError::io(path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
