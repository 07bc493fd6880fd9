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
    let mw = axis_matrix(w, wo, &dev); // [wo, w]
    let mh = axis_matrix(h, ho, &dev); // [ho, h]
    let y = x.reshape([b * c * h, w]).matmul(mw.transpose()); // [bch, wo]
    let y = y
        .reshape([b * c, h, wo])
        .swap_dims(1, 2)
        .reshape([b * c * wo, h]);
    let y = y.matmul(mh.transpose()); // [bc·wo, ho]
    y.reshape([b * c, wo, ho])
        .swap_dims(1, 2)
        .reshape([b, c, ho, wo])
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
