//! Window attention on the packed `qkv` rows of a token batch:
//! `softmax(q·kᵀ·scale + bias_h (+ mask_w))·v` per (window, head), heads merged in the output.
//!
//! Window `w`'s token `i` is row `index[w·N + i]` of `qkv` and of the output, so the cyclic
//! shift and the window partition/reverse of Swin are index arithmetic here, never copies
//! (`index` is a permutation of the rows). No per-window matmul calls or packing: each
//! (window, head) works on small buffers (`kᵀ`/`vᵀ` rows padded to a multiple of 8 so the inner
//! loops vectorize).

use rayon::prelude::*;

use super::math::{exp, fma, multiversion};

/// Geometry of one call.
#[derive(Debug, Clone, Copy)]
pub struct AttnDims {
    /// Windows in the batch (B·nW).
    pub windows: usize,
    /// Tokens per window N.
    pub tokens: usize,
    /// Heads.
    pub heads: usize,
    /// Head width d (C = heads·d).
    pub head_dim: usize,
}

impl AttnDims {
    fn c(&self) -> usize {
        self.heads * self.head_dim
    }
    fn padded(&self) -> usize {
        self.tokens.div_ceil(8) * 8
    }
}

/// Output rows shared between the parallel window tasks; each window writes only its own
/// rows (`index` is a permutation: `WindowIndex` is checked where it is built).
#[derive(Clone, Copy)]
struct Rows(*mut f32);
// SAFETY: tasks write disjoint rows (see above).
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

impl Rows {
    /// # Safety
    /// `row·width + width` within the buffer, and no other task uses this row.
    #[inline(always)]
    unsafe fn row<'a>(self, row: usize, width: usize) -> &'a mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(row * width), width) }
    }
}

