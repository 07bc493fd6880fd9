//! A focused MAT v5 (Level 5 MAT-file) format: numeric, char, struct and cell arrays,
//! zlib-compressed (`miCOMPRESSED`) and packed small elements, both byte orders. Struct field
//! order is kept (the PASCAL loader reads fields by position). The reader is always there; the
//! writer (for the synthetic dataset) comes with the `synth` feature.

mod read;
#[cfg(feature = "synth")]
mod write;

pub use read::{parse_mat, parse_mat_with_limits, MatLimits};
#[cfg(feature = "synth")]
pub use write::{matrix, string, write_mat};

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

pub(crate) fn err<T>(m: impl Into<String>) -> Result<T, MatError> {
    Err(MatError(m.into()))
}

pub(crate) const MI_INT8: u32 = 1;
pub(crate) const MI_UINT8: u32 = 2;
pub(crate) const MI_INT16: u32 = 3;
pub(crate) const MI_UINT16: u32 = 4;
pub(crate) const MI_INT32: u32 = 5;
pub(crate) const MI_UINT32: u32 = 6;
pub(crate) const MI_SINGLE: u32 = 7;
pub(crate) const MI_DOUBLE: u32 = 9;
pub(crate) const MI_INT64: u32 = 12;
pub(crate) const MI_UINT64: u32 = 13;
pub(crate) const MI_MATRIX: u32 = 14;
pub(crate) const MI_COMPRESSED: u32 = 15;
pub(crate) const MI_UTF8: u32 = 16;
pub(crate) const MI_UTF16: u32 = 17;
pub(crate) const MI_UTF32: u32 = 18;

pub(crate) const MX_CELL: u8 = 1;
pub(crate) const MX_STRUCT: u8 = 2;
pub(crate) const MX_CHAR: u8 = 4;

#[cfg(all(test, feature = "synth"))]
mod tests;
