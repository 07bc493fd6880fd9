//! Dropout masks from a counter-based hash: element `i` is kept when
//! `hash(seed, i) < keep·2³²`. The mask is a pure function of `(seed, i)`, so it needs no
//! storage (the backward recomputes it), no lock, and is the same on any number of threads.

use rayon::prelude::*;

use super::math::multiversion;

const CHUNK: usize = 1 << 14;

#[inline(always)]
fn mix(mut x: u32) -> u32 {
    // "lowbias32" finalizer (Wellons): full avalanche, vectorizable 32-bit multiplies
    x ^= x >> 16;
    x = x.wrapping_mul(0x21f0_aaad);
    x ^= x >> 15;
    x = x.wrapping_mul(0x735a_2d97);
    x ^= x >> 15;
    x
}

/// The 32-bit hash deciding element `i`.
#[inline(always)]
pub fn hash(seed: u64, i: u32) -> u32 {
    mix(mix(i ^ seed as u32) ^ (seed >> 32) as u32)
}

/// `keep·2³²` as the comparison threshold (`keep` in (0, 1]).
pub fn threshold(keep: f64) -> u64 {
    ((keep * 4_294_967_296.0).round() as u64).min(1 << 32)
}

#[inline(always)]
fn apply_chunk<const F: bool>(
    seed: u64,
    start: usize,
    thr: u64,
    scale: f32,
    x: &[f32],
    y: &mut [f32],
) {
    for (k, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let h = hash(seed, (start + k) as u32) as u64;
        *y = if h < thr { x * scale } else { 0.0 };
    }
}

multiversion!(fn apply_seq(seed: u64, start: usize, thr: u64, scale: f32, x: &[f32], y: &mut [f32]) => apply_chunk);

/// `y[i] = x[i]/keep` for kept elements, 0 otherwise (forward and, applied to the gradient,
/// backward).
pub fn dropout_apply(seed: u64, keep: f64, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    assert!(
        x.len() <= u32::MAX as usize,
        "dropout: more than 2³² elements in one tensor"
    );
    let thr = threshold(keep);
    let scale = (1.0 / keep) as f32;
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (y, x))| apply_seq(seed, c * CHUNK, thr, scale, x, y));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_rate_and_scaling() {
        let n = 1 << 20;
        let x = vec![1.0f32; n];
        let mut y = vec![0.0f32; n];
        dropout_apply(0x1234_5678_9abc_def0, 0.95, &x, &mut y);
        let kept = y.iter().filter(|v| **v != 0.0).count() as f64 / n as f64;
        // binomial std at n = 2²⁰: 2.1e-4
        assert!((kept - 0.95).abs() < 1.5e-3, "kept fraction {kept}");
        assert!(y
            .iter()
            .all(|v| *v == 0.0 || (*v - 1.0 / 0.95).abs() < 1e-6));
    }

    #[test]
    fn seeds_give_different_masks_and_same_seed_the_same() {
        let x = vec![1.0f32; 4096];
        let (mut a, mut b, mut c) = (vec![0.0; 4096], vec![0.0; 4096], vec![0.0; 4096]);
        dropout_apply(1, 0.5, &x, &mut a);
        dropout_apply(2, 0.5, &x, &mut b);
        dropout_apply(1, 0.5, &x, &mut c);
        assert_eq!(a, c);
        let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
        assert!(same > 1700 && same < 2400, "{same} of 4096 agree");
    }

    #[test]
    fn neighbours_are_uncorrelated() {
        // pairs (i, i+1) kept together at rate ≈ keep²
        let n = 1 << 18;
        let thr = threshold(0.5);
        let both = (0..n as u32 - 1)
            .filter(|&i| (hash(7, i) as u64) < thr && (hash(7, i + 1) as u64) < thr)
            .count() as f64
            / n as f64;
        assert!((both - 0.25).abs() < 5e-3, "joint keep rate {both}");
    }
}
