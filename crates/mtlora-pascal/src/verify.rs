//! `dataset verify`: check the layout and every per-id file of each split, decode everything,
//! and collect statistics and *all* problems.

use std::collections::BTreeMap;
use std::path::Path;

use crate::classes::normal_valid;
use crate::codec::{read_png_raw, read_rgb};
use crate::layout::{PascalRoot, SPLITS};
use crate::sample::{
    decode_human_parts, decode_label_map, decode_normals, decode_sal, decode_semseg,
};

/// Statistics of one split.
#[derive(Debug, Clone, Default)]
pub struct SplitReport {
    /// Split name.
    pub name: String,
    /// Number of ids.
    pub ids: usize,
    /// Ids whose decoding succeeded.
    pub decoded: usize,
    /// Images with part-annotated persons (Parts list contains 15 and a part is painted).
    pub with_parts: usize,
    /// Semseg value histogram.
    pub semseg_hist: BTreeMap<u8, u64>,
    /// Human-parts value histogram.
    pub parts_hist: BTreeMap<u8, u64>,
    /// Salient pixels / all pixels.
    pub sal_positive: (u64, u64),
    /// Normal-valid pixels / all pixels.
    pub normals_valid: (u64, u64),
    /// Semseg files found only under `semseg/pascal-context`.
    pub semseg_fallback: usize,
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Per split.
    pub splits: Vec<SplitReport>,
    /// Every problem found (file and reason).
    pub problems: Vec<String>,
}

struct IdStats {
    decoded: bool,
    with_parts: bool,
    semseg: [u64; 256],
    parts: [u64; 256],
    sal: (u64, u64),
    normals: (u64, u64),
    fallback: bool,
    problems: Vec<String>,
}

fn check_id(root: &PascalRoot, id: &str, parts_list: Option<&[i64]>) -> IdStats {
    let p = root.paths(id);
    let mut s = IdStats {
        decoded: false,
        with_parts: false,
        semseg: [0; 256],
        parts: [0; 256],
        sal: (0, 0),
        normals: (0, 0),
        fallback: !p.semseg.starts_with(root.root.join("semseg/VOC12")),
        problems: vec![],
    };
    let img = match read_rgb(&p.image) {
        Ok(i) => i,
        Err(e) => {
            s.problems.push(e.to_string());
            // still check that the other files exist
            for f in [&p.semseg, &p.human_parts, &p.context, &p.normals, &p.sal] {
                if !f.exists() {
                    s.problems.push(format!("{}: missing file", f.display()));
                }
            }
            return s;
        }
    };
    let mut ok = true;
    match decode_semseg(&p.semseg, &img) {
        Ok(l) => {
            for &v in &l.data {
                s.semseg[v as usize] += 1;
            }
            let bad: Vec<u8> = (21u8..255).filter(|&v| s.semseg[v as usize] > 0).collect();
            if !bad.is_empty() {
                s.problems.push(format!(
                    "{}: semseg values outside 0..20/255: {bad:?}",
                    p.semseg.display()
                ));
            }
        }
        Err(e) => {
            ok = false;
            s.problems.push(e.to_string());
        }
    }
    match decode_human_parts(&p.human_parts, parts_list, &img) {
        Ok(l) => {
            for &v in &l.data {
                s.parts[v as usize] += 1;
            }
            s.with_parts = l.data.iter().any(|&v| v != 0);
        }
        Err(e) => {
            ok = false;
            s.problems.push(e.to_string());
        }
    }
    // the MAT file must parse even when the image has no persons (reference requires it)
    if let Err(e) = crate::layout::object_classes(&p.human_parts) {
        if ok {
            s.problems.push(e.to_string());
        }
        ok = false;
    }
    match decode_sal(&p.sal, &img) {
        Ok(l) => {
            s.sal = (
                l.data.iter().filter(|&&v| v > 0).count() as u64,
                l.data.len() as u64,
            )
        }
        Err(e) => {
            ok = false;
            s.problems.push(e.to_string());
        }
    }
    match decode_label_map(&p.context) {
        Ok((_, _, lm)) => {
            s.normals = (
                lm.iter().filter(|&&c| normal_valid(c)).count() as u64,
                lm.len() as u64,
            );
            if let Err(e) = decode_normals(&p.normals, &p.context, &img) {
                ok = false;
                s.problems.push(e.to_string());
            }
        }
        Err(e) => {
            ok = false;
            s.problems.push(e.to_string());
            if let Err(e) = read_png_raw(&p.normals) {
                s.problems.push(e.to_string());
            }
        }
    }
    s.decoded = ok;
    s
}

