//! MAT v5 writing (synthetic datasets, tests).

use std::io::Write;

use super::*;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_element(out: &mut Vec<u8>, ty: u32, data: &[u8]) {
    if data.len() <= 4 && !data.is_empty() {
        put_u32(out, ((data.len() as u32) << 16) | ty);
        let mut d = [0u8; 4];
        d[..data.len()].copy_from_slice(data);
        out.extend_from_slice(&d);
        return;
    }
    put_u32(out, ty);
    put_u32(out, data.len() as u32);
    out.extend_from_slice(data);
    out.resize(out.len() + (8 - data.len() % 8) % 8, 0);
}

fn matrix_body(name: &str, v: &MatValue) -> Vec<u8> {
    let mut b = Vec::new();
    let class = match v {
        MatValue::Numeric { class, .. } => *class,
        MatValue::Char { .. } => MX_CHAR,
        MatValue::Struct { .. } => MX_STRUCT,
        MatValue::Cell { .. } => MX_CELL,
    };
    let mut flags = Vec::new();
    flags.extend_from_slice(&(class as u32).to_le_bytes());
    flags.extend_from_slice(&0u32.to_le_bytes());
    put_element(&mut b, MI_UINT32, &flags);
    let dims: Vec<u8> = v
        .dims()
        .iter()
        .flat_map(|&d| (d as i32).to_le_bytes())
        .collect();
    put_element(&mut b, MI_INT32, &dims);
    put_element(&mut b, MI_INT8, name.as_bytes());
    match v {
        MatValue::Numeric { data, class, .. } => {
            if !data.is_empty() {
                match class {
                    9 => put_element(
                        &mut b,
                        MI_UINT8,
                        &data.iter().map(|&x| x as u8).collect::<Vec<_>>(),
                    ),
                    11 => put_element(
                        &mut b,
                        MI_UINT16,
                        &data
                            .iter()
                            .flat_map(|&x| (x as u16).to_le_bytes())
                            .collect::<Vec<_>>(),
                    ),
                    _ => put_element(
                        &mut b,
                        MI_DOUBLE,
                        &data
                            .iter()
                            .flat_map(|x| x.to_le_bytes())
                            .collect::<Vec<_>>(),
                    ),
                }
            }
        }
        MatValue::Char { text, .. } => {
            if !text.is_empty() {
                let d: Vec<u8> = text
                    .chars()
                    .flat_map(|c| (c as u16).to_le_bytes())
                    .collect();
                put_element(&mut b, MI_UTF16, &d);
            }
        }
        MatValue::Struct { fields, elems, .. } => {
            let len = fields.iter().map(|f| f.len() + 1).max().unwrap_or(1).max(8);
            put_element(&mut b, MI_INT32, &(len as i32).to_le_bytes());
            let mut names = Vec::new();
            for f in fields {
                let mut n = f.as_bytes().to_vec();
                n.resize(len, 0);
                names.extend_from_slice(&n);
            }
            put_element(&mut b, MI_INT8, &names);
            for e in elems {
                for fv in e {
                    put_element(&mut b, MI_MATRIX, &matrix_body("", fv));
                }
            }
        }
        MatValue::Cell { elems, .. } => {
            for e in elems {
                put_element(&mut b, MI_MATRIX, &matrix_body("", e));
            }
        }
    }
    b
}

/// Write a MAT v5 file (little-endian), each variable optionally zlib-compressed.
pub fn write_mat(vars: &[(&str, &MatValue)], compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut header =
        b"MATLAB 5.0 MAT-file, Platform: mtlora-rs, Created by mtlora-pascal synth".to_vec();
    header.resize(116, b' ');
    out.extend_from_slice(&header);
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&0x0100u16.to_le_bytes());
    out.extend_from_slice(b"IM");
    for (name, v) in vars {
        let mut el = Vec::new();
        put_element(&mut el, MI_MATRIX, &matrix_body(name, v));
        if compress {
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&el).expect("in-memory write");
            let z = enc.finish().expect("in-memory write");
            put_u32(&mut out, MI_COMPRESSED);
            put_u32(&mut out, z.len() as u32);
            out.extend_from_slice(&z);
        } else {
            out.extend_from_slice(&el);
        }
    }
    out
}

/// Numeric helper: a row-major `h×w` matrix stored column-major with class `class`.
pub fn matrix(h: usize, w: usize, row_major: &[f64], class: u8) -> MatValue {
    let mut data = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            data[c * h + r] = row_major[r * w + c];
        }
    }
    MatValue::Numeric {
        dims: vec![h, w],
        data,
        class,
    }
}

/// Char helper (1×N).
pub fn string(s: &str) -> MatValue {
    MatValue::Char {
        dims: vec![1, s.chars().count()],
        text: s.to_string(),
    }
}
