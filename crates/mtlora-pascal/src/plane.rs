//! A row-major `H×W×C` array.

/// Row-major `H×W×C` array (`C = 1` for label maps).
#[derive(Debug, Clone, PartialEq)]
pub struct Plane<T> {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// `h·w·c` values, index `(y·w + x)·c + k`.
    pub data: Vec<T>,
}

impl<T: Copy + Default> Plane<T> {
    /// All-default plane.
    pub fn new(h: usize, w: usize, c: usize) -> Self {
        Self {
            h,
            w,
            c,
            data: vec![T::default(); h * w * c],
        }
    }

    /// From data (length checked).
    pub fn from_vec(h: usize, w: usize, c: usize, data: Vec<T>) -> Self {
        assert_eq!(
            data.len(),
            h * w * c,
            "Plane: {} values for {h}x{w}x{c}",
            data.len()
        );
        Self { h, w, c, data }
    }

    /// Value at `(y, x, k)`.
    #[inline]
    pub fn at(&self, y: usize, x: usize, k: usize) -> T {
        self.data[(y * self.w + x) * self.c + k]
    }

    /// Map every value.
    pub fn map<U: Copy + Default>(&self, f: impl Fn(T) -> U) -> Plane<U> {
        Plane {
            h: self.h,
            w: self.w,
            c: self.c,
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }
}

impl Plane<u8> {
    /// As f64.
    pub fn to_f64(&self) -> Plane<f64> {
        self.map(|v| v as f64)
    }
}
