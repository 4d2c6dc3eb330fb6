//! Compute devices. `cpu` (burn's `flex` backend) is always available; a GPU backend (burn's
//! `wgpu`, which needs no CUDA toolkit at build time) only in builds with the `gpu` feature.

use burn::tensor::Device;

use crate::error::{MvadError, Result};

/// The burn device for a `device` setting: `cpu`, or `gpu` (also accepted: `cuda`, `wgpu`).
pub fn compute_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::flex()),
        "gpu" | "cuda" | "wgpu" => gpu(name),
        other => Err(MvadError::Device(
            other.to_string(),
            "unknown device: use `cpu`, or `gpu` in a build with the `gpu` feature".into(),
        )),
    }
}

#[cfg(feature = "gpu")]
fn gpu(_name: &str) -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "gpu"))]
fn gpu(name: &str) -> Result<Device> {
    Err(MvadError::Device(
        name.to_string(),
        "this build has no GPU backend; rebuild with `--features sonar-mvad/gpu` (burn's wgpu backend), or set `device: cpu`".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
