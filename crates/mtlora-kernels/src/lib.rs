//! Fused kernels for the MTLoRA model: window attention, LayerNorm and exact GELU.
//!
//! Each public function takes and returns plain `Tensor`s and picks its implementation at run
//! time: on the CPU backend (`flex`, with or without autodiff) a fused kernel of this crate
//! registered through burn's backend-extension API (`#[backend_extension(Flex, Autodiff)]`),
//! with a hand-written backward; on every other backend (wgpu, cuda) the composition of burn
//! ops in [`generic`], which the fused kernels are tested against.
//!
//! `MTLORA_KERNELS=generic` forces the generic path everywhere, `MTLORA_KERNELS=gelu,dropout`
//! keeps only the named kernels (benchmarks and parity compare them in one build).

#[cfg(feature = "flex")]
pub mod flex;
pub mod generic;
pub mod init;

use burn::tensor::{DType, Device, Tensor};

/// The fused kernels, by name (`MTLORA_KERNELS` values).
pub const KERNELS: [&str; 5] = [
    "gelu",
    "layer_norm",
    "window_attention",
    "dropout",
    "linear",
];

/// Whether calls on `device` with tensors of `dtype` use the fused flex kernels.
///
/// `MTLORA_KERNELS=generic` turns all of them off; a comma list of [`KERNELS`] names (e.g.
/// `window_attention,gelu`) keeps only those.
pub fn fused_on(device: &Device, dtype: DType) -> bool {
    fused_kernel_on("", device, dtype)
}

/// Whether the fused kernel named `kernel` (one of [`KERNELS`]; `""` for any) runs for tensors of
/// `dtype` on `device`, after `MTLORA_KERNELS`.
pub fn fused_kernel_on(kernel: &str, device: &Device, dtype: DType) -> bool {
    #[cfg(feature = "flex")]
    {
        use burn::backend::DispatchDevice;
        use std::sync::OnceLock;
        static SELECTED: OnceLock<Option<Vec<String>>> = OnceLock::new();
        let selected = SELECTED.get_or_init(|| {
            let v = std::env::var("MTLORA_KERNELS").ok()?;
            let v = v.trim().to_ascii_lowercase();
            if v.is_empty() || v == "fused" || v == "all" {
                return None;
            }
            Some(v.split(',').map(|s| s.trim().to_string()).collect())
        });
        let allowed = match selected {
            None => true,
            Some(list) => kernel.is_empty() || list.iter().any(|k| k == kernel),
        };
        if selected
            .as_ref()
            .is_some_and(|l| l.iter().any(|k| k == "generic"))
        {
            return false;
        }
        let inner = device.clone().inner();
        allowed && dtype == DType::F32 && matches!(inner.as_dispatch(), DispatchDevice::Flex(_))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (kernel, device, dtype);
        false
    }
}

/// Exact GELU, `x·Φ(x) = 0.5·x·(1 + erf(x/√2))` (PyTorch `nn.GELU()`).
///
/// # Shapes
/// - any shape → the same shape
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if fused_kernel_on("gelu", &x.device(), x.dtype()) {
        use flex::FusedKernels;
        return Tensor::from_dispatch(<burn::backend::Dispatch as FusedKernels>::mtlora_gelu(
            x.into_dispatch(),
        ));
    }
    generic::gelu(x)
}

/// `x·wᵀ + b` for any rank, with `w: [out, in]` (PyTorch layout).
///
/// Fused on flex: the bias is written once and the product accumulated onto it by `gemm`
/// (no zero-filled product, no add pass); the backward saves `x` only when `w` needs a
/// gradient and `w` only when `x` does.
///
/// # Shapes
/// - `x`: `[..., in]`, `w`: `[out, in]`, `b`: `[out]` → `[..., out]`
pub fn linear<const D: usize>(x: Tensor<D>, w: Tensor<2>, b: Option<Tensor<1>>) -> Tensor<D> {
    let [d_out, d_in] = w.dims();
    assert_eq!(
        x.dims()[D - 1],
        d_in,
        "linear: input has {} features, weight expects {d_in}",
        x.dims()[D - 1]
    );
    if let Some(b) = &b {
        assert_eq!(
            b.dims(),
            [d_out],
            "linear: bias of {:?} for {d_out} outputs",
            b.dims()
        );
    }
    #[cfg(feature = "flex")]
    if fused_kernel_on("linear", &x.device(), x.dtype()) {
        use burn::backend::Dispatch;
        use flex::FusedKernels;
        let out = match b {
            Some(b) => <Dispatch as FusedKernels>::mtlora_linear_bias(
                x.into_dispatch(),
                w.into_dispatch(),
                b.into_dispatch(),
            ),
            None => <Dispatch as FusedKernels>::mtlora_linear(x.into_dispatch(), w.into_dispatch()),
        };
        return Tensor::from_dispatch(out);
    }
    generic::linear(x, w, b)
}

