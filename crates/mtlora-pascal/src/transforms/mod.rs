//! Reference transforms with OpenCV 4.7 semantics (dataset.md §5, §7; FORMAT.md §11.6), on
//! float64 `H×W×C` planes.

#[cfg(test)]
use crate::plane::Plane;

mod cubic;
mod flip;
mod normalize;
mod normals;
mod resize;
mod warp;

pub use cubic::{cubic_weights, Sample};
pub use flip::{hflip_in_place, hflip_normals_in_place};
pub use normalize::{cast_u8, ignore_empty_parts, normalize_image, to_chw, ImageCast, MEAN, STD};
pub use normals::{ignore_zero_normals, rotate_normals_in_place};
pub use resize::{renormalize, resize_cubic, resize_nearest};
#[cfg(test)]
use warp::FixedMap;
pub use warp::{rotation_matrix, warp_cubic, warp_nearest};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_uses_floor_not_half_pixel() {
        let p = Plane::from_vec(1, 4, 1, vec![0.0, 1.0, 2.0, 3.0]);
        // 4 → 3: x·4/3 = 0, 1.33, 2.67 → 0, 1, 2 (half-pixel would give 0, 2, 3)
        assert_eq!(resize_nearest(&p, 1, 3).data, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for i in 0..32 {
            let w = cubic_weights(i as f32 / 32.0);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        let p = Plane::from_vec(2, 2, 1, vec![5.0; 4]);
        assert!(resize_cubic(&p, 5, 3)
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
        assert_eq!(warp_nearest(&p, &m).data, p.data);
        assert_eq!(warp_cubic(&p, &m).data, p.data);
    }

    #[test]
    fn flip_negates_normals_x() {
        let mut p = Plane::from_vec(1, 2, 3, vec![0.5, 0.1, 0.2, -0.3, 0.4, 0.6]);
        hflip_normals_in_place(&mut p);
        assert_eq!(p.data, vec![0.3, 0.4, 0.6, -0.5, 0.1, 0.2]);
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
