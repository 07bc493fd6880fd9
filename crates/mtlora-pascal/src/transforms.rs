//! Reference transforms with OpenCV 4.7 semantics (dataset.md §5, §7; FORMAT.md §11.6), on
//! float64 `H×W×C` planes.

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

use crate::plane::Plane;

/// OpenCV interpolation used per element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interp {
    /// INTER_NEAREST (labels).
    Nearest,
    /// INTER_CUBIC (image, normals).
    Cubic,
}

const A: f32 = -0.75;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for f64 {}
}

/// A value type the cubic kernels read: `u8` (decoded images) or `f64` (normals, warped
/// planes). Sealed: the AVX2 paths load four consecutive values as f64 lanes.
pub trait Sample: Copy + Default + Into<f64> + sealed::Sealed {
    /// The four values at `p` as f64 lanes.
    ///
    /// # Safety
    /// The CPU supports AVX2 and `p..p + 4` is in bounds.
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    unsafe fn lanes4(p: *const Self) -> std::arch::x86_64::__m256d;
}

impl Sample for u8 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn lanes4(p: *const u8) -> std::arch::x86_64::__m256d {
        use std::arch::x86_64::*;
        let v = p.cast::<i32>().read_unaligned();
        _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v)))
    }
}

impl Sample for f64 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn lanes4(p: *const f64) -> std::arch::x86_64::__m256d {
        std::arch::x86_64::_mm256_loadu_pd(p)
    }
}

/// `Σ_i w[i]·data[at + off[i]..][..4]` over `N` taps, lane-wise, in tap order: per lane the
/// same multiplications and additions (no fused multiply-add) as the scalar loops, so a
/// 3-channel pixel is one 4-wide operation per tap with bit-identical channels (lane 3 reads
/// the next value and is dropped).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn tap_sum4<T: Sample, const N: usize>(
    data: &[T],
    at: usize,
    off: &[usize; N],
    w: &[f64; N],
) -> [f64; 4] {
    use std::arch::x86_64::*;
    let end = off.iter().max().map_or(0, |&o| at + o + 4);
    assert!(end <= data.len(), "tap_sum4: {end} > {}", data.len());
    let p = data[at..].as_ptr();
    let mut acc = _mm256_setzero_pd();
    for i in 0..N {
        // SAFETY: AVX2 is enabled for this function; `at + off[i] + 4 <= len` (checked above)
        let v = unsafe { T::lanes4(p.add(off[i])) };
        acc = _mm256_add_pd(acc, _mm256_mul_pd(_mm256_set1_pd(w[i]), v));
    }
    let mut out = [0.0f64; 4];
    // SAFETY: `out` holds 4 f64
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), acc) };
    out
}

/// The 16 taps of an interior 3-channel warp pixel (rows `off[4j..4j+4]`) with weights
/// `f32(wy[j]·wx[k])` formed on the fly (no 128 KB product table to miss in cache), summed as
/// [`tap_sum4`] does.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn warp_taps4<T: Sample>(
    data: &[T],
    at: usize,
    off: &[usize; 16],
    wy: &[f32; 4],
    wx: &[f32; 4],
) -> [f64; 4] {
    use std::arch::x86_64::*;
    let end = at + off[15] + 4;
    assert!(end <= data.len(), "warp_taps4: {end} > {}", data.len());
    let p = data[at..].as_ptr();
    // SAFETY: `wx` holds 4 f32
    let wxv = unsafe { _mm_loadu_ps(wx.as_ptr()) };
    let mut acc = _mm256_setzero_pd();
    for j in 0..4 {
        let wj = _mm256_cvtps_pd(_mm_mul_ps(_mm_set1_ps(wy[j]), wxv));
        let wk = [
            _mm256_permute4x64_pd::<0x00>(wj),
            _mm256_permute4x64_pd::<0x55>(wj),
            _mm256_permute4x64_pd::<0xAA>(wj),
            _mm256_permute4x64_pd::<0xFF>(wj),
        ];
        for k in 0..4 {
            // SAFETY: AVX2 is enabled for this function; every tap ends before `end`
            let v = unsafe { T::lanes4(p.add(off[j * 4 + k])) };
            acc = _mm256_add_pd(acc, _mm256_mul_pd(wk[k], v));
        }
    }
    let mut out = [0.0f64; 4];
    // SAFETY: `out` holds 4 f64
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), acc) };
    out
}

