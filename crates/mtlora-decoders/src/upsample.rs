//! Bilinear resize with PyTorch `align_corners = false` semantics (no antialiasing).

use burn::tensor::{Device, Tensor, TensorData};

/// Interpolation matrix `[out, in]` of one axis: for output `o`,
/// `src = max((o + 0.5)·scale − 0.5, 0)` with `scale = f32(in/out)`, computed in f32;
/// `i0 = floor(src)`, `i1 = min(i0 + 1, in − 1)`, `λ = src − i0`.
pub fn bilinear_matrix(input: usize, output: usize) -> Vec<f32> {
    let scale = (input as f64 / output as f64) as f32;
    let mut m = vec![0.0f32; output * input];
    for o in 0..output {
        let src = (((o as f32) + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        let l = src - i0 as f32;
        m[o * input + i0] += 1.0 - l;
        m[o * input + i1] += l;
    }
    m
}

fn axis_matrix(input: usize, output: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(bilinear_matrix(input, output), [output, input]),
        device,
    )
}

/// Bilinear resize (`align_corners = false`), separable, as two matmuls.
///
/// # Shapes
/// - input `[B, C, H, W]` → `[B, C, size[0], size[1]]`
pub fn upsample_bilinear(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    if [h, w] == size {
        return x;
    }
    let dev = x.device();
    let [ho, wo] = size;
    // per plane Mh·X·Mwᵀ as two batched products (the matrices broadcast): no transposed copies
    let mw = axis_matrix(w, wo, &dev); // [wo, w]
    let mh = axis_matrix(h, ho, &dev); // [ho, h]
    let y = x
        .reshape([b * c, h, w])
        .matmul(mw.transpose().unsqueeze::<3>()); // [bc, h, wo]
    let y = mh.unsqueeze::<3>().matmul(y); // [bc, ho, wo]
    y.reshape([b, c, ho, wo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_hand_values() {
        // 2 → 4: src = max((o+.5)·.5 − .5, 0) = 0, .25, .75, 1.25→i0=1,i1=1
        let m = bilinear_matrix(2, 4);
        assert_eq!(m, vec![1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0]);
    }

    /// PyTorch's `align_corners = false` bilinear rule, pixel by pixel in f64.
    fn direct(x: &[f32], [h, w]: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<f64> {
        let src = |o: usize, i: usize, n: usize| {
            let s = (((o as f64) + 0.5) * (i as f64 / n as f64) - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(i - 1);
            (i0, (i0 + 1).min(i - 1), s - i0 as f64)
        };
        let mut out = vec![];
        for oy in 0..ho {
            let (y0, y1, ly) = src(oy, h, ho);
            for ox in 0..wo {
                let (x0, x1, lx) = src(ox, w, wo);
                let v = |y: usize, xx: usize| x[y * w + xx] as f64;
                out.push(
                    (1.0 - ly) * ((1.0 - lx) * v(y0, x0) + lx * v(y0, x1))
                        + ly * ((1.0 - lx) * v(y1, x0) + lx * v(y1, x1)),
                );
            }
        }
        out
    }

    #[test]
    fn matches_the_per_pixel_rule_on_every_plane() {
        let dev = Device::default();
        let (b, c, h, w, ho, wo) = (2, 3, 5, 7, 12, 9);
        let vals: Vec<f32> = (0..b * c * h * w)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(vals.clone(), [b, c, h, w]), &dev);
        let y: Vec<f32> = upsample_bilinear(x, [ho, wo])
            .into_data()
            .try_to_vec()
            .unwrap();
        for p in 0..b * c {
            let want = direct(&vals[p * h * w..(p + 1) * h * w], [h, w], [ho, wo]);
            for (got, want) in y[p * ho * wo..(p + 1) * ho * wo].iter().zip(&want) {
                assert!(
                    (*got as f64 - want).abs() < 1e-5,
                    "plane {p}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn constant_stays_constant() {
        let dev = Device::default();
        let x = Tensor::<4>::ones([1, 2, 3, 5], &dev);
        let y: Vec<f32> = upsample_bilinear(x, [7, 11])
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(y.iter().all(|v| (v - 1.0).abs() < 1e-6));
    }
}
