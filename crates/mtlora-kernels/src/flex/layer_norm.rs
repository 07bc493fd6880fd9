//! LayerNorm over the last axis of a `[rows, C]` f32 buffer: forward saving `mean`/`rstd` per
//! row, and the backward for the input, weight and bias.

use rayon::prelude::*;

use super::math::{fma, multiversion};

/// Rows per parallel task (fixed, so the weight/bias gradient sums in the same order on any
/// number of threads).
const ROWS: usize = 64;

#[inline(always)]
fn sum8(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut it = v.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &r in it.remainder() {
        s += r;
    }
    s
}

#[inline(always)]
fn sq_dev_sum8<const F: bool>(v: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut it = v.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            let d = c[k] - mean;
            acc[k] = fma::<F>(d, d, acc[k]);
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &r in it.remainder() {
        let d = r - mean;
        s = fma::<F>(d, d, s);
    }
    s
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows<const F: bool>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    eps: f32,
    y: &mut [f32],
    stats: &mut [f32],
) {
    let c = w.len();
    for ((xr, yr), st) in x
        .chunks_exact(c)
        .zip(y.chunks_exact_mut(c))
        .zip(stats.chunks_exact_mut(2))
    {
        let mean = sum8(xr) / c as f32;
        let var = sq_dev_sum8::<F>(xr, mean) / c as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        for k in 0..c {
            yr[k] = fma::<F>((xr[k] - mean) * rstd, w[k], b[k]);
        }
        st[0] = mean;
        st[1] = rstd;
    }
}

multiversion!(fn forward_seq(x: &[f32], w: &[f32], b: &[f32], eps: f32, y: &mut [f32], stats: &mut [f32]) => forward_rows);

/// `y = (x − mean)·rstd·w + b` per row; `stats[2r..2r+2] = (mean, rstd)`.
///
/// # Shapes
/// - `x`, `y`: `rows·C`; `w`, `b`: `C`; `stats`: `2·rows`
pub fn layer_norm_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    eps: f32,
    y: &mut [f32],
    stats: &mut [f32],
) {
    let c = w.len();
    assert!(c > 0 && x.len() % c == 0 && y.len() == x.len() && b.len() == c);
    assert_eq!(stats.len(), 2 * (x.len() / c));
    y.par_chunks_mut(ROWS * c)
        .zip(x.par_chunks(ROWS * c))
        .zip(stats.par_chunks_mut(ROWS * 2))
        .for_each(|((y, x), st)| forward_seq(x, w, b, eps, y, st));
}

#[inline(always)]
fn backward_rows<const F: bool>(
    x: &[f32],
    w: &[f32],
    stats: &[f32],
    g: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
) {
    let c = w.len();
    let inv_c = 1.0 / c as f32;
    for ((xr, gr), st) in x
        .chunks_exact(c)
        .zip(g.chunks_exact_mut(c))
        .zip(stats.chunks_exact(2))
    {
        let (mean, rstd) = (st[0], st[1]);
        let mut s1 = [0.0f32; 8];
        let mut s2 = [0.0f32; 8];
        for k in 0..c {
            let xhat = (xr[k] - mean) * rstd;
            let gw = gr[k] * w[k];
            dw[k] = fma::<F>(gr[k], xhat, dw[k]);
            db[k] += gr[k];
            s1[k % 8] += gw;
            s2[k % 8] = fma::<F>(gw, xhat, s2[k % 8]);
        }
        let a = s1.iter().sum::<f32>() * inv_c;
        let bb = s2.iter().sum::<f32>() * inv_c;
        for k in 0..c {
            let xhat = (xr[k] - mean) * rstd;
            let gw = gr[k] * w[k];
            gr[k] = rstd * fma::<F>(-xhat, bb, gw - a);
        }
    }
}

multiversion!(fn backward_seq(x: &[f32], w: &[f32], stats: &[f32], g: &mut [f32], dw: &mut [f32], db: &mut [f32]) => backward_rows);

/// In place `g ← ∂L/∂x`; returns `(∂L/∂w, ∂L/∂b)`.
pub fn layer_norm_backward(
    x: &[f32],
    w: &[f32],
    stats: &[f32],
    g: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let c = w.len();
    assert!(c > 0 && x.len() % c == 0 && g.len() == x.len());
    let partials: Vec<(Vec<f32>, Vec<f32>)> = g
        .par_chunks_mut(ROWS * c)
        .zip(x.par_chunks(ROWS * c))
        .zip(stats.par_chunks(ROWS * 2))
        .map(|((g, x), st)| {
            let mut dw = vec![0.0f32; c];
            let mut db = vec![0.0f32; c];
            backward_seq(x, w, st, g, &mut dw, &mut db);
            (dw, db)
        })
        .collect();
    let mut dw = vec![0.0f32; c];
    let mut db = vec![0.0f32; c];
    for (pw, pb) in &partials {
        for k in 0..c {
            dw[k] += pw[k];
            db[k] += pb[k];
        }
    }
    (dw, db)
}
