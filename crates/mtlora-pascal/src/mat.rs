//! A focused MAT v5 (Level 5 MAT-file) reader and writer: numeric, char, struct and cell
//! arrays, zlib-compressed (`miCOMPRESSED`) and packed small elements, both byte orders.
//! Struct field order is kept (the PASCAL loader reads fields by position).

use std::io::{Read, Write};

/// A MAT array. Numeric data is column-major, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum MatValue {
    /// Numeric array (any class), converted to f64, column-major.
    Numeric {
        /// Dimensions (rows, cols, ...).
        dims: Vec<usize>,
        /// Values, column-major.
        data: Vec<f64>,
        /// MATLAB class id (6 double, 9 uint8, 11 uint16, ...).
        class: u8,
    },
    /// Char array.
    Char {
        /// Dimensions.
        dims: Vec<usize>,
        /// Text (column-major order of the characters; a 1×N string reads naturally).
        text: String,
    },
    /// Struct array: `elems[i][f]` is field `f` of element `i` (column-major element order).
    Struct {
        /// Dimensions.
        dims: Vec<usize>,
        /// Field names in file order.
        fields: Vec<String>,
        /// Per element, per field.
        elems: Vec<Vec<MatValue>>,
    },
    /// Cell array.
    Cell {
        /// Dimensions.
        dims: Vec<usize>,
        /// Elements, column-major.
        elems: Vec<MatValue>,
    },
}

