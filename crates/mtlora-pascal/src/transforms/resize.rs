//! `cv2.resize` (INTER_NEAREST, INTER_CUBIC) and FixedResize.

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

use super::cubic::cubic_weights;
#[cfg(target_arch = "x86_64")]
use super::cubic::tap_sum4;
use super::cubic::Sample;
use crate::plane::Plane;

/// `cv2.resize` with INTER_NEAREST for any element type.
pub fn resize_nearest<T: Copy + Default>(p: &Plane<T>, dh: usize, dw: usize) -> Plane<T> {
    if (p.h, p.w) == (dh, dw) {
        return p.clone();
    }
    let sy = p.h as f64 / dh as f64;
    let sx = p.w as f64 / dw as f64;
    let xs: Vec<usize> = (0..dw)
        .map(|x| ((x as f64 * sx).floor() as usize).min(p.w - 1))
        .collect();
    let mut out = Plane::new(dh, dw, p.c);
    for y in 0..dh {
        let ys = ((y as f64 * sy).floor() as usize).min(p.h - 1);
        if p.c == 1 {
            let src = &p.data[ys * p.w..(ys + 1) * p.w];
            for (o, &xs) in out.data[y * dw..(y + 1) * dw].iter_mut().zip(&xs) {
                *o = src[xs];
            }
        } else {
            for (x, &xs) in xs.iter().enumerate() {
                let (s, d) = ((ys * p.w + xs) * p.c, (y * dw + x) * p.c);
                out.data[d..d + p.c].copy_from_slice(&p.data[s..s + p.c]);
            }
        }
    }
    out
}

/// Per destination index: 4 clamped source taps and f32 weights.
pub(super) fn cubic_taps(src: usize, dst: usize) -> Vec<([usize; 4], [f64; 4])> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let fx = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let s = fx.floor();
            let t = fx - s;
            let s = s as i64;
            let w = cubic_weights(t);
            let idx = |k: i64| (s - 1 + k).clamp(0, src as i64 - 1) as usize;
            ([idx(0), idx(1), idx(2), idx(3)], w.map(|v| v as f64))
        })
        .collect()
}

/// `cv2.resize` with INTER_CUBIC (f64 accumulation) from any numeric plane.
pub fn resize_cubic<T: Sample>(p: &Plane<T>, dh: usize, dw: usize) -> Plane<f64> {
    if (p.h, p.w) == (dh, dw) {
        return p.map(Into::into);
    }
    match p.c {
        1 => resize_cubic_c::<T, 1>(p, dh, dw),
        2 => resize_cubic_c::<T, 2>(p, dh, dw),
        3 => resize_cubic_c::<T, 3>(p, dh, dw),
        4 => resize_cubic_c::<T, 4>(p, dh, dw),
        c => panic!("resize_cubic: {c} channels (at most 4)"),
    }
}

pub(super) fn resize_cubic_c<T: Sample, const C: usize>(
    p: &Plane<T>,
    dh: usize,
    dw: usize,
) -> Plane<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn fast<T: Sample, const C: usize>(p: &Plane<T>, dh: usize, dw: usize) -> Plane<f64> {
            resize_cubic_body::<T, C, true>(p, dh, dw)
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports the features `fast` is compiled for.
            return unsafe { fast::<T, C>(p, dh, dw) };
        }
    }
    resize_cubic_body::<T, C, false>(p, dh, dw)
}

/// The cubic resize; `AVX`: compiled into an AVX2 function (4-lane taps for 3 channels).
#[inline(always)]
pub(super) fn resize_cubic_body<T: Sample, const C: usize, const AVX: bool>(
    p: &Plane<T>,
    dh: usize,
    dw: usize,
) -> Plane<f64> {
    let tx = cubic_taps(p.w, dw);
    let ty = cubic_taps(p.h, dh);
    // horizontal pass: [h, dw, C]
    // both passes append in order: no zero-filled buffers first
    let mut tmp = Vec::with_capacity(p.h * dw * C);
    // per output column, once: element offsets of the taps, and whether the 4-lane read of
    // the last tap stays inside the row (it reads one value past the pixel)
    let cols: Vec<([usize; 4], bool)> = tx
        .iter()
        .map(|(idx, _)| (idx.map(|i| i * C), idx.iter().all(|&i| i + 1 < p.w)))
        .collect();
    for row in p.data.chunks_exact(p.w * C) {
        for ((_, w), (off, lanes_fit)) in tx.iter().zip(&cols) {
            #[cfg(target_arch = "x86_64")]
            if AVX && C == 3 && *lanes_fit {
                // SAFETY: only the AVX2 instantiation reaches this
                let acc = unsafe { tap_sum4(row, off, w) };
                tmp.extend_from_slice(&acc[..C]);
                continue;
            }
            let _ = lanes_fit;
            let mut acc = [0.0f64; C];
            for j in 0..4 {
                let s = &row[off[j]..off[j] + C];
                for k in 0..C {
                    acc[k] += w[j] * s[k].into();
                }
            }
            tmp.extend_from_slice(&acc);
        }
    }
    // vertical pass (vectorizes over the row)
    let stride = dw * C;
    let mut data = Vec::with_capacity(dh * stride);
    for (idx, w) in &ty {
        let r = idx.map(|i| &tmp[i * stride..(i + 1) * stride]);
        data.extend(
            r[0].iter()
                .zip(r[1])
                .zip(r[2])
                .zip(r[3])
                .map(|(((a, b), c), d)| {
                    let mut acc = 0.0;
                    acc += w[0] * a;
                    acc += w[1] * b;
                    acc += w[2] * c;
                    acc += w[3] * d;
                    acc
                }),
        );
    }
    Plane::from_vec(dh, dw, C, data)
}

/// Per-pixel `n/(‖n‖₂ + ε)` with ε = f64 machine epsilon (FixedResize on normals).
pub fn renormalize(p: &mut Plane<f64>) {
    for px in p.data.chunks_exact_mut(p.c) {
        let n = (px[0] * px[0] + px[1] * px[1] + px[2] * px[2]).sqrt() + f64::EPSILON;
        for v in px.iter_mut() {
            *v /= n;
        }
    }
}
