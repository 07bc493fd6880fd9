//! MAT v5 parsing, bounded by the input: every count read from the file is checked against
//! the bytes that remain before anything is allocated, sizes use checked arithmetic, and the
//! nesting depth and the inflated size of compressed elements have limits ([`MatLimits`]).

use std::io::Read;

use super::*;

/// Limits of the MAT reader. The defaults hold any PASCAL-Context annotation (< 1 MB, depth 4)
/// with a wide margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatLimits {
    /// Deepest nesting of struct/cell arrays.
    pub max_depth: usize,
    /// Largest inflated size of one compressed element, in bytes.
    pub max_inflated: u64,
}

impl Default for MatLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_inflated: 256 << 20,
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    le: bool,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], MatError> {
        if n > self.remaining() {
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

/// `n` entries of at least `each` bytes must fit in what `c` has left.
fn fits(c: &Cursor<'_>, n: usize, each: usize, what: &str) -> Result<(), MatError> {
    match n.checked_mul(each) {
        Some(b) if b <= c.remaining() => Ok(()),
        _ => err(format!(
            "{what} declares {n} entries, more than the {} bytes left can hold",
            c.remaining()
        )),
    }
}

fn parse_matrix(
    d: &[u8],
    le: bool,
    depth: usize,
    limits: &MatLimits,
) -> Result<(String, MatValue), MatError> {
    if depth > limits.max_depth {
        return err(format!(
            "arrays nested deeper than {} levels",
            limits.max_depth
        ));
    }
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
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
                Ok(v as usize)
            } else {
                err(format!("array dimension {v}"))
            }
        })
        .collect::<Result<_, _>>()?;
    let (_, name) = c.element()?;
    let name = String::from_utf8_lossy(name).to_string();
    let numel = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| MatError(format!("array dimensions {dims:?} overflow")))?;
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
            // every field value is an element of at least 8 bytes; a struct without fields
            // may hold no more elements than bytes are left
            match fields.len() {
                0 => fits(&c, numel, 1, "struct")?,
                n => fits(&c, numel.saturating_mul(n), 8, "struct")?,
            }
            let mut elems = Vec::with_capacity(numel);
            for _ in 0..numel {
                let mut vals = Vec::with_capacity(fields.len());
                for _ in 0..fields.len() {
                    let (ty, sub) = c.element()?;
                    if ty != MI_MATRIX {
                        return err(format!("struct field element of type {ty}"));
                    }
                    vals.push(parse_matrix(sub, le, depth + 1, limits)?.1);
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
            fits(&c, numel, 8, "cell array")?;
            let mut elems = Vec::with_capacity(numel);
            for _ in 0..numel {
                let (ty, sub) = c.element()?;
                if ty != MI_MATRIX {
                    return err(format!("cell element of type {ty}"));
                }
                elems.push(parse_matrix(sub, le, depth + 1, limits)?.1);
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

/// Parse a MAT v5 file's bytes into `(name, value)` pairs in file order, with the default
/// [`MatLimits`].
pub fn parse_mat(bytes: &[u8]) -> Result<Vec<(String, MatValue)>, MatError> {
    parse_mat_with_limits(bytes, &MatLimits::default())
}

/// [`parse_mat`] with explicit limits.
pub fn parse_mat_with_limits(
    bytes: &[u8],
    limits: &MatLimits,
) -> Result<Vec<(String, MatValue)>, MatError> {
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
            MI_MATRIX => out.push(parse_matrix(d, le, 0, limits)?),
            MI_COMPRESSED => {
                let mut raw = Vec::new();
                flate2::read::ZlibDecoder::new(d)
                    .take(limits.max_inflated.saturating_add(1))
                    .read_to_end(&mut raw)
                    .map_err(|e| MatError(format!("corrupt compressed element: {e}")))?;
                if raw.len() as u64 > limits.max_inflated {
                    return err(format!(
                        "a compressed element inflates to more than {} bytes",
                        limits.max_inflated
                    ));
                }
                let mut inner = Cursor {
                    buf: &raw,
                    pos: 0,
                    le,
                };
                while inner.pos + 8 <= raw.len() {
                    let (ty, d) = inner.element()?;
                    if ty == MI_MATRIX {
                        out.push(parse_matrix(d, le, 0, limits)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}