/// Keys cubic weights at the 32 fractional positions `i/32` (f32).
fn cubic_table_1d() -> &'static [[f32; 4]; 32] {
    static T: std::sync::OnceLock<[[f32; 4]; 32]> = std::sync::OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|i| cubic_weights(i as f32 / 32.0)))
}

/// Keys cubic weights at `t`, computed in f32 as OpenCV does.
#[inline]
pub fn cubic_weights(t: f32) -> [f32; 4] {
    let c0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let c2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
    let c3 = 1.0 - c0 - c1 - c2;
    [c0, c1, c2, c3]
}

/// Mirror columns in place.
pub fn hflip_in_place<T: Copy>(p: &mut Plane<T>) {
    fn rows<T: Copy, const C: usize>(data: &mut [T], w: usize) {
        for row in data.chunks_exact_mut(w * C) {
            let (px, _) = row.as_chunks_mut::<C>();
            px.reverse();
        }
    }
    match p.c {
        1 => rows::<T, 1>(&mut p.data, p.w),
        3 => rows::<T, 3>(&mut p.data, p.w),
        c => {
            let w = p.w;
            for row in p.data.chunks_exact_mut(w * c) {
                for x in 0..w / 2 {
                    for k in 0..c {
                        row.swap(x * c + k, (w - 1 - x) * c + k);
                    }
                }
            }
        }
    }
}

/// Mirror columns of normals in place and negate their x component (channel 0).
pub fn hflip_normals_in_place(p: &mut Plane<f64>) {
    hflip_in_place(p);
    for px in p.data.chunks_exact_mut(p.c) {
        px[0] = -px[0];
    }
}

/// Mirror columns; `negate_x` negates channel 0 (normals).
pub fn hflip(p: &Plane<f64>, negate_x: bool) -> Plane<f64> {
    let mut out = p.clone();
    if negate_x {
        hflip_normals_in_place(&mut out);
    } else {
        hflip_in_place(&mut out);
    }
    out
}

