//! Compute devices. `cpu` (burn's `flex` backend) is always available; a GPU backend (burn's
//! `wgpu`, which needs no CUDA toolkit at build time) only in builds with the `gpu` feature.

use burn::tensor::Device as BurnDevice;

use crate::error::{MvadError, Result};

/// Where the model runs, for callers that hold a parsed setting. [`crate::MvadParams`] keeps
/// the device as its `device` string (the form model files store); [`Device::name`] is that
/// string and [`crate::MvadParams::with_device`] sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The CPU (always available).
    Cpu,
    /// A GPU (needs the `gpu` cargo feature of sonar-mvad).
    Gpu,
}

impl Device {
    /// The `device` string of the parameters: `cpu`, or `cuda` for the GPU.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "cuda",
        }
    }
}

/// The burn device for a `device` setting: `cpu`, or `gpu` (also accepted: `cuda`, `wgpu`).
pub fn compute_device(name: &str) -> Result<BurnDevice> {
    match name {
        "cpu" => Ok(BurnDevice::flex()),
        "gpu" | "cuda" | "wgpu" => gpu(name),
        other => Err(MvadError::Device(
            other.to_string(),
            "unknown device: use `cpu`, or `gpu` in a build with the `gpu` feature".into(),
        )),
    }
}

#[cfg(feature = "gpu")]
fn gpu(_name: &str) -> Result<BurnDevice> {
    Ok(BurnDevice::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "gpu"))]
fn gpu(name: &str) -> Result<BurnDevice> {
    Err(MvadError::Device(
        name.to_string(),
        "this build has no GPU backend; rebuild with `--features sonar-mvad/gpu` (burn's wgpu backend), or set `device: cpu`".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_devices_name_what_compute_device_accepts() {
        assert_eq!(Device::Cpu.name(), "cpu");
        assert_eq!(Device::Gpu.name(), "cuda");
        assert!(compute_device(Device::Cpu.name()).is_ok());
    }

    #[test]
    fn cpu_always_works_and_others_are_explained() {
        assert!(compute_device("cpu").is_ok());
        let e = compute_device("tpu").expect_err("unknown").to_string();
        assert!(e.contains("unknown device"), "{e}");
        #[cfg(not(feature = "gpu"))]
        {
            let e = compute_device("cuda")
                .expect_err("no gpu feature")
                .to_string();
            assert!(e.contains("--features sonar-mvad/gpu"), "{e}");
        }
    }
}
