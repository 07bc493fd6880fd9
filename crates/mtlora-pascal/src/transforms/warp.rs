//! `cv2.warpAffine` (INTER_NEAREST, INTER_CUBIC; OpenCV's fixed-point source positions) and
//! ScaleNRotate.

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

use super::cubic::cubic_table_1d;
#[cfg(target_arch = "x86_64")]
use super::cubic::warp_taps4;
use super::cubic::Sample;
use crate::plane::Plane;

/// `cv2.getRotationMatrix2D((cx, cy), angle_deg, scale)`.
pub fn rotation_matrix(cx: f64, cy: f64, angle_deg: f64, scale: f64) -> [[f64; 3]; 2] {
    let a = angle_deg * std::f64::consts::PI / 180.0;
    let alpha = scale * a.cos();
    let beta = scale * a.sin();
    [
        [alpha, beta, (1.0 - alpha) * cx - beta * cy],
        [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
    ]
}

/// Inverse affine map in OpenCV's fixed point: per row the rounded offsets, per column the
/// rounded increments (10 fractional bits).
/// OpenCV's fixed-point (1/1024) inverse map of an affine warp, per row and column.
pub(super) struct FixedMap {
    a12: f64,
    a22: f64,
    b1: f64,
    b2: f64,
    pub(super) adelta: Vec<i64>,
    pub(super) bdelta: Vec<i64>,
}

pub(super) fn rint(v: f64) -> i64 {
    v.round_ties_even() as i64
}

impl FixedMap {
    pub(super) fn new(m: &[[f64; 3]; 2], w: usize) -> Self {
        let d = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let d = if d != 0.0 { 1.0 / d } else { 0.0 };
        let a11 = m[1][1] * d;
        let a22 = m[0][0] * d;
        let a12 = -m[0][1] * d;
        let a21 = -m[1][0] * d;
        let b1 = -a11 * m[0][2] - a12 * m[1][2];
        let b2 = -a21 * m[0][2] - a22 * m[1][2];
        let adelta = (0..w).map(|x| rint(a11 * x as f64 * 1024.0)).collect();
        let bdelta = (0..w).map(|x| rint(a21 * x as f64 * 1024.0)).collect();
        Self {
            a12,
            a22,
            b1,
            b2,
            adelta,
            bdelta,
        }
    }

    pub(super) fn row(&self, y: usize, delta: i64) -> (i64, i64) {
        (
            rint((self.a12 * y as f64 + self.b1) * 1024.0) + delta,
            rint((self.a22 * y as f64 + self.b2) * 1024.0) + delta,
        )
    }
}

/// `cv2.warpAffine(p, m, (w, h), INTER_NEAREST, BORDER_CONSTANT 0)` for any element type.
pub fn warp_nearest<T: Copy + Default>(p: &Plane<T>, m: &[[f64; 3]; 2]) -> Plane<T> {
    let (h, w, c) = (p.h, p.w, p.c);
    let map = FixedMap::new(m, w);
    let mut out = Plane::new(h, w, c);
    for y in 0..h {
        let (x0, y0) = map.row(y, 512);
        for x in 0..w {
            let xx = (x0 + map.adelta[x]) >> 10;
            let yy = (y0 + map.bdelta[x]) >> 10;
            if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                let (s, o) = ((yy as usize * w + xx as usize) * c, (y * w + x) * c);
                if c == 1 {
                    out.data[o] = p.data[s];
                } else {
                    out.data[o..o + c].copy_from_slice(&p.data[s..s + c]);
                }
            }
        }
    }
    out
}

/// `cv2.warpAffine(p, m, (w, h), INTER_CUBIC, BORDER_CONSTANT 0)` (1/32-pixel positions,
/// f32 tap weights, f64 accumulation; taps outside the image contribute 0).
pub fn warp_cubic<T: Sample>(p: &Plane<T>, m: &[[f64; 3]; 2]) -> Plane<f64> {
    match p.c {
        1 => warp_cubic_c::<T, 1>(p, m),
        2 => warp_cubic_c::<T, 2>(p, m),
        3 => warp_cubic_c::<T, 3>(p, m),
        4 => warp_cubic_c::<T, 4>(p, m),
        c => panic!("warp_cubic: {c} channels (at most 4)"),
    }
}

