//! Device choice: every device is constructed directly (no process-wide `BURN_DEVICE`), and a
//! GPU backend takes the best adapter present — discrete, else integrated, else virtual, else
//! the software (CPU) Vulkan device.

use anyhow::{bail, Result};
use burn::tensor::Device;

/// The backends this binary can have, in the order a default is picked.
pub const BACKENDS: [&str; 4] = ["flex", "wgpu", "vulkan", "cuda"];

/// Whether this build has backend `name`.
pub fn compiled(name: &str) -> bool {
    match name {
        "flex" => cfg!(feature = "flex"),
        "wgpu" => cfg!(feature = "wgpu"),
        "vulkan" => cfg!(feature = "vulkan"),
        "cuda" => cfg!(feature = "cuda"),
        _ => false,
    }
}

/// The backends of this build.
pub fn compiled_backends() -> Vec<&'static str> {
    BACKENDS.into_iter().filter(|b| compiled(b)).collect()
}

/// A chosen device and what it is.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// The device (without autodiff).
    pub device: Device,
    /// `flex`, `wgpu`, `vulkan` or `cuda`.
    pub backend: &'static str,
    /// The adapter, as its driver names it (`llvmpipe (LLVM …)`, `NVIDIA H200`), or the CPU.
    pub adapter: String,
}

/// The CPU's model name (`/proc/cpuinfo`).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[cfg(feature = "flex")]
fn cpu_name() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{} ({n} threads)", cpu_model())
}

/// Canonical backend name of a `--device` value (`cpu` is flex).
fn canonical(name: &str) -> Result<&'static str> {
    Ok(match name {
        "flex" | "cpu" => "flex",
        "wgpu" => "wgpu",
        "vulkan" => "vulkan",
        "cuda" => "cuda",
        other => bail!(
            "unknown device {other:?}: one of flex (or cpu), wgpu, vulkan, cuda; this build has {}",
            compiled_backends().join(", ")
        ),
    })
}

/// The device named by `--device` (or `BURN_DEVICE`, else the first backend of this build).
pub fn choose(name: Option<&str>) -> Result<Chosen> {
    let env = std::env::var("BURN_DEVICE").ok().filter(|s| !s.is_empty());
    let backend = match name.or(env.as_deref()) {
        Some(n) => canonical(n)?,
        None => match compiled_backends().first() {
            Some(b) => b,
            None => bail!(
                "this build has no backend (build with --features flex, wgpu, vulkan or cuda)"
            ),
        },
    };
    if !compiled(backend) {
        bail!(
            "this build has no {backend} backend (it has {}); rebuild with \
             `--no-default-features --features {backend}`",
            compiled_backends().join(", ")
        );
    }
    let (device, adapter) = open(backend, 0, false)?;
    Ok(Chosen {
        device,
        backend,
        adapter,
    })
}

/// Worker devices for `--devices n` on the chosen backend: the first `n` discrete adapters on a
/// GPU backend (CUDA: devices 0..n), none on the CPU backend (its workers share the one device).
pub fn workers(chosen: &Chosen, n: usize) -> Result<Vec<Device>> {
    if n == 0 {
        bail!("--devices must be at least 1");
    }
    if chosen.backend == "flex" {
        return Ok(vec![]);
    }
    if n == 1 {
        return Ok(vec![chosen.device.clone()]);
    }
    (0..n)
        .map(|i| open(chosen.backend, i, true).map(|(d, _)| d))
        .collect()
}

/// Open `backend`'s device `index`; `discrete_only`: only discrete adapters (data parallelism).
#[allow(unused_variables)]
fn open(backend: &str, index: usize, discrete_only: bool) -> Result<(Device, String)> {
    match backend {
        #[cfg(feature = "flex")]
        "flex" => Ok((Device::flex(), format!("CPU: {}", cpu_name()))),
        #[cfg(feature = "wgpu")]
        "wgpu" | "vulkan" => gpu::open_wgpu(backend, index, discrete_only),
        #[cfg(feature = "cuda")]
        "cuda" => {
            let n = Device::enumerate(burn::tensor::DeviceType::Cuda).len();
            if index >= n {
                bail!("--device cuda: device {index} asked for, {n} CUDA device(s) found");
            }
            let d = Device::cuda(index);
            let name = gpu::identity(&d).unwrap_or_else(|| format!("CUDA device {index}"));
            Ok((d, name))
        }
        _ => bail!("this build has no {backend} backend"),
    }
}