/// `base + scale·z·bᵀ`: a LoRA up-projection added to the frozen output, with `b: [out, r]`.
///
/// Fused on flex: `base` is copied once (reused if not shared) and the product accumulated
/// onto it by `gemm`.
///
/// # Shapes
/// - `base`: `[..., out]`, `z`: `[..., r]`, `b`: `[out, r]` → `[..., out]`
pub fn add_low_rank<const D: usize>(
    base: Tensor<D>,
    z: Tensor<D>,
    b: Tensor<2>,
    scale: f64,
) -> Tensor<D> {
    let [d_out, r] = b.dims();
    let (bd, zd) = (base.dims(), z.dims());
    assert!(
        bd[D - 1] == d_out && zd[D - 1] == r && bd[..D - 1] == zd[..D - 1],
        "add_low_rank: base {bd:?}, z {zd:?}, b {:?}",
        [d_out, r]
    );
    #[cfg(feature = "flex")]
    if fused_kernel_on("linear", &base.device(), base.dtype()) {
        use flex::FusedKernels;
        return Tensor::from_dispatch(
            <burn::backend::Dispatch as FusedKernels>::mtlora_add_low_rank(
                base.into_dispatch(),
                z.into_dispatch(),
                b.into_dispatch(),
                scale as f32,
            ),
        );
    }
    generic::add_low_rank(base, z, b, scale)
}

/// Inverted dropout as burn-nn's `Dropout` applies it: identity unless the tensor is on an
/// autodiff device and `prob > 0`; otherwise each element is zeroed with probability `prob` and
/// the rest scaled by `1/(1 − prob)`.
///
/// On flex the mask comes from a counter-based hash of a seed drawn from the device's seeded
/// RNG (one draw per call, so `device.seed(s)` makes runs repeatable) and is recomputed in the
/// backward instead of being stored; elsewhere it is burn's Bernoulli tensor (a different
/// random stream, same distribution).
///
/// # Shapes
/// - any shape → the same shape
pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    if prob == 0.0 || !x.device().is_autodiff() {
        return x;
    }
    assert!(
        (0.0..1.0).contains(&prob),
        "dropout: probability {prob} outside [0, 1)"
    );
    let keep = 1.0 - prob;
    #[cfg(feature = "flex")]
    if fused_kernel_on("dropout", &x.device(), x.dtype()) {
        use flex::FusedKernels;
        let seed = draw_seed(&x.device());
        return Tensor::from_dispatch(<burn::backend::Dispatch as FusedKernels>::mtlora_dropout(
            x.into_dispatch(),
            keep,
            seed,
        ));
    }
    generic::dropout(x, keep)
}

/// A 64-bit seed from the device's RNG (four uniform f32 draws, bits mixed).
#[cfg(feature = "flex")]
fn draw_seed(device: &Device) -> u64 {
    use burn::tensor::Distribution;
    let r = Tensor::<1>::random([4], Distribution::Default, &device.clone().inner());
    let v: Vec<f32> = r.into_data().try_to_vec().expect("f32 draw");
    v.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, x| {
        (h ^ x.to_bits() as u64)
            .wrapping_mul(0x100_0000_01B3)
            .rotate_left(23)
    })
}

/// LayerNorm over the last axis: `(x − mean)/√(var + eps)·weight + bias`, biased variance.
///
/// # Shapes
/// - `x`: `[..., C]`; `weight`, `bias`: `[C]` → `[..., C]`
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<1>,
    bias: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let [c] = weight.dims();
    assert_eq!(
        x.dims()[D - 1],
        c,
        "layer_norm: expected {c} features, got {:?}",
        x.dims()
    );
    #[cfg(feature = "flex")]
    if fused_kernel_on("layer_norm", &x.device(), x.dtype()) {
        use flex::FusedKernels;
        return Tensor::from_dispatch(
            <burn::backend::Dispatch as FusedKernels>::mtlora_layer_norm(
                x.into_dispatch(),
                weight.into_dispatch(),
                bias.into_dispatch(),
                eps as f32,
            ),
        );
    }
    generic::layer_norm(x, weight, bias, eps)
}

/// Where each window's tokens live in a token tensor: window `w`'s token `i` is row
/// `rows()[w·tokens + i]`. Always a permutation of the rows (checked where it is built), so the
/// fused kernel can write the rows from parallel tasks without checking again per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowIndex {
    rows: std::sync::Arc<Vec<u32>>,
    tokens: usize,
    identity: bool,
}

impl WindowIndex {
    /// Tensors already partitioned into windows (`[windows, N, ·]`): the identity.
    pub fn identity(windows: usize, tokens: usize) -> Self {
        let n = u32::try_from(windows * tokens).expect("window_attention: too many tokens");
        Self {
            rows: std::sync::Arc::new((0..n).collect()),
            tokens,
            identity: true,
        }
    }

    /// Any window layout: `rows` window-major, `tokens` per window.
    ///
    /// # Panics
    /// If `rows` is not a permutation of `0..rows.len()` or not whole windows.
    pub fn from_rows(rows: Vec<u32>, tokens: usize) -> Self {
        assert!(
            tokens > 0 && rows.len() % tokens == 0,
            "window_attention: {} rows are not whole windows of {tokens}",
            rows.len()
        );
        let mut seen = vec![false; rows.len()];
        for &r in &rows {
            let r = r as usize;
            assert!(
                r < rows.len() && !seen[r],
                "window_attention: index is not a permutation"
            );
            seen[r] = true;
        }
        let identity = rows.iter().enumerate().all(|(k, &r)| k == r as usize);
        Self {
            rows: std::sync::Arc::new(rows),
            tokens,
            identity,
        }
    }