/// Verify a dataset root (all known splits that have a split file), using `threads` workers.
pub fn verify(root: &PascalRoot, threads: usize) -> VerifyReport {
    verify_with_progress(root, threads, &|_, _, _| {})
}

/// [`verify`] calling `progress(split, done, total)` after every id (from worker threads).
pub fn verify_with_progress(
    root: &PascalRoot,
    threads: usize,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> VerifyReport {
    let mut report = VerifyReport::default();
    for dir in &crate::descriptor::pascal_mt().layout.directories {
        if !root.root.join(dir).is_dir() {
            report.problems.push(format!(
                "{}: missing directory",
                root.root.join(dir).display()
            ));
        }
    }
    for split in SPLITS {
        let ids = match root.split_ids(split) {
            Ok(ids) => ids,
            Err(e) => {
                report.problems.push(e.to_string());
                continue;
            }
        };
        let parts = match root.parts_index(split) {
            Ok(p) => p,
            Err(e) => {
                report.problems.push(format!("Parts index of {split}: {e}"));
                BTreeMap::new()
            }
        };
        let threads = threads.clamp(1, ids.len().max(1));
        let chunk = ids.len().div_ceil(threads).max(1);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = ids.len();
        let stats: Vec<IdStats> = std::thread::scope(|s| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|c| {
                    let (parts, done) = (&parts, &done);
                    s.spawn(move || {
                        c.iter()
                            .map(|id| {
                                let st = check_id(root, id, parts.get(id).map(Vec::as_slice));
                                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                                progress(split, n, total);
                                st
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("verify worker"))
                .collect()
        });
        let mut r = SplitReport {
            name: split.into(),
            ids: ids.len(),
            ..Default::default()
        };
        for st in stats {
            r.decoded += st.decoded as usize;
            r.with_parts += st.with_parts as usize;
            r.semseg_fallback += st.fallback as usize;
            for v in 0..256 {
                if st.semseg[v] > 0 {
                    *r.semseg_hist.entry(v as u8).or_default() += st.semseg[v];
                }
                if st.parts[v] > 0 {
                    *r.parts_hist.entry(v as u8).or_default() += st.parts[v];
                }
            }
            r.sal_positive.0 += st.sal.0;
            r.sal_positive.1 += st.sal.1;
            r.normals_valid.0 += st.normals.0;
            r.normals_valid.1 += st.normals.1;
            report.problems.extend(st.problems);
        }
        report.splits.push(r);
    }
    if report.splits.is_empty() {
        report.problems.push(format!(
            "{}: no split file found",
            root.root.join("ImageSets/Context").display()
        ));
    }
    report
}

fn frac(p: (u64, u64)) -> f64 {
    if p.1 == 0 {
        0.0
    } else {
        p.0 as f64 / p.1 as f64
    }
}

impl VerifyReport {
    /// Human-readable report.
    pub fn render(&self, root: &Path) -> String {
        let mut s = format!("dataset: {}\n", root.display());
        for r in &self.splits {
            let expected = crate::descriptor::pascal_mt()
                .splits
                .get(&r.name)
                .map_or("?".to_string(), |n| n.to_string());
            s.push_str(&format!(
                "split {:<5} ids {:>6} (real PASCAL_MT: {expected})  decoded {:>6}  with part-annotated persons {:>6}  semseg fallback (pascal-context) {:>6}\n",
                r.name, r.ids, r.decoded, r.with_parts, r.semseg_fallback
            ));
            s.push_str(&format!("  semseg values: {:?}\n", r.semseg_hist));
            s.push_str(&format!("  human_parts values: {:?}\n", r.parts_hist));
            s.push_str(&format!(
                "  salient pixel fraction: {:.4}\n",
                frac(r.sal_positive)
            ));
            s.push_str(&format!(
                "  valid normal pixel fraction: {:.4}\n",
                frac(r.normals_valid)
            ));
        }
        if self.problems.is_empty() {
            s.push_str("problems: none\n");
        } else {
            s.push_str(&format!("problems: {}\n", self.problems.len()));
            for p in &self.problems {
                s.push_str(&format!("  - {p}\n"));
            }
        }
        s
    }
}
