//! The network's parameters as named host tensors, under the reference's (torch) state-dict
//! names and layouts, so that weights move freely between safetensors files, the reference
//! library's exports and the burn network.

use std::collections::BTreeMap;
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{MvadError, Result};

/// Length of the time axis after pooling (`gat_window_size`).
pub const GAT_WINDOW: usize = 100;
/// GRU hidden size and every head's width (`hidden_size`, `z_dim`, `enc_dim`, `dec_dim`).
pub const HIDDEN: usize = 100;
/// Length of the fixed moving average (`cnn_kernel_size`).
pub const KERNEL: usize = 7;

/// One float tensor: its shape and row-major data.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl HostTensor {
    fn filled(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![value; shape.iter().product()],
        }
    }
}

/// The BatchNorm layers, by state-dict prefix.
pub const BATCH_NORMS: [&str; 5] = [
    "fc_layers.1",
    "vae.Encoder.1",
    "vae.Encoder.4",
    "vae.Decoder.1",
    "vae.Decoder.4",
];

/// Linear layers: (state-dict prefix, input width, output width) for `k` variables.
pub fn linear_layers(k: usize) -> [(&'static str, usize, usize); 10] {
    [
        ("fc_layers.2", HIDDEN, HIDDEN),
        ("fc_layers.4", HIDDEN, HIDDEN),
        ("fc_layers.6", HIDDEN, k),
        ("vae.Encoder.0", HIDDEN, HIDDEN),
        ("vae.Encoder.3", HIDDEN, HIDDEN),
        ("vae.linear_mu", HIDDEN, HIDDEN),
        ("vae.linear_logv", HIDDEN, HIDDEN),
        ("vae.Decoder.0", HIDDEN, HIDDEN),
        ("vae.Decoder.3", HIDDEN, HIDDEN),
        ("vae.linear_recon", HIDDEN, k),
    ]
}

/// Every float tensor of the network with its torch name and shape, for `k` variables.
pub fn expected_shapes(k: usize) -> BTreeMap<String, Vec<usize>> {
    let mut m = BTreeMap::new();
    m.insert("moving_avg_weight".to_string(), vec![1, 1, KERNEL]);
    m.insert("time_gat.weight_key".to_string(), vec![k, 1]);
    m.insert("time_gat.weight_query".to_string(), vec![k, 1]);
    m.insert("feat_gat.weight_key".to_string(), vec![GAT_WINDOW, 1]);
    m.insert("feat_gat.weight_query".to_string(), vec![GAT_WINDOW, 1]);
    m.insert("gru.weight_ih_l0".to_string(), vec![3 * HIDDEN, 3 * k]);
    m.insert("gru.weight_hh_l0".to_string(), vec![3 * HIDDEN, HIDDEN]);
    m.insert("gru.bias_ih_l0".to_string(), vec![3 * HIDDEN]);
    m.insert("gru.bias_hh_l0".to_string(), vec![3 * HIDDEN]);
    for bn in BATCH_NORMS {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            m.insert(format!("{bn}.{p}"), vec![HIDDEN]);
        }
    }
    for (name, fan_in, out) in linear_layers(k) {
        m.insert(format!("{name}.weight"), vec![out, fan_in]);
        m.insert(format!("{name}.bias"), vec![out]);
    }
    m.insert("vae.eps".to_string(), vec![HIDDEN]);
    m
}

/// Trainable parameter count for `k` variables (the reference's `112,600 + 1,104·k`).
pub fn trainable_parameter_count(k: usize) -> usize {
    expected_shapes(k)
        .iter()
        .filter(|(name, _)| {
            !(name.ends_with("running_mean")
                || name.ends_with("running_var")
                || name.as_str() == "vae.eps"
                || name.as_str() == "moving_avg_weight")
        })
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum()
}

/// All tensors of a network, by torch state-dict name, plus BatchNorm step counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// Number of variables the network was built for.
    pub k: usize,
    /// Float tensors by name.
    pub tensors: BTreeMap<String, HostTensor>,
    /// `<bn>.num_batches_tracked` counters (int64 in torch).
    pub batches_tracked: BTreeMap<String, i64>,
}