pub(super) fn warp_cubic_c<T: Sample, const C: usize>(
    p: &Plane<T>,
    m: &[[f64; 3]; 2],
) -> Plane<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn fast<T: Sample, const C: usize>(p: &Plane<T>, m: &[[f64; 3]; 2]) -> Plane<f64> {
            warp_cubic_body::<T, C, true>(p, m)
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports the features `fast` is compiled for.
            return unsafe { fast::<T, C>(p, m) };
        }
    }
    warp_cubic_body::<T, C, false>(p, m)
}

/// The cubic warp; `AVX`: compiled into an AVX2 function (4-lane taps for 3 channels).
#[inline(always)]
pub(super) fn warp_cubic_body<T: Sample, const C: usize, const AVX: bool>(
    p: &Plane<T>,
    m: &[[f64; 3]; 2],
) -> Plane<f64> {
    let (h, w) = (p.h, p.w);
    let map = FixedMap::new(m, w);
    let w1 = cubic_table_1d();
    let (hi, wi) = (h as i64, w as i64);
    let offsets: [usize; 16] = std::array::from_fn(|i| ((i / 4) * w + i % 4) * C);
    let pixel = |x: usize, (x0, y0): (i64, i64)| -> [f64; C] {
        let xx = (x0 + map.adelta[x]) >> 5;
        let yy = (y0 + map.bdelta[x]) >> 5;
        let (sx, fx) = (xx >> 5, (xx & 31) as usize);
        let (sy, fy) = (yy >> 5, (yy & 31) as usize);
        // tap (j, k) weighs f32(wy[j]·wx[k]), as OpenCV's 2-D table holds it
        let wt = |j: usize, k: usize| (w1[fy][j] * w1[fx][k]) as f64;
        let mut acc = [0.0f64; C];
        if sx + 2 < 0 || sy + 2 < 0 || sx > wi || sy > hi {
            // whole neighbourhood outside: border value 0
        } else if sx >= 1 && sy >= 1 && sx + 2 < wi && sy + 2 < hi {
            let row0 = ((sy - 1) as usize * w + (sx - 1) as usize) * C;
            #[cfg(target_arch = "x86_64")]
            if AVX && C == 3 && row0 + (3 * w + 3) * C + 4 <= p.data.len() {
                // SAFETY: only the AVX2 instantiation reaches this
                let v = unsafe { warp_taps4(&p.data, row0, &offsets, &w1[fy], &w1[fx]) };
                acc.copy_from_slice(&v[..C]);
                return acc;
            }
            for j in 0..4 {
                let base = row0 + j * w * C;
                let row = &p.data[base..base + 4 * C];
                for k in 0..4 {
                    let wgt = wt(j, k);
                    for ch in 0..C {
                        acc[ch] += wgt * row[k * C + ch].into();
                    }
                }
            }
        } else {
            for j in 0..4 {
                let r = sy - 1 + j as i64;
                if r < 0 || r >= hi {
                    continue;
                }
                for k in 0..4 {
                    let col = sx - 1 + k as i64;
                    if col < 0 || col >= wi {
                        continue;
                    }
                    let wgt = wt(j as usize, k as usize);
                    let base = (r as usize * w + col as usize) * C;
                    for ch in 0..C {
                        acc[ch] += wgt * p.data[base + ch].into();
                    }
                }
            }
        }
        acc
    };
    // written pixel by pixel in order: no zero-filled buffer first
    let mut data = Vec::with_capacity(h * w * C);
    for y in 0..h {
        let r = map.row(y, 16);
        for x in 0..w {
            data.extend_from_slice(&pixel(x, r));
        }
    }
    Plane::from_vec(h, w, C, data)
}
