//! Branch-free scalar math that LLVM vectorizes inside the kernels' loops, and the AVX2+FMA
//! multiversioning helper.
//!
//! `F` selects fused multiply-add: the AVX2+FMA instantiation of a kernel uses `mul_add` (one
//! instruction), the portable one plain `a * b + c` (`mul_add` would be a libm call there).

/// `a * b + c`, fused when `F`.
#[inline(always)]
pub(crate) fn fma<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `eˣ` for f32 (Cephes `expf` polynomial, ≤ 2 ulp on the clamped range); inputs below −87.3
/// give ≈ 1e-38 instead of a subnormal or 0 (irrelevant next to softmax sums ≥ 1).
#[inline(always)]
pub(crate) fn exp<const F: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let t = fma::<F>(x, LOG2E, ROUND);
    let n = t - ROUND;
    let r = fma::<F>(n, -LN2_LO, fma::<F>(n, -LN2_HI, x));
    let mut p = 1.987_569_1e-4_f32;
    p = fma::<F>(p, r, 1.398_199_9e-3);
    p = fma::<F>(p, r, 8.333_452e-3);
    p = fma::<F>(p, r, 4.166_579_6e-2);
    p = fma::<F>(p, r, 1.666_666_5e-1);
    p = fma::<F>(p, r, 0.5);
    let y = fma::<F>(p, r * r, r) + 1.0;
    // 2ⁿ from the integer in the low mantissa bits of `t`
    let bits = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    y * f32::from_bits(((bits + 127) as u32) << 23)
}

/// `erfc(z)` for `z ≥ 0` (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7).
#[inline(always)]
pub(crate) fn erfc_nonneg<const F: bool>(z: f32) -> f32 {
    let t = 1.0 / fma::<F>(0.5, z, 1.0);
    let mut p = 0.170_872_77_f32;
    p = fma::<F>(p, t, -0.822_152_23);
    p = fma::<F>(p, t, 1.488_515_9);
    p = fma::<F>(p, t, -1.135_204);
    p = fma::<F>(p, t, 0.278_868_07);
    p = fma::<F>(p, t, -0.186_288_06);
    p = fma::<F>(p, t, 0.096_784_18);
    p = fma::<F>(p, t, 0.374_091_96);
    p = fma::<F>(p, t, 1.000_023_7);
    p = fma::<F>(p, t, -1.265_512_2);
    t * exp::<F>(fma::<F>(-z, z, p))
}

/// `Φ(x) = ½·(1 + erf(x/√2)) = ½·erfc(−x/√2)`: relative error ≤ 1.5e-6 where Φ ≥ 1e-3 (tested),
/// absolute ≤ 1.5e-9 below.
#[inline(always)]
pub(crate) fn normal_cdf<const F: bool>(x: f32) -> f32 {
    let e = erfc_nonneg::<F>(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    if x >= 0.0 {
        1.0 - 0.5 * e
    } else {
        0.5 * e
    }
}

/// `φ(x) = e^{−x²/2}/√(2π)`.
#[inline(always)]
pub(crate) fn normal_pdf<const F: bool>(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    INV_SQRT_2PI * exp::<F>(-0.5 * x * x)
}

/// Runs `$body` (which must only call `#[inline(always)]` code generic over `const F: bool`)
/// through an AVX2+FMA instantiation when the CPU has it, else the portable one.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) => $inner:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) {
                    $inner::<true>($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports the features `fast` is compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            $inner::<false>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    /// Worst `|got − want| / max(|want|, floor)` over a grid: relative error, absolute below
    /// `floor` (f32 cannot carry the far tails' arguments, e.g. −x²/2 at x = 12, exactly).
    fn check(
        f: impl Fn(f64) -> f64,
        g: impl Fn(f32) -> f32,
        lo: f64,
        hi: f64,
        rel: f64,
        floor: f64,
    ) {
        let mut worst = 0.0f64;
        for i in 0..=20_000 {
            // the f32 input exactly, so input rounding is not counted as error
            let x = (lo + (hi - lo) * i as f64 / 20_000.0) as f32 as f64;
            let want = f(x);
            let got = g(x as f32) as f64;
            let err = (got - want).abs() / want.abs().max(floor);
            worst = worst.max(err);
        }
        assert!(worst <= rel, "worst relative error {worst:e} > {rel:e}");
    }

    #[test]
    fn exp_matches_std() {
        check(f64::exp, exp::<false>, -87.0, 88.0, 3e-7, 0.0);
        check(f64::exp, exp::<true>, -87.0, 88.0, 3e-7, 0.0);
    }

    #[test]
    fn normal_cdf_matches_erf() {
        // erf reference: f64 libm through the complementary function identity
        let phi = |x: f64| 0.5 * libm_erfc(-x / std::f64::consts::SQRT_2);
        check(phi, normal_cdf::<false>, -12.0, 12.0, 1.5e-6, 1e-3);
        check(phi, normal_cdf::<true>, -12.0, 12.0, 1.5e-6, 1e-3);
    }

    #[test]
    fn normal_pdf_matches() {
        let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        check(pdf, normal_pdf::<true>, -12.0, 12.0, 5e-7, 1e-3);
    }

    #[test]
    fn exp_saturates_without_nan() {
        assert!(exp::<true>(-1e30) >= 0.0 && exp::<true>(-1e30) < 1e-37);
        assert!(exp::<true>(1e30).is_finite());
        assert!(exp::<true>(f32::NEG_INFINITY) < 1e-37);
    }

    /// erfc in f64 by continued fraction / series (independent of the code under test).
    fn libm_erfc(x: f64) -> f64 {
        if x < 0.0 {
            return 2.0 - libm_erfc(-x);
        }
        if x < 2.0 {
            // erf series: 2/√π Σ (−1)ⁿ x^{2n+1} / (n! (2n+1))
            let mut sum = 0.0;
            let mut term = x;
            let mut n = 0.0;
            while term.abs() > 1e-18 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -x * x / n;
            }
            return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum;
        }
        // Lentz continued fraction for erfc
        let mut f = 0.0;
        for k in (1..200).rev() {
            f = (k as f64 / 2.0) / (x + f);
        }
        (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
    }
}
