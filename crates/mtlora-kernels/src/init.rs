//! Random parameter initialisation from a host-side generator, so that one seed gives one
//! initial model on every backend (each backend's own `Tensor::random` draws a different
//! stream: flex and wgpu gave different models from the same `device.seed`).
//!
//! The generator is per thread (xoshiro256** seeded through SplitMix64): [`seed`] makes the
//! draws of the calling thread repeatable, and concurrent threads (tests, workers) never
//! interleave their draws. Without [`seed`] a thread starts from a time- and thread-dependent
//! seed. Values are drawn in `f64`, rounded once to `f32` and uploaded as one `TensorData`.
//! Dropout masks are not drawn here: they stay on the device.

use std::cell::RefCell;

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor, TensorData};

struct Xoshiro([u64; 4]);

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Xoshiro {
    fn new(seed: u64) -> Self {
        let mut s = seed;
        Self([
            splitmix(&mut s),
            splitmix(&mut s),
            splitmix(&mut s),
            splitmix(&mut s),
        ])
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

thread_local! {
    static RNG: RefCell<Xoshiro> = RefCell::new(Xoshiro::new(entropy_seed()));
}

/// Make this thread's parameter draws repeatable from `seed`.
pub fn seed(seed: u64) {
    RNG.with(|r| *r.borrow_mut() = Xoshiro::new(seed));
}

/// A `shape` tensor of values `f(generator)` drawn in order from this thread's generator.
fn draw<const D: usize>(
    shape: [usize; D],
    device: &Device,
    mut f: impl FnMut(&mut Xoshiro) -> f64,
) -> Tensor<D> {
    let n = shape.iter().product();
    let v: Vec<f32> = RNG.with(|r| {
        let mut g = r.borrow_mut();
        (0..n).map(|_| f(&mut g) as f32).collect()
    });
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// A tensor of `U(low, high)` values (as PyTorch's `uniform_`: `low + (high - low)·u`).
///
/// # Shapes
/// - returns `shape`
pub fn uniform<const D: usize>(
    shape: [usize; D],
    low: f64,
    high: f64,
    device: &Device,
) -> Tensor<D> {
    draw(shape, device, |g| low + (high - low) * g.unit())
}

/// A tensor of `N(mean, std²)` values (Box–Muller on two uniforms per value).
///
/// # Shapes
/// - returns `shape`
pub fn normal<const D: usize>(
    shape: [usize; D],
    mean: f64,
    std: f64,
    device: &Device,
) -> Tensor<D> {
    draw(shape, device, |g| {
        let u1 = 1.0 - g.unit(); // (0, 1]
        let u2 = g.unit();
        mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    })
}

/// A `Conv2d` of `config` with PyTorch's default init (`U(-1/√fan_in, 1/√fan_in)` for weight
/// and bias, as burn's default Kaiming-uniform) drawn from the host generator; `config`'s
/// initializer is ignored.
pub fn conv2d(config: &Conv2dConfig, device: &Device) -> Conv2d {
    let mut conv = config
        .clone()
        .with_initializer(Initializer::Zeros)
        .init(device);
    let [c_in, c_out] = config.channels;
    let [kh, kw] = config.kernel_size;
    let per_group = c_in / config.groups;
    let bound = 1.0 / ((per_group * kh * kw) as f64).sqrt();
    conv.weight = Param::from_tensor(uniform([c_out, per_group, kh, kw], -bound, bound, device));
    conv.bias = conv
        .bias
        .map(|_| Param::from_tensor(uniform([c_out], -bound, bound, device)));
    conv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn seeded_draws_repeat_and_ignore_the_device_generator() {
        let dev = Device::default();
        seed(7);
        dev.seed(1);
        let a = values(uniform([3, 5], -0.5, 0.5, &dev));
        seed(7);
        dev.seed(2);
        let b = values(uniform([3, 5], -0.5, 0.5, &dev));
        assert_eq!(a, b);
        seed(8);
        assert_ne!(a, values(uniform([3, 5], -0.5, 0.5, &dev)));
    }

    #[test]
    fn moments_and_bounds() {
        let dev = Device::default();
        seed(3);
        let u = values(uniform([100, 100], -2.0, 1.0, &dev));
        assert!(u.iter().all(|&x| (-2.0..1.0).contains(&x)));
        let mean = u.iter().map(|&x| x as f64).sum::<f64>() / 1e4;
        assert!((mean + 0.5).abs() < 0.03, "uniform mean {mean}");
        let z = values(normal([100, 100], 1.0, 0.5, &dev));
        let m = z.iter().map(|&x| x as f64).sum::<f64>() / 1e4;
        let var = z.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / 1e4;
        assert!((m - 1.0).abs() < 0.02, "normal mean {m}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "normal std {}", var.sqrt());
    }

    #[test]
    fn first_values_of_a_seed_are_fixed() {
        // the stream is part of the seed's meaning: a change of generator shows up here
        let mut g = Xoshiro::new(0);
        let first: Vec<u64> = (0..2).map(|_| g.next()).collect();
        // xoshiro256** from SplitMix64(0), checked against an independent Python implementation
        assert_eq!(first, vec![0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A]);
    }
}
