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
    // 8 tokens at a time: one 8-wide store per channel instead of 8 scalar ones
    for (b, block) in rows.chunks(8).enumerate() {
        let j0 = b * 8;
        if block.len() < 8 {
            for (j, &r) in block.iter().enumerate() {
                let at = r as usize * c3 + off;
                for (c, &v) in qkv[at..at + d].iter().enumerate() {
                    dst[c * np + j0 + j] = v;
                }
            }
            continue;
        }
        let src: [&[f32]; 8] = std::array::from_fn(|j| {
            let at = block[j] as usize * c3 + off;
            &qkv[at..at + d]
        });
        for c in 0..d {
            let v: [f32; 8] = std::array::from_fn(|j| src[j][c]);
            dst[c * np + j0..c * np + j0 + 8].copy_from_slice(&v);
        }
    }
}

/// In-place softmax of `s[..n]` with 8-lane max/sum (vectorized exp); `s[n..]` (the padding up
/// to a multiple of 8) ends as 0.
#[inline(always)]
fn softmax_padded<const F: bool>(s: &mut [f32], n: usize) {
    debug_assert!(s.len() % 8 == 0 && n <= s.len());
    s[n..].fill(f32::MIN);
    let mut mx = [f32::MIN; 8];
    for ch in s.chunks_exact(8) {
        for l in 0..8 {
            mx[l] = if ch[l] > mx[l] { ch[l] } else { mx[l] };
        }
    }
    let mx = mx.iter().fold(f32::MIN, |a, &b| if b > a { b } else { a });
    for v in s.iter_mut() {
        *v = exp::<F>(*v - mx);
    }
    s[n..].fill(0.0);
    let inv = 1.0 / lane_sum(s);
    for v in s[..n].iter_mut() {
        *v *= inv;
    }
}

/// `Σ a` in 8 lanes (vectorizes; a fixed order for a given length).
#[inline(always)]
fn lane_sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.chunks_exact(8);
    let rest = chunks.remainder();
    for ch in chunks {
        for l in 0..8 {
            acc[l] += ch[l];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// `Σ a·b` in 8 lanes.
#[inline(always)]
fn lane_dot<const F: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b[..a.len()].chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = fma::<F>(x[l], y[l], acc[l]);
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// `s[j] = Σ_c a[c]·t[c·np + j]` for `j < np` (`t`: `a.len()` rows of `np`), accumulated in
/// registers for the padded window sizes of Swin (7×7 → 56, 4×4 → 16).
#[inline(always)]
fn row_times_rows<const F: bool>(a: &[f32], t: &[f32], np: usize, s: &mut [f32]) {
    match np {
        56 => row_times_rows_n::<F, 56>(a, t, s),
        16 => row_times_rows_n::<F, 16>(a, t, s),
        _ => {
            let s = &mut s[..np];
            s.fill(0.0);
            for (c, &av) in a.iter().enumerate() {
                let row = &t[c * np..c * np + np];
                for j in 0..np {
                    s[j] = fma::<F>(av, row[j], s[j]);
                }
            }
        }
    }
}

#[inline(always)]
fn row_times_rows_n<const F: bool, const NP: usize>(a: &[f32], t: &[f32], s: &mut [f32]) {
    let mut acc = [0.0f32; NP];
    for (c, &av) in a.iter().enumerate() {
        let row: &[f32; NP] = t[c * NP..(c + 1) * NP].try_into().expect("padded row");
        for j in 0..NP {
            acc[j] = fma::<F>(av, row[j], acc[j]);
        }
    }
    s[..NP].copy_from_slice(&acc);
}

/// `o[k] = Σ_j p[j]·src[rows[j]·stride + off + k]` for `k < o.len()`, in registers for head
/// width 32 (every Swin-T stage).
#[inline(always)]
fn weighted_rows<const F: bool>(
    p: &[f32],
    src: &[f32],
    rows: &[u32],
    stride: usize,
    off: usize,
    o: &mut [f32],
) {
    if o.len() == 32 {
        let mut acc = [0.0f32; 32];
        for (&pj, &r) in p.iter().zip(rows) {
            let at = r as usize * stride + off;
            let v: &[f32; 32] = src[at..at + 32].try_into().expect("head row");
            for k in 0..32 {
                acc[k] = fma::<F>(pj, v[k], acc[k]);
            }
        }
        o.copy_from_slice(&acc);
        return;
    }
    let d = o.len();
    o.fill(0.0);
    for (&pj, &r) in p.iter().zip(rows) {
        let at = r as usize * stride + off;
        let v = &src[at..at + d];
        for k in 0..d {
            o[k] = fma::<F>(pj, v[k], o[k]);
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
            row_times_rows::<F>(q, kt, np, s);
            let brow = &bias_h[i * n..i * n + n];
            if mask.is_empty() {
                for j in 0..n {
                    s[j] = fma::<F>(s[j], scale, brow[j]);
                }
            } else {
                let mrow = &mask[i * n..i * n + n];
                for j in 0..n {
                    s[j] = fma::<F>(s[j], scale, brow[j]) + mrow[j];
                }
            }
            softmax_padded::<F>(s, n);
            if keep {
                probs[(h * n + i) * n..(h * n + i) * n + n].copy_from_slice(&s[..n]);
            }
            // SAFETY: row `ri` belongs to this window only
            let o = unsafe { out.row(ri, c) };
            weighted_rows::<F>(
                &s[..n],
                qkv,
                rows,
                c3,
                2 * c + h * d,
                &mut o[h * d..h * d + d],
            );
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
            row_times_rows::<F>(go, vt, np, dp);
            // dS = P ⊙ (dP − Σ P·dP), stored over P (the bias gradient reads it later)
            let dot = lane_dot::<F>(prow, dp);
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