/// `dst[c·np + j] = qkv[row_j·3C + off + c]` for the window's tokens (a head's k or v,
/// transposed).
#[inline(always)]
fn transpose_head(qkv: &[f32], rows: &[u32], dims: AttnDims, off: usize, dst: &mut [f32]) {
    let (d, np, c3) = (dims.head_dim, dims.padded(), 3 * dims.c());
    for (j, &r) in rows.iter().enumerate() {
        let r = r as usize;
        let row = &qkv[r * c3 + off..r * c3 + off + d];
        for (c, &v) in row.iter().enumerate() {
            dst[c * np + j] = v;
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_window<const F: bool>(
    qkv: &[f32],
    rows: &[u32],
    bias: &[f32],
    mask: &[f32],
    scale: f32,
    dims: AttnDims,
    out: Rows,
    probs: &mut [f32],
    scratch: &mut [f32],
) {
    let (n, d, nh, np, c) = (
        dims.tokens,
        dims.head_dim,
        dims.heads,
        dims.padded(),
        dims.c(),
    );
    let c3 = 3 * c;
    let (kt, s) = scratch.split_at_mut(d * np);
    let s = &mut s[..np];
    let keep = !probs.is_empty();
    for h in 0..nh {
        transpose_head(qkv, rows, dims, c + h * d, kt);
        let bias_h = &bias[h * n * n..(h + 1) * n * n];
        for i in 0..n {
            let ri = rows[i] as usize;
            let q = &qkv[ri * c3 + h * d..ri * c3 + h * d + d];
            s.fill(0.0);
            for (cc, &qv) in q.iter().enumerate() {
                let krow = &kt[cc * np..cc * np + np];
                for j in 0..np {
                    s[j] = fma::<F>(qv, krow[j], s[j]);
                }
            }
            let brow = &bias_h[i * n..i * n + n];
            let mut mx = f32::NEG_INFINITY;
            if mask.is_empty() {
                for j in 0..n {
                    s[j] = fma::<F>(s[j], scale, brow[j]);
                    mx = mx.max(s[j]);
                }
            } else {
                let mrow = &mask[i * n..i * n + n];
                for j in 0..n {
                    s[j] = fma::<F>(s[j], scale, brow[j]) + mrow[j];
                    mx = mx.max(s[j]);
                }
            }
            let mut sum = 0.0f32;
            for v in s[..n].iter_mut() {
                *v = exp::<F>(*v - mx);
                sum += *v;
            }
            let inv = 1.0 / sum;
            for v in s[..n].iter_mut() {
                *v *= inv;
            }
            if keep {
                probs[(h * n + i) * n..(h * n + i) * n + n].copy_from_slice(&s[..n]);
            }
            // SAFETY: row `ri` belongs to this window only
            let o = unsafe { out.row(ri, c) };
            let o = &mut o[h * d..h * d + d];
            o.fill(0.0);
            for (j, &p) in s[..n].iter().enumerate() {
                let rj = rows[j] as usize;
                let v = &qkv[rj * c3 + 2 * c + h * d..rj * c3 + 2 * c + h * d + d];
                for k in 0..d {
                    o[k] = fma::<F>(p, v[k], o[k]);
                }
            }
        }
    }
}

multiversion!(fn forward_seq(qkv: &[f32], rows: &[u32], bias: &[f32], mask: &[f32], scale: f32, dims: AttnDims, out: Rows, probs: &mut [f32], scratch: &mut [f32]) => forward_window);

/// Forward over all windows.
///
/// # Shapes
/// - `qkv`: `[rows, 3C]` (q | k | v, heads of width d inside each); `index`: `[windows·N]`, a
///   permutation of the rows
/// - `bias`: `[heads, N, N]`; `mask`: `[nW, N, N]` with `windows % nW == 0`, or empty
/// - `out`: `[rows, C]`; `probs`: `[windows, heads, N, N]` (softmax, kept for backward) or empty
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    qkv: &[f32],
    index: &[u32],
    bias: &[f32],
    mask: &[f32],
    scale: f32,
    dims: AttnDims,
    out: &mut [f32],
    probs: &mut [f32],
) {
    let (n, nh, c) = (dims.tokens, dims.heads, dims.c());
    let rows = dims.windows * n;
    assert_eq!(qkv.len(), rows * 3 * c);
    assert_eq!(out.len(), rows * c);
    assert_eq!(index.len(), rows);
    assert_eq!(bias.len(), nh * n * n);
    let nw = if mask.is_empty() {
        1
    } else {
        mask.len() / (n * n)
    };
    assert!(mask.is_empty() || (mask.len() == nw * n * n && dims.windows % nw == 0));
    let pp = if probs.is_empty() { 0 } else { nh * n * n };
    assert!(pp == 0 || probs.len() == dims.windows * pp);
    let scratch_len = (dims.head_dim + 1) * dims.padded();
    let out_rows = Rows(out.as_mut_ptr());
    let work = |w: usize, p: &mut [f32]| {
        let mut scratch = vec![0.0f32; scratch_len];
        let m = if mask.is_empty() {
            mask
        } else {
            &mask[(w % nw) * n * n..(w % nw + 1) * n * n]
        };
        let r = &index[w * n..(w + 1) * n];
        forward_seq(qkv, r, bias, m, scale, dims, out_rows, p, &mut scratch);
    };
    if pp == 0 {
        (0..dims.windows)
            .into_par_iter()
            .for_each(|w| work(w, &mut []));
    } else {
        probs
            .par_chunks_mut(pp)
            .enumerate()
            .for_each(|(w, p)| work(w, p));
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_window<const F: bool>(
    qkv: &[f32],
    rows: &[u32],
    probs: &mut [f32],
    gout: &[f32],
    scale: f32,
    dims: AttnDims,
    gqkv: Rows,
    scratch: &mut [f32],
) {
    let (n, d, nh, np, c) = (
        dims.tokens,
        dims.head_dim,
        dims.heads,
        dims.padded(),
        dims.c(),
    );
    let c3 = 3 * c;
    let (vt, rest) = scratch.split_at_mut(d * np);
    let (dp, gwin) = rest.split_at_mut(np);
    // the window's gradient rows, gathered locally and scattered once at the end
    let gwin = &mut gwin[..n * c3];
    gwin.fill(0.0);
    let win = |i: usize| rows[i] as usize * c3;
    for h in 0..nh {
        transpose_head(qkv, rows, dims, 2 * c + h * d, vt);
        for i in 0..n {
            let ri = rows[i] as usize;
            let go = &gout[ri * c + h * d..ri * c + h * d + d];
            let prow = &mut probs[(h * n + i) * n..(h * n + i) * n + n];
            // dV[j] += P[i,j]·dO[i]
            for (j, &p) in prow.iter().enumerate() {
                let dv = &mut gwin[j * c3 + 2 * c + h * d..j * c3 + 2 * c + h * d + d];
                for k in 0..d {
                    dv[k] = fma::<F>(p, go[k], dv[k]);
                }
            }
            // dP[i,·] = dO[i]·Vᵀ
            dp.fill(0.0);
            for (cc, &g) in go.iter().enumerate() {
                let vrow = &vt[cc * np..cc * np + np];
                for j in 0..np {
                    dp[j] = fma::<F>(g, vrow[j], dp[j]);
                }
            }
            // dS = P ⊙ (dP − Σ P·dP), stored over P (the bias gradient reads it later)
            let mut dot = 0.0f32;
            for j in 0..n {
                dot = fma::<F>(prow[j], dp[j], dot);
            }
            for j in 0..n {
                prow[j] *= dp[j] - dot;
            }
            // dQ[i] = scale·Σ_j dS[i,j]·K[j]; dK[j] += scale·dS[i,j]·Q[i]
            let q = &qkv[win(i) + h * d..win(i) + h * d + d];
            let mut dq = [0.0f32; 64];
            let dq = &mut dq[..d.min(64)];
            if d <= 64 {
                for (j, &ds) in prow.iter().enumerate() {
                    let k = &qkv[win(j) + c + h * d..win(j) + c + h * d + d];
                    let ds = ds * scale;
                    for t in 0..d {
                        dq[t] = fma::<F>(ds, k[t], dq[t]);
                    }
                    let dk = &mut gwin[j * c3 + c + h * d..j * c3 + c + h * d + d];
                    for t in 0..d {
                        dk[t] = fma::<F>(ds, q[t], dk[t]);
                    }
                }
                gwin[i * c3 + h * d..i * c3 + h * d + d].copy_from_slice(dq);
            } else {
                for (j, &ds) in prow.iter().enumerate() {
                    let ds = ds * scale;
                    for t in 0..d {
                        let kv = qkv[win(j) + c + h * d + t];
                        gwin[i * c3 + h * d + t] = fma::<F>(ds, kv, gwin[i * c3 + h * d + t]);
                        gwin[j * c3 + c + h * d + t] =
                            fma::<F>(ds, q[t], gwin[j * c3 + c + h * d + t]);
                    }
                }
            }
        }
    }
    for (i, g) in gwin.chunks_exact(c3).enumerate() {
        // SAFETY: row `rows[i]` belongs to this window only
        unsafe { gqkv.row(rows[i] as usize, c3) }.copy_from_slice(g);
    }
}

multiversion!(fn backward_seq(qkv: &[f32], rows: &[u32], probs: &mut [f32], gout: &[f32], scale: f32, dims: AttnDims, gqkv: Rows, scratch: &mut [f32]) => backward_window);

/// Backward: returns `∂L/∂qkv` (`[rows, 3C]`) and `∂L/∂bias` (`[heads, N, N]`, summed over
/// windows in window order). `probs` (the forward's softmax) is overwritten.
pub fn attention_backward(
    qkv: &[f32],
    index: &[u32],
    probs: &mut [f32],
    gout: &[f32],
    scale: f32,
    dims: AttnDims,
) -> (Vec<f32>, Vec<f32>) {
    let (n, nh, c) = (dims.tokens, dims.heads, dims.c());
    let pp = nh * n * n;
    let rows = dims.windows * n;
    assert_eq!(qkv.len(), rows * 3 * c);
    assert_eq!(index.len(), rows);
    assert_eq!(probs.len(), dims.windows * pp);
    assert_eq!(gout.len(), rows * c);
    let mut gqkv = vec![0.0f32; qkv.len()];
    let scratch_len = (dims.head_dim + 1) * dims.padded() + n * 3 * c;
    let g_rows = Rows(gqkv.as_mut_ptr());
    probs.par_chunks_mut(pp).enumerate().for_each(|(w, p)| {
        let mut scratch = vec![0.0f32; scratch_len];
        let r = &index[w * n..(w + 1) * n];
        backward_seq(qkv, r, p, gout, scale, dims, g_rows, &mut scratch);
    });
    // bias gradient: Σ over windows of dS, in window order for every element
    let probs = &*probs;
    let mut gbias = vec![0.0f32; pp];
    gbias.par_chunks_mut(n * n).enumerate().for_each(|(h, gb)| {
        for w in 0..dims.windows {
            let ds = &probs[w * pp + h * n * n..w * pp + (h + 1) * n * n];
            for (a, &b) in gb.iter_mut().zip(ds) {
                *a += b;
            }
        }
    });
    (gqkv, gbias)
}
