//! 1×1 convolution as a batched matmul over the pixel axis.
//!
//! Same result as `Conv2d::forward` with a 1×1 kernel, stride 1, no padding, one group, but its
//! weight gradient is one `[C_out, HW]·[HW, C_in]` product per image. burn's default
//! `conv2d_weight_backward` runs a convolution whose kernel is the whole feature map, which
//! burn-flex executes as matrix-vector products (≈ 15 % of a training step at 448², measured).

use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::Tensor;

/// `y[b, o, p] = Σ_i W[o, i]·x[b, i, p] + bias[o]` for a 1×1 `conv`.
///
/// # Shapes
/// - `x`: `[batch, C_in, H, W]`
/// - output: `[batch, C_out, H, W]`
///
/// # Panics
/// If `conv` is not a 1×1, stride-1, unpadded, single-group convolution, or the channels differ.
pub fn pointwise_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [co, ci, kh, kw] = conv.weight.dims();
    let unpadded = matches!(
        conv.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Same | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    assert!(
        [kh, kw] == [1, 1]
            && conv.stride == [1, 1]
            && conv.dilation == [1, 1]
            && conv.groups == 1
            && unpadded,
        "pointwise_conv: needs a 1×1, stride-1, single-group conv, got {kh}×{kw}"
    );
    let [b, c, h, w] = x.dims();
    assert_eq!(
        c, ci,
        "pointwise_conv: input has {c} channels, conv expects {ci}"
    );
    let weight = conv.weight.val().reshape([1, co, ci]);
    let y = weight.matmul(x.reshape([b, ci, h * w]));
    let y = match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, co, 1]),
        None => y,
    };
    y.reshape([b, co, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    fn close(a: Tensor<4>, b: Tensor<4>) {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1.0) as f64;
        a.into_data()
            .assert_approx_eq::<f32>(&b.into_data(), Tolerance::absolute(1e-5 * scale));
    }

    #[test]
    fn equals_burns_conv2d_forward_and_gradients() {
        let dev = Device::default().autodiff();
        for bias in [true, false] {
            let conv = Conv2dConfig::new([6, 5], [1, 1]).with_bias(bias).init(&dev);
            let x = Tensor::<4>::random([2, 6, 7, 3], Distribution::Normal(0.0, 1.0), &dev)
                .require_grad();
            let g = Tensor::<4>::random([2, 5, 7, 3], Distribution::Normal(0.0, 1.0), &dev);

            let ours = pointwise_conv(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            close(ours.clone(), theirs.clone());

            let ga = (ours * g.clone()).sum().backward();
            let gb = (theirs * g).sum().backward();
            let grad = |t: &Tensor<4>, gr| t.grad(gr).expect("tracked");
            close(grad(&x, &ga), grad(&x, &gb));
            let wa = conv.weight.val().grad(&ga).expect("weight grad");
            let wb = conv.weight.val().grad(&gb).expect("weight grad");
            close(wa, wb);
            if let Some(b) = &conv.bias {
                let ba = b.val().grad(&ga).expect("bias grad");
                let bb = b.val().grad(&gb).expect("bias grad");
                ba.into_data()
                    .assert_approx_eq::<f32>(&bb.into_data(), Tolerance::absolute(1e-4));
            }
        }
    }

    #[test]
    #[should_panic(expected = "1×1")]
    fn rejects_larger_kernels() {
        let dev = Device::default();
        let conv = Conv2dConfig::new([2, 2], [3, 3]).init(&dev);
        pointwise_conv(&conv, Tensor::zeros([1, 2, 4, 4], &dev));
    }
}
