//! Linear layers straight into `gemm`: the bias (or the base output a low-rank branch adds to)
//! is written once and the product accumulated onto it, so no zero-filled product buffer and
//! no separate add pass.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// A row-major or transposed view: element `(i, j)` at `i·rs + j·cs`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Row stride (elements).
    pub rs: usize,
    /// Column stride (elements).
    pub cs: usize,
}

impl<'a> View<'a> {
    /// `[rows, cols]` row-major.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a `[rows, cols]` row-major buffer (a `[cols, rows]` view).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: 1,
            cs: cols,
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// `dst[m×n] (row-major) = (accumulate ? dst : 0) + beta·lhs[m×k]·rhs[k×n]`.
pub fn matmul_into(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: View,
    rhs: View,
    beta: f32,
) {
    assert_eq!(dst.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(lhs.data.len() > (m - 1) * lhs.rs + k.saturating_sub(1) * lhs.cs || k == 0);
    assert!(rhs.data.len() > k.saturating_sub(1) * rhs.rs + (n - 1) * rhs.cs || k == 0);
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let par = if m * n * k >= 1 << 18 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above bound every index gemm reads and writes.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            par,
        );
    }
}

/// `x[m×k]·wᵀ + b` with `w: [n, k]` (PyTorch layout).
pub fn linear_forward(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    m: usize,
    n: usize,
    k: usize,
) -> Vec<f32> {
    let mut out = match b {
        Some(b) => {
            assert_eq!(b.len(), n);
            let mut o = Vec::with_capacity(m * n);
            for _ in 0..m {
                o.extend_from_slice(b);
            }
            o
        }
        None => vec![0.0f32; m * n],
    };
    matmul_into(
        m,
        n,
        k,
        &mut out,
        b.is_some(),
        View::rows(x, k),
        View::transposed(w, k),
        1.0,
    );
    out
}

/// Column sums of a `[m, n]` row-major buffer (the bias gradient), in fixed row blocks.
pub fn column_sums(g: &[f32], n: usize) -> Vec<f32> {
    const ROWS: usize = 256;
    let parts: Vec<Vec<f32>> = g
        .par_chunks(ROWS * n)
        .map(|blk| {
            let mut s = vec![0.0f32; n];
            for row in blk.chunks_exact(n) {
                for (a, &v) in s.iter_mut().zip(row) {
                    *a += v;
                }
            }
            s
        })
        .collect();
    let mut s = vec![0.0f32; n];
    for p in &parts {
        for (a, &v) in s.iter_mut().zip(p) {
            *a += v;
        }
    }
    s
}