impl Weights {
    /// Fresh weights with PyTorch's default initialisation distributions, drawn from `rng`.
    pub fn init(k: usize, rng: &mut ChaCha8Rng) -> Self {
        let shapes = expected_shapes(k);
        let mut tensors = BTreeMap::new();
        let uniform = |shape: &[usize], bound: f64, rng: &mut ChaCha8Rng| HostTensor {
            shape: shape.to_vec(),
            data: (0..shape.iter().product::<usize>())
                .map(|_| rng.gen_range(-bound..bound) as f32)
                .collect(),
        };
        for (name, shape) in &shapes {
            let t = if name == "moving_avg_weight" {
                HostTensor::filled(shape, 1.0 / KERNEL as f32)
            } else if name.contains("_gat.weight_") {
                // xavier_uniform with gain 1.414 on an [F, 1] tensor: fan_in 1, fan_out F.
                uniform(shape, 1.414 * (6.0 / (shape[0] + 1) as f64).sqrt(), rng)
            } else if name.starts_with("gru.") {
                uniform(shape, 1.0 / (HIDDEN as f64).sqrt(), rng)
            } else if BATCH_NORMS.iter().any(|bn| name.starts_with(bn)) {
                let one = name.ends_with(".weight") || name.ends_with("running_var");
                HostTensor::filled(shape, if one { 1.0 } else { 0.0 })
            } else if name == "vae.eps" {
                HostTensor {
                    shape: shape.clone(),
                    data: (0..shape[0]).map(|_| standard_normal(rng)).collect(),
                }
            } else {
                // Linear layers: U(±1/sqrt(fan_in)) for weight and bias.
                let prefix = name.rsplit_once('.').map(|(p, _)| p).unwrap_or(name);
                let fan_in = shapes[&format!("{prefix}.weight")][1];
                uniform(shape, 1.0 / (fan_in as f64).sqrt(), rng)
            };
            tensors.insert(name.clone(), t);
        }
        let batches_tracked = BATCH_NORMS
            .iter()
            .map(|bn| (format!("{bn}.num_batches_tracked"), 0))
            .collect();
        Self {
            k,
            tensors,
            batches_tracked,
        }
    }

    /// The tensor called `name` (every name of [`expected_shapes`] is present: checked when
    /// weights are built or loaded).
    pub fn get(&self, name: &str) -> &HostTensor {
        &self.tensors[name]
    }

    /// Serialises to safetensors bytes (torch names and layouts, float32; counters int64).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let counters: Vec<(String, [u8; 8])> = self
            .batches_tracked
            .iter()
            .map(|(n, v)| (n.clone(), v.to_le_bytes()))
            .collect();
        let floats: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (n.clone(), bytes, t.shape.clone())
            })
            .collect();
        let mut views = Vec::new();
        for (name, bytes, shape) in &floats {
            views.push((name.clone(), view(Dtype::F32, shape.clone(), bytes)?));
        }
        for (name, bytes) in &counters {
            views.push((name.clone(), view(Dtype::I64, vec![], bytes)?));
        }
        safetensors::serialize(views, &None).map_err(|e| MvadError::ModelFile {
            path: Default::default(),
            problem: format!("cannot serialise weights: {e}"),
        })
    }

    /// Parses safetensors bytes holding a network for `k` variables. Every expected tensor
    /// must be present with its exact shape; `path` is only used in error messages.
    pub fn from_safetensors(bytes: &[u8], k: usize, path: &Path) -> Result<Self> {
        let bad = |problem: String| MvadError::ModelFile {
            path: path.to_path_buf(),
            problem,
        };
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
        let mut tensors = BTreeMap::new();
        for (name, shape) in expected_shapes(k) {
            let t = st
                .tensor(&name)
                .map_err(|_| bad(format!("tensor `{name}` is missing")))?;
            if t.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?} for {k} variables",
                    t.shape()
                )));
            }
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor `{name}` is {:?}, expected F32",
                    t.dtype()
                )));
            }
            let data: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "tensor `{name}` holds a non-finite value at {i}"
                )));
            }
            tensors.insert(name, HostTensor { shape, data });
        }
        let mut batches_tracked = BTreeMap::new();
        for bn in BATCH_NORMS {
            let name = format!("{bn}.num_batches_tracked");
            // Optional: only informative (how many training steps the layer saw).
            if let Ok(t) = st.tensor(&name) {
                if t.dtype() == Dtype::I64 && t.data().len() == 8 {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(t.data());
                    batches_tracked.insert(name, i64::from_le_bytes(b));
                }
            }
        }
        Ok(Self {
            k,
            tensors,
            batches_tracked,
        })
    }
}

fn view(dtype: Dtype, shape: Vec<usize>, bytes: &[u8]) -> Result<TensorView<'_>> {
    TensorView::new(dtype, shape, bytes).map_err(|e| MvadError::ModelFile {
        path: Default::default(),
        problem: format!("cannot serialise weights: {e}"),
    })
}

/// A standard normal draw (Box–Muller), for the VAE's noise.
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parameter_count_matches_the_reference() {
        for k in [1, 3, 10, 20, 40] {
            assert_eq!(trainable_parameter_count(k), 112_600 + 1_104 * k, "k={k}");
        }
    }

    #[test]
    fn safetensors_round_trip_and_refuse_damage() {
        let w = Weights::init(3, &mut ChaCha8Rng::seed_from_u64(1));
        let bytes = w.to_safetensors().expect("serialise");
        let back = Weights::from_safetensors(&bytes, 3, Path::new("m")).expect("parse");
        assert_eq!(back, w);
        let err = Weights::from_safetensors(&bytes[..bytes.len() / 2], 3, Path::new("m"))
            .expect_err("truncated");
        assert!(err.to_string().contains("not a valid safetensors"), "{err}");
        let err = Weights::from_safetensors(&bytes, 4, Path::new("m")).expect_err("wrong k");
        assert!(
            err.to_string().contains("expected [4, 1]") || err.to_string().contains("shape"),
            "{err}"
        );
    }
}