    /// Row of every (window, token), window-major.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// Tokens per window N.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Whether windows are already contiguous rows (no gather needed).
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Swin's shifted windows on a `[B, H·W, ·]` token grid: the rows that
    /// `window_partition(roll(x, −shift), window)` would gather, window-major (batch, window
    /// row, window column), row-major inside a window.
    pub fn shifted_grid(batch: usize, resolution: [usize; 2], window: usize, shift: usize) -> Self {
        let [h, w] = resolution;
        assert!(
            window > 0 && h % window == 0 && w % window == 0 && shift < window,
            "window_attention: {h}x{w} grid, window {window}, shift {shift}"
        );
        assert!(
            batch * h * w <= u32::MAX as usize,
            "window_attention: too many tokens"
        );
        let mut rows = Vec::with_capacity(batch * h * w);
        for b in 0..batch {
            for wr in 0..h / window {
                for wc in 0..w / window {
                    for i in 0..window {
                        for j in 0..window {
                            let r = (wr * window + i + shift) % h;
                            let c = (wc * window + j + shift) % w;
                            rows.push((b * h * w + r * w + c) as u32);
                        }
                    }
                }
            }
        }
        // a permutation by construction: every grid cell once per batch
        Self {
            // one window across the width and no shift: windows are already contiguous rows
            identity: shift == 0 && window == w,
            rows: std::sync::Arc::new(rows),
            tokens: window * window,
        }
    }

    /// Number of windows.
    pub fn windows(&self) -> usize {
        self.rows.len() / self.tokens
    }
}

/// Window multi-head self-attention on a packed qkv token tensor:
/// `softmax(q·kᵀ·scale + bias_h (+ mask_w))·v` per window and head, heads merged, written back
/// to each token's own row.
///
/// `qkv` holds, per token, `q | k | v`, each `heads × d` channels (the reference's
/// `qkv(x).reshape(B_, N, 3, nH, d)` order); `index` says which rows form each window (so a
/// cyclic shift and the window partition cost nothing on the fused path). Window `i` uses mask
/// `i mod nW`.
///
/// # Shapes
/// - `qkv`: `[B, L, 3C]` with `B·L = index.rows().len()`; `bias`: `[heads, N, N]`;
///   `mask`: `[nW, N, N]`
/// - output: `[B, L, C]`
pub fn window_attention_indexed(
    qkv: Tensor<3>,
    bias: Tensor<3>,
    mask: Option<Tensor<3>>,
    index: &WindowIndex,
    heads: usize,
    scale: f64,
) -> Tensor<3> {
    let [b, l, c3] = qkv.dims();
    let n = index.tokens();
    assert!(
        heads > 0 && c3 % (3 * heads) == 0,
        "window_attention: {c3} qkv channels for {heads} heads"
    );
    assert!(
        n > 0 && index.rows().len() == b * l && (b * l) % n == 0,
        "window_attention: index for {} rows, tensor has {}",
        index.rows().len(),
        b * l
    );
    assert_eq!(bias.dims(), [heads, n, n], "window_attention: bias shape");
    let windows = index.windows();
    if let Some(m) = &mask {
        let [nw, mn, mn2] = m.dims();
        assert!(
            mn == n && mn2 == n && nw > 0 && windows % nw == 0,
            "window_attention: mask {:?} for {windows} windows of {n} tokens",
            m.dims()
        );
    }
    #[cfg(feature = "flex")]
    if fused_kernel_on("window_attention", &qkv.device(), qkv.dtype()) {
        use burn::backend::Dispatch;
        use flex::FusedKernels;
        let out = match mask {
            None => <Dispatch as FusedKernels>::mtlora_window_attention(
                qkv.into_dispatch(),
                bias.into_dispatch(),
                index.clone(),
                heads,
                scale as f32,
            ),
            Some(m) => <Dispatch as FusedKernels>::mtlora_window_attention_masked(
                qkv.into_dispatch(),
                bias.into_dispatch(),
                m.into_dispatch(),
                index.clone(),
                heads,
                scale as f32,
            ),
        };
        return Tensor::from_dispatch(out);
    }
    generic::window_attention_indexed(qkv, bias, mask, index, heads, scale)
}

/// [`window_attention_indexed`] on tensors already partitioned into windows.
///
/// # Shapes
/// - `qkv`: `[B·nW, N, 3C]`; `bias`: `[heads, N, N]`; `mask`: `[nW, N, N]` → `[B·nW, N, C]`
pub fn window_attention(
    qkv: Tensor<3>,
    bias: Tensor<3>,
    mask: Option<Tensor<3>>,
    heads: usize,
    scale: f64,
) -> Tensor<3> {
    let [bw, n, _] = qkv.dims();
    window_attention_indexed(qkv, bias, mask, &WindowIndex::identity(bw, n), heads, scale)
}