impl MatValue {
    /// Dimensions.
    pub fn dims(&self) -> &[usize] {
        match self {
            MatValue::Numeric { dims, .. }
            | MatValue::Char { dims, .. }
            | MatValue::Struct { dims, .. }
            | MatValue::Cell { dims, .. } => dims,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.dims().iter().product()
    }

    /// Whether the array has no elements (e.g. a 0×0 double).
    pub fn is_empty(&self) -> bool {
        self.numel() == 0
    }

    /// A 2-D numeric array as `(rows, cols, row-major values)`.
    pub fn as_matrix(&self) -> Option<(usize, usize, Vec<f64>)> {
        match self {
            MatValue::Numeric { dims, data, .. } if dims.len() == 2 => {
                let (h, w) = (dims[0], dims[1]);
                let mut out = vec![0.0; h * w];
                for c in 0..w {
                    for r in 0..h {
                        out[r * w + c] = data[c * h + r];
                    }
                }
                Some((h, w, out))
            }
            _ => None,
        }
    }

    /// First value of a numeric array.
    pub fn scalar(&self) -> Option<f64> {
        match self {
            MatValue::Numeric { data, .. } => data.first().copied(),
            _ => None,
        }
    }

    /// Text of a char array.
    pub fn text(&self) -> Option<&str> {
        match self {
            MatValue::Char { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// MAT parsing errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct MatError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, MatError> {
    Err(MatError(m.into()))
}

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_CHAR: u8 = 4;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    le: bool,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MatError> {
        if self.pos + n > self.buf.len() {
            return err(format!(
                "truncated: need {n} bytes at offset {}, {} left",
                self.pos,
                self.buf.len() - self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, MatError> {
        let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// Reads an element tag; returns (type, data slice). Handles the small-element form and
    /// the 8-byte padding of normal elements.
    fn element(&mut self) -> Result<(u32, &'a [u8]), MatError> {
        let first = self.u32()?;
        if first >> 16 != 0 {
            let ty = first & 0xffff;
            let n = (first >> 16) as usize;
            if n > 4 {
                return err(format!("small element with {n} bytes"));
            }
            let d = self.take(4)?;
            return Ok((ty, &d[..n]));
        }
        let n = self.u32()? as usize;
        let d = self.take(n)?;
        if first != MI_COMPRESSED {
            let pad = (8 - n % 8) % 8;
            // tolerate a missing final pad at end of buffer
            let pad = pad.min(self.buf.len() - self.pos);
            self.pos += pad;
        }
        Ok((first, d))
    }
}

fn numbers(ty: u32, d: &[u8], le: bool) -> Result<Vec<f64>, MatError> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            d.chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().expect("chunk");
                    (if le {
                        <$t>::from_le_bytes(a)
                    } else {
                        <$t>::from_be_bytes(a)
                    }) as f64
                })
                .collect()
        };
    }
    Ok(match ty {
        MI_INT8 => d.iter().map(|&b| b as i8 as f64).collect(),
        MI_UINT8 | MI_UTF8 => d.iter().map(|&b| b as f64).collect(),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 | MI_UTF16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 | MI_UTF32 => conv!(u32, 4),
        MI_SINGLE => conv!(f32, 4),
        MI_DOUBLE => conv!(f64, 8),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        other => return err(format!("unsupported numeric data type {other}")),
    })
}

fn parse_matrix(d: &[u8], le: bool) -> Result<(String, MatValue), MatError> {
    if d.is_empty() {
        // an empty miMATRIX element: 0×0 double
        return Ok((
            String::new(),
            MatValue::Numeric {
                dims: vec![0, 0],
                data: vec![],
                class: 6,
            },
        ));
    }
    let mut c = Cursor { buf: d, pos: 0, le };
    let (ty, flags) = c.element()?;
    if ty != MI_UINT32 || flags.len() < 8 {
        return err("array flags missing");
    }
    let f0 = numbers(MI_UINT32, &flags[..4], le)?[0] as u32;
    let class = (f0 & 0xff) as u8;
    let complex = f0 & 0x0800 != 0;
    let (ty, dims) = c.element()?;
    let dims: Vec<usize> = numbers(ty, dims, le)?
        .into_iter()
        .map(|v| v as usize)
        .collect();
    let (_, name) = c.element()?;
    let name = String::from_utf8_lossy(name).to_string();
    let numel: usize = dims.iter().product();
    let value = match class {
        MX_STRUCT => {
            let (_, len) = c.element()?;
            let len = numbers(MI_INT32, len, le)?.first().copied().unwrap_or(0.0) as usize;
            let (_, names) = c.element()?;
            if len == 0 {
                return err("struct with field-name length 0");
            }
            let fields: Vec<String> = names
                .chunks(len)
                .map(|n| {
                    String::from_utf8_lossy(n)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .filter(|n| !n.is_empty())
                .collect();
            let mut elems = Vec::with_capacity(numel);
            for _ in 0..numel {
                let mut vals = Vec::with_capacity(fields.len());
                for _ in 0..fields.len() {
                    let (ty, sub) = c.element()?;
                    if ty != MI_MATRIX {
                        return err(format!("struct field element of type {ty}"));
                    }
                    vals.push(parse_matrix(sub, le)?.1);
                }
                elems.push(vals);
            }
            MatValue::Struct {
                dims,
                fields,
                elems,
            }
        }
        MX_CELL => {
            let mut elems = Vec::with_capacity(numel);
            for _ in 0..numel {
                let (ty, sub) = c.element()?;
                if ty != MI_MATRIX {
                    return err(format!("cell element of type {ty}"));
                }
                elems.push(parse_matrix(sub, le)?.1);
            }
            MatValue::Cell { dims, elems }
        }
        MX_CHAR => {
            let text = if numel == 0 {
                String::new()
            } else {
                let (ty, data) = c.element()?;
                let codes = numbers(ty, data, le)?;
                codes
                    .iter()
                    .map(|&v| char::from_u32(v as u32).unwrap_or('\u{fffd}'))
                    .collect()
            };
            MatValue::Char { dims, text }
        }
        6..=15 => {
            let data = if numel == 0 {
                vec![]
            } else {
                let (ty, data) = c.element()?;
                let v = numbers(ty, data, le)?;
                if v.len() != numel {
                    return err(format!("numeric array {dims:?} has {} values", v.len()));
                }
                if complex {
                    c.element()?; // imaginary part ignored
                }
                v
            };
            MatValue::Numeric { dims, data, class }
        }
        other => {
            return err(format!(
                "unsupported MATLAB class {other} (variable {name:?})"
            ))
        }
    };
    Ok((name, value))
}

/// Parse a MAT v5 file's bytes into `(name, value)` pairs in file order.
pub fn parse_mat(bytes: &[u8]) -> Result<Vec<(String, MatValue)>, MatError> {
    if bytes.len() < 128 {
        return err(format!(
            "{} bytes: too short for a MAT v5 header",
            bytes.len()
        ));
    }
    if bytes.starts_with(b"\x89HDF") || bytes[..128].windows(4).any(|w| w == b"HDF\r") {
        return err("MAT v7.3 (HDF5) is not supported");
    }
    let le = match &bytes[126..128] {
        b"IM" => true,
        b"MI" => false,
        _ => return err("not a MAT v5 file (no endian indicator at byte 126)"),
    };
    let version = if le {
        u16::from_le_bytes([bytes[124], bytes[125]])
    } else {
        u16::from_be_bytes([bytes[124], bytes[125]])
    };
    if version != 0x0100 {
        return err(format!("unsupported MAT version 0x{version:04x}"));
    }
    let mut out = Vec::new();
    let mut c = Cursor {
        buf: bytes,
        pos: 128,
        le,
    };
    while c.pos + 8 <= bytes.len() {
        let (ty, d) = c.element()?;
        match ty {
            MI_MATRIX => out.push(parse_matrix(d, le)?),
            MI_COMPRESSED => {
                let mut raw = Vec::new();
                flate2::read::ZlibDecoder::new(d)
                    .read_to_end(&mut raw)
                    .map_err(|e| MatError(format!("corrupt compressed element: {e}")))?;
                let mut inner = Cursor {
                    buf: &raw,
                    pos: 0,
                    le,
                };
                while inner.pos + 8 <= raw.len() {
                    let (ty, d) = inner.element()?;
                    if ty == MI_MATRIX {
                        out.push(parse_matrix(d, le)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- writer

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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MatValue {
        let part = MatValue::Struct {
            dims: vec![1, 2],
            fields: vec!["part_name".into(), "mask".into()],
            elems: vec![
                vec![string("hair"), matrix(2, 3, &[1., 0., 0., 0., 0., 0.], 9)],
                vec![string("lfoot"), matrix(2, 3, &[0., 0., 0., 0., 0., 1.], 9)],
            ],
        };
        let objects = MatValue::Struct {
            dims: vec![1, 2],
            fields: vec![
                "class".into(),
                "class_ind".into(),
                "mask".into(),
                "parts".into(),
            ],
            elems: vec![
                vec![
                    string("person"),
                    matrix(1, 1, &[15.0], 6),
                    matrix(2, 3, &[1.; 6], 9),
                    part,
                ],
                vec![
                    string("dog"),
                    matrix(1, 1, &[12.0], 6),
                    matrix(2, 3, &[0., 1., 0., 0., 0., 0.], 9),
                    MatValue::Numeric {
                        dims: vec![0, 0],
                        data: vec![],
                        class: 6,
                    },
                ],
            ],
        };
        MatValue::Struct {
            dims: vec![1, 1],
            fields: vec!["imname".into(), "objects".into()],
            elems: vec![vec![string("2008_000001.jpg"), objects]],
        }
    }

    #[test]
    fn round_trip_plain_and_compressed() {
        let v = sample();
        let lm = matrix(2, 2, &[158., 2., 284., 440.], 11);
        for compress in [false, true] {
            let bytes = write_mat(&[("anno", &v), ("LabelMap", &lm)], compress);
            let parsed = parse_mat(&bytes).unwrap();
            assert_eq!(parsed.len(), 2);
            assert_eq!(parsed[0].0, "anno");
            assert_eq!(parsed[0].1, v);
            assert_eq!(
                parsed[1].1.as_matrix().unwrap(),
                (2, 2, vec![158., 2., 284., 440.])
            );
        }
    }

    #[test]
    fn header_without_comma_is_accepted_and_garbage_rejected() {
        let mut bytes = write_mat(&[("x", &matrix(1, 1, &[3.0], 6))], false);
        bytes[..30].copy_from_slice(b"MATLAB 5.0 MAT-file Platform: ");
        assert_eq!(parse_mat(&bytes).unwrap()[0].1.scalar(), Some(3.0));
        assert!(parse_mat(b"hello").unwrap_err().0.contains("too short"));
        let mut bad = bytes.clone();
        bad[126] = b'X';
        assert!(parse_mat(&bad).is_err());
        let truncated = &bytes[..bytes.len() - 6];
        assert!(parse_mat(truncated).unwrap_err().0.contains("truncated"));
    }
}
