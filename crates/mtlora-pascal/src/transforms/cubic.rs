//! Keys cubic interpolation shared by resize and warp: f32 weights as OpenCV computes them,
//! the sample types the kernels read, and the 4-lane AVX2 tap sums.

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

pub(super) const A: f32 = -0.75;

pub(super) mod sealed {
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

/// `Σ_i w[i]·data[off[i]..][..4]` over `N` taps, lane-wise, in tap order: per lane the
/// same multiplications and additions (no fused multiply-add) as the scalar loops, so a
/// 3-channel pixel is one 4-wide operation per tap with bit-identical channels (lane 3 reads
/// the next value and is dropped).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn tap_sum4<T: Sample, const N: usize>(
    data: &[T],
    off: &[usize; N],
    w: &[f64; N],
) -> [f64; 4] {
    use std::arch::x86_64::*;
    let end = off.iter().max().map_or(0, |&o| o + 4);
    assert!(end <= data.len(), "tap_sum4: {end} > {}", data.len());
    let p = data.as_ptr();
    let mut acc = _mm256_setzero_pd();
    for i in 0..N {
        // SAFETY: AVX2 is enabled for this function; `off[i] + 4 <= len` (checked above)
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
pub(super) fn warp_taps4<T: Sample>(
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

/// Keys cubic weights at the 32 fractional positions `i/32` (f32); a tap's 2-D weight is
/// `f32(wy[j]·wx[k])`, formed where it is used.
pub(super) fn cubic_table_1d() -> &'static [[f32; 4]; 32] {
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