/// Adapters of each GPU backend of this build, as `(backend, kind, name)` (`doctor`).
pub fn adapters() -> Vec<(String, String, String)> {
    #[allow(unused_mut)]
    let mut out = vec![];
    #[cfg(feature = "wgpu")]
    for backend in ["wgpu", "vulkan"].into_iter().filter(|b| compiled(b)) {
        for (kind, d) in gpu::listed(backend) {
            let name = gpu::identity(&d).unwrap_or_else(|| "(no name reported)".into());
            out.push((backend.to_string(), format!("{kind:?}"), name));
        }
    }
    #[cfg(feature = "cuda")]
    for (i, d) in Device::enumerate(burn::tensor::DeviceType::Cuda)
        .iter()
        .enumerate()
    {
        let name = gpu::identity(d).unwrap_or_else(|| "(no name reported)".into());
        out.push(("cuda".into(), format!("device {i}"), name));
    }
    out
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu {
    use anyhow::{bail, Result};
    use burn::tensor::Device;
    #[cfg(feature = "wgpu")]
    use burn::tensor::{DeviceKind, DeviceType};

    /// The adapter's own name (opens the device).
    pub fn identity(d: &Device) -> Option<String> {
        d.identity().map(|i| i.name)
    }

    /// Kinds in order of preference.
    #[cfg(feature = "wgpu")]
    fn kinds(index: usize) -> [DeviceKind; 4] {
        [
            DeviceKind::DiscreteGpu(index),
            DeviceKind::IntegratedGpu(index),
            DeviceKind::VirtualGpu(index),
            DeviceKind::Cpu,
        ]
    }

    #[cfg(feature = "wgpu")]
    fn make(backend: &str, kind: DeviceKind) -> Device {
        match backend {
            #[cfg(feature = "vulkan")]
            "vulkan" => Device::vulkan(kind),
            _ => Device::wgpu(kind),
        }
    }

    #[cfg(feature = "wgpu")]
    fn enumerate(backend: &str) -> Vec<Device> {
        match backend {
            #[cfg(feature = "vulkan")]
            "vulkan" => Device::enumerate(DeviceType::Vulkan).to_vec(),
            _ => Device::enumerate(DeviceType::Wgpu).to_vec(),
        }
    }

    /// Every adapter `backend` reaches, with its kind (each kind's indices 0, 1, …).
    #[cfg(feature = "wgpu")]
    pub fn listed(backend: &str) -> Vec<(DeviceKind, Device)> {
        let present = enumerate(backend);
        let mut out = vec![];
        for i in 0..present.len() {
            for kind in kinds(i) {
                if kind == DeviceKind::Cpu && i > 0 {
                    continue;
                }
                let d = make(backend, kind.clone());
                if present.contains(&d) {
                    out.push((kind, d));
                }
            }
        }
        out
    }

    /// The best adapter (`index`-th of its kind), or the `index`-th discrete one.
    #[cfg(feature = "wgpu")]
    pub fn open_wgpu(backend: &str, index: usize, discrete_only: bool) -> Result<(Device, String)> {
        let present = enumerate(backend);
        if discrete_only {
            let d = make(backend, DeviceKind::DiscreteGpu(index));
            if !present.contains(&d) {
                let n = listed(backend)
                    .iter()
                    .filter(|(k, _)| matches!(k, DeviceKind::DiscreteGpu(_)))
                    .count();
                bail!(
                    "--devices: discrete GPU {index} asked for on {backend}, {n} discrete \
                     adapter(s) found (`cargo xtask doctor` lists them)"
                );
            }
            let name = identity(&d).unwrap_or_else(|| format!("discrete GPU {index}"));
            return Ok((d, name));
        }
        for kind in kinds(index) {
            let d = make(backend, kind.clone());
            if present.contains(&d) {
                let name = identity(&d).unwrap_or_else(|| format!("{kind:?}"));
                return Ok((d, format!("{name} ({kind:?})")));
            }
        }
        bail!(
            "--device {backend}: no adapter found (no GPU driver and no software Vulkan device; \
             on Debian `apt-get install mesa-vulkan-drivers libvulkan1` gives the software one)"
        )
    }
}