/// `cv2.resize` to `(dst_h, dst_w)`.
pub fn resize(p: &Plane<f64>, dst_h: usize, dst_w: usize, interp: Interp) -> Plane<f64> {
    match interp {
        Interp::Nearest => resize_nearest(p, dst_h, dst_w),
        Interp::Cubic => resize_cubic(p, dst_h, dst_w),
    }
}

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
fn cubic_taps(src: usize, dst: usize) -> Vec<([usize; 4], [f64; 4])> {
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

fn resize_cubic_c<T: Sample, const C: usize>(p: &Plane<T>, dh: usize, dw: usize) -> Plane<f64> {
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
fn resize_cubic_body<T: Sample, const C: usize, const AVX: bool>(
    p: &Plane<T>,
    dh: usize,
    dw: usize,
) -> Plane<f64> {
    let tx = cubic_taps(p.w, dw);
    let ty = cubic_taps(p.h, dh);
    // horizontal pass: [h, dw, C]
    // both passes append in order: no zero-filled buffers first
    let mut tmp = Vec::with_capacity(p.h * dw * C);
    let last = p.w - 1;
    for row in p.data.chunks_exact(p.w * C) {
        for (idx, w) in &tx {
            #[cfg(target_arch = "x86_64")]
            if AVX && C == 3 && idx.iter().all(|&i| i < last) {
                // SAFETY: only the AVX2 instantiation reaches this
                let acc = unsafe { tap_sum4(row, 0, &idx.map(|i| i * C), w) };
                tmp.extend_from_slice(&acc[..C]);
                continue;
            }
            let _ = last;
            let mut acc = [0.0f64; C];
            for j in 0..4 {
                let s = &row[idx[j] * C..idx[j] * C + C];
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

/// FixedResize of one element (normals renormalized after the cubic resize).
pub fn fixed_resize(
    p: &Plane<f64>,
    dh: usize,
    dw: usize,
    interp: Interp,
    normals: bool,
) -> Plane<f64> {
    let mut out = resize(p, dh, dw, interp);
    if normals {
        renormalize(&mut out);
    }
    out
}

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
struct FixedMap {
    a12: f64,
    a22: f64,
    b1: f64,
    b2: f64,
    adelta: Vec<i64>,
    bdelta: Vec<i64>,
}

fn rint(v: f64) -> i64 {
    v.round_ties_even() as i64
}

impl FixedMap {
    fn new(m: &[[f64; 3]; 2], w: usize) -> Self {
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

    fn row(&self, y: usize, delta: i64) -> (i64, i64) {
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

/// 4×4 products `f32(wy[j]·wx[k])` for every (fy, fx) in 1/32 steps.
fn cubic_table_2d() -> &'static [[f64; 16]] {
    static T: std::sync::OnceLock<Vec<[f64; 16]>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let w1: Vec<[f32; 4]> = (0..32).map(|i| cubic_weights(i as f32 / 32.0)).collect();
        let mut t = Vec::with_capacity(32 * 32);
        for wy in &w1 {
            for wx in &w1 {
                let mut e = [0.0f64; 16];
                for j in 0..4 {
                    for k in 0..4 {
                        e[j * 4 + k] = (wy[j] * wx[k]) as f64;
                    }
                }
                t.push(e);
            }
        }
        t
    })
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

fn warp_cubic_c<T: Sample, const C: usize>(p: &Plane<T>, m: &[[f64; 3]; 2]) -> Plane<f64> {
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
fn warp_cubic_body<T: Sample, const C: usize, const AVX: bool>(
    p: &Plane<T>,
    m: &[[f64; 3]; 2],
) -> Plane<f64> {
    let (h, w) = (p.h, p.w);
    let map = FixedMap::new(m, w);
    let table = cubic_table_2d();
    let w1 = cubic_table_1d();
    let (hi, wi) = (h as i64, w as i64);
    let offsets: [usize; 16] = std::array::from_fn(|i| ((i / 4) * w + i % 4) * C);
    let pixel = |x: usize, (x0, y0): (i64, i64)| -> [f64; C] {
        let xx = (x0 + map.adelta[x]) >> 5;
        let yy = (y0 + map.bdelta[x]) >> 5;
        let (sx, fx) = (xx >> 5, (xx & 31) as usize);
        let (sy, fy) = (yy >> 5, (yy & 31) as usize);
        let wt = &table[fy * 32 + fx];
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
                    let wgt = wt[j * 4 + k];
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
                    let wgt = wt[j * 4 + k];
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

/// `cv2.warpAffine` of a float plane with the given interpolation.
pub fn warp_affine(p: &Plane<f64>, m: &[[f64; 3]; 2], interp: Interp) -> Plane<f64> {
    match interp {
        Interp::Nearest => warp_nearest(p, m),
        Interp::Cubic => warp_cubic(p, m),
    }
}

/// In-plane rotation of normals before warping (dataset.md §5.3): the reference computes
/// `sin(atan2(n0, n1) + θ)·ρ`, `cos(atan2(n0, n1) + θ)·ρ`; this uses the algebraically equal
/// `n0·cosθ + n1·sinθ`, `n1·cosθ − n0·sinθ` (3× faster, differences at the f64 ulp level,
/// below the f32 resolution of the tensors). Channel 2 is unchanged.
pub fn rotate_normals(p: &Plane<f64>, rot_deg: f64) -> Plane<f64> {
    let mut out = p.clone();
    rotate_normals_in_place(&mut out, rot_deg);
    out
}

/// [`rotate_normals`] in place.
pub fn rotate_normals_in_place(p: &mut Plane<f64>, rot_deg: f64) {
    let rad = rot_deg * 2.0 * std::f64::consts::PI / 360.0;
    let (sin, cos) = rad.sin_cos();
    let c = p.c;
    for px in p.data.chunks_exact_mut(c) {
        let (n0, n1) = (px[0], px[1]);
        px[0] = n0 * cos + n1 * sin;
        px[1] = n1 * cos - n0 * sin;
    }
}

/// ScaleNRotate of one element with fixed `rot` (degrees) and `scale`.
pub fn scale_rotate(
    p: &Plane<f64>,
    rot: f64,
    scale: f64,
    interp: Interp,
    normals: bool,
) -> Plane<f64> {
    let m = rotation_matrix(p.w as f64 / 2.0, p.h as f64 / 2.0, rot, scale);
    if normals {
        warp_affine(&rotate_normals(p, rot), &m, interp)
    } else {
        warp_affine(p, &m, interp)
    }
}

/// How the image is cast to uint8 before ToTensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageCast {
    /// Clamp to [0, 255], then truncate (default, quirk Q23 fixed).
    #[default]
    Clamp,
    /// Truncate toward zero, then wrap modulo 256 (the reference on x86-64).
    Wrap,
}

/// `astype(uint8)` of a resized image value.
#[inline]
pub fn cast_u8(v: f64, mode: ImageCast) -> u8 {
    match mode {
        ImageCast::Clamp => v.clamp(0.0, 255.0) as u8,
        ImageCast::Wrap => (v.trunc() as i64).rem_euclid(256) as u8,
    }
}

/// ImageNet mean / std.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet std.
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// ToTensor + Normalize of a uint8 HWC image → CHW f32, `((u8/255) − mean)/std` in f32.
pub fn normalize_image(img: &Plane<u8>) -> Vec<f32> {
    static LUT: std::sync::OnceLock<[[f32; 256]; 3]> = std::sync::OnceLock::new();
    let lut = LUT.get_or_init(|| {
        let mut t = [[0.0f32; 256]; 3];
        for (k, row) in t.iter_mut().enumerate() {
            for (v, o) in row.iter_mut().enumerate() {
                *o = ((v as f32) / 255.0 - MEAN[k]) / STD[k];
            }
        }
        t
    });
    let n = img.h * img.w;
    let mut out = vec![0.0f32; 3 * n];
    let (r, rest) = out.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        r[i] = lut[0][px[0] as usize];
        g[i] = lut[1][px[1] as usize];
        b[i] = lut[2][px[2] as usize];
    }
    out
}

/// AddIgnoreRegions: a human-parts map that is entirely 0 becomes entirely 255.
pub fn ignore_empty_parts<T: Copy + Default + PartialEq + From<u8>>(p: &mut Plane<T>) {
    if p.data.iter().all(|&v| v == T::default()) {
        p.data.fill(T::from(255));
    }
}

/// AddIgnoreRegions: normals with norm exactly 0 become 255 on all channels.
pub fn ignore_zero_normals(p: &mut Plane<f64>) {
    for px in p.data.chunks_exact_mut(p.c) {
        if (px[0] * px[0] + px[1] * px[1] + px[2] * px[2]).sqrt() == 0.0 {
            px.fill(255.0);
        }
    }
}

/// HWC → CHW f32.
pub fn to_chw(p: &Plane<f64>) -> Vec<f32> {
    let n = p.h * p.w;
    let mut out = vec![0.0f32; p.c * n];
    for i in 0..n {
        for k in 0..p.c {
            out[k * n + i] = p.data[i * p.c + k] as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_uses_floor_not_half_pixel() {
        let p = Plane::from_vec(1, 4, 1, vec![0.0, 1.0, 2.0, 3.0]);
        // 4 → 3: x·4/3 = 0, 1.33, 2.67 → 0, 1, 2 (half-pixel would give 0, 2, 3)
        assert_eq!(resize(&p, 1, 3, Interp::Nearest).data, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for i in 0..32 {
            let w = cubic_weights(i as f32 / 32.0);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        let p = Plane::from_vec(2, 2, 1, vec![5.0; 4]);
        assert!(resize(&p, 5, 3, Interp::Cubic)
            .data
            .iter()
            .all(|v| (v - 5.0).abs() < 1e-9));
    }

    /// OpenCV's cubic warp written out per pixel and per tap: 1/32-pixel fixed-point source
    /// position, f32 tap products, f64 sum in row-then-column order, out-of-image taps skipped.
    fn warp_cubic_oracle(p: &Plane<f64>, m: &[[f64; 3]; 2]) -> Vec<f64> {
        let (h, w, c) = (p.h as i64, p.w as i64, p.c);
        let map = FixedMap::new(m, p.w);
        let mut out = Vec::new();
        for y in 0..h {
            let (x0, y0) = map.row(y as usize, 16);
            for x in 0..w {
                let xx = (x0 + map.adelta[x as usize]) >> 5;
                let yy = (y0 + map.bdelta[x as usize]) >> 5;
                let wy = cubic_weights((yy & 31) as f32 / 32.0);
                let wx = cubic_weights((xx & 31) as f32 / 32.0);
                for ch in 0..c {
                    let mut acc = 0.0f64;
                    for j in 0..4 {
                        for k in 0..4 {
                            let (r, col) = ((yy >> 5) - 1 + j, (xx >> 5) - 1 + k);
                            if (0..h).contains(&r) && (0..w).contains(&col) {
                                let v = p.data[((r * w + col) as usize) * c + ch];
                                acc += (wy[j as usize] * wx[k as usize]) as f64 * v;
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
        out
    }

    #[test]
    fn cubic_warp_equals_the_per_tap_rule_bit_for_bit() {
        // odd sizes, 1-4 channels, rotations that put pixels at every border case, and the
        // last pixel's neighbourhood at the very end of the buffer (the 4-lane path's limit)
        let mut seed = 7u64;
        for (h, w, c, rot, scale) in [
            (13, 17, 3, 17.0, 1.2),
            (16, 11, 3, -20.0, 0.75),
            (9, 9, 3, 0.0, 1.0),
            (12, 10, 1, 9.0, 0.9),
            (10, 12, 4, -7.0, 1.1),
            (8, 7, 2, 3.0, 1.25),
        ] {
            let data = (0..h * w * c)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((seed >> 33) % 256) as f64 + if c == 3 { 0.0 } else { 0.37 }
                })
                .collect();
            let p = Plane::from_vec(h, w, c, data);
            let m = rotation_matrix(w as f64 / 2.0, h as f64 / 2.0, rot, scale);
            let want = warp_cubic_oracle(&p, &m);
            let got = warp_cubic(&p, &m);
            assert!(
                got.data
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{h}x{w}x{c} rot {rot}"
            );
            // the u8 path (the training image) gives the same values
            let u8p = Plane::from_vec(h, w, c, p.data.iter().map(|&v| v as u8).collect());
            let as_f64 = warp_cubic(&u8p.to_f64(), &m);
            assert_eq!(warp_cubic(&u8p, &m).data, as_f64.data);
        }
    }

    #[test]
    fn cubic_resize_equals_the_per_tap_rule_bit_for_bit() {
        // cv2.resize INTER_CUBIC: separable, f32 taps at the half-pixel source position,
        // clamped borders, f64 sums: horizontal first, then vertical, each in tap order
        let mut seed = 11u64;
        for (h, w, c, dh, dw) in [
            (7, 9, 3, 11, 5),
            (5, 6, 1, 3, 8),
            (6, 5, 4, 9, 9),
            (8, 8, 3, 8, 13),
        ] {
            let p = Plane::from_vec(
                h,
                w,
                c,
                (0..h * w * c)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        ((seed >> 33) % 256) as u8
                    })
                    .collect(),
            );
            let tap = |src: usize, dst: usize, d: usize| {
                let fx = ((d as f64 + 0.5) * (src as f64 / dst as f64) - 0.5) as f32;
                let s = fx.floor();
                let wt = cubic_weights(fx - s);
                let i = |k: i64| (s as i64 - 1 + k).clamp(0, src as i64 - 1) as usize;
                ([i(0), i(1), i(2), i(3)], wt.map(|v| v as f64))
            };
            let mut horiz = vec![0.0f64; h * dw * c];
            for y in 0..h {
                for x in 0..dw {
                    let (ix, wx) = tap(w, dw, x);
                    for ch in 0..c {
                        let mut acc = 0.0f64;
                        for k in 0..4 {
                            acc += wx[k] * p.data[(y * w + ix[k]) * c + ch] as f64;
                        }
                        horiz[(y * dw + x) * c + ch] = acc;
                    }
                }
            }
            let mut want = vec![0.0f64; dh * dw * c];
            for y in 0..dh {
                let (iy, wy) = tap(h, dh, y);
                for i in 0..dw * c {
                    let mut acc = 0.0f64;
                    for k in 0..4 {
                        acc += wy[k] * horiz[iy[k] * dw * c + i];
                    }
                    want[y * dw * c + i] = acc;
                }
            }
            let got = resize_cubic(&p, dh, dw);
            assert!(
                got.data
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{h}x{w}x{c} -> {dh}x{dw}"
            );
        }
    }

    #[test]
    fn identity_warp_is_exact() {
        let p = Plane::from_vec(3, 4, 1, (0..12).map(|v| v as f64).collect());
        let m = rotation_matrix(2.0, 1.5, 0.0, 1.0);
        assert_eq!(warp_affine(&p, &m, Interp::Nearest).data, p.data);
        assert_eq!(warp_affine(&p, &m, Interp::Cubic).data, p.data);
    }

    #[test]
    fn flip_negates_normals_x() {
        let p = Plane::from_vec(1, 2, 3, vec![0.5, 0.1, 0.2, -0.3, 0.4, 0.6]);
        assert_eq!(hflip(&p, true).data, vec![0.3, 0.4, 0.6, -0.5, 0.1, 0.2]);
    }

    #[test]
    fn uint8_cast_modes() {
        assert_eq!(cast_u8(-3.2, ImageCast::Wrap), 253);
        assert_eq!(cast_u8(256.2, ImageCast::Wrap), 0);
        assert_eq!(cast_u8(254.7, ImageCast::Wrap), 254);
        assert_eq!(cast_u8(-0.5, ImageCast::Wrap), 0);
        assert_eq!(cast_u8(-3.2, ImageCast::Clamp), 0);
        assert_eq!(cast_u8(256.2, ImageCast::Clamp), 255);
    }
}
