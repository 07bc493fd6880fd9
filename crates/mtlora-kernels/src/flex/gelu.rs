//! Exact (erf) GELU on flat f32 slices: forward and the input gradient, parallel and vectorized.

use rayon::prelude::*;

use super::math::{fma, multiversion, normal_cdf, normal_pdf};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

#[inline(always)]
fn forward_chunk<const F: bool>(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = x * normal_cdf::<F>(x);
    }
}

#[inline(always)]
fn backward_chunk<const F: bool>(x: &[f32], g: &mut [f32]) {
    // d/dx x·Φ(x) = Φ(x) + x·φ(x)
    for (g, &x) in g.iter_mut().zip(x) {
        *g *= fma::<F>(x, normal_pdf::<F>(x), normal_cdf::<F>(x));
    }
}

#[inline(always)]
fn inplace_chunk<const F: bool>(x: &mut [f32]) {
    for x in x.iter_mut() {
        *x *= normal_cdf::<F>(*x);
    }
}

multiversion!(fn forward_seq(x: &[f32], y: &mut [f32]) => forward_chunk);
multiversion!(fn inplace_seq(x: &mut [f32]) => inplace_chunk);
multiversion!(fn backward_seq(x: &[f32], g: &mut [f32]) => backward_chunk);

/// `y = x·Φ(x)`.
pub fn gelu_forward(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| forward_seq(x, y));
}

/// `x ← x·Φ(x)` (inference: no new buffer).
pub fn gelu_inplace(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(inplace_seq);
}

/// `g ← g·GELU′(x)` in place.
pub fn gelu_backward(x: &[f32], g: &mut [f32]) {
    assert_eq!(x.len(), g.len());
    g.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(g, x)| backward_seq(x, g));
}
