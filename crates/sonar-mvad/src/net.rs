//! The network (`MultivariateGraphAttnDetector` of the reference; docs/mvad.md) in
//! burn: fixed 7-point moving average, adaptive max-pool to 100 steps, time- and
//! feature-oriented graph attention without projection, a GRU (3k → 100), a forecast head and
//! a VAE head. Weights are loaded from and exported to [`Weights`] under torch's names.

use burn::module::{Module, Param, RunningState};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::{leaky_relu, relu, sigmoid, softmax};
use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};

use crate::fused_gru::{GruGrads, GruParams};

use crate::weights::{HostTensor, Weights, BATCH_NORMS, GAT_WINDOW, HIDDEN, KERNEL};

const LEAKY_SLOPE: f64 = 0.2;
const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

fn tensor1(t: &HostTensor, device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(t.data.clone(), [t.data.len()]), device)
}

/// A `[rows, cols]` tensor from host data; `transpose` turns torch's `[out, in]` into `[in, out]`.
fn tensor2(t: &HostTensor, transpose: bool, device: &Device) -> Tensor<2> {
    let (rows, cols) = (t.shape[0], t.shape.get(1).copied().unwrap_or(1));
    let x = Tensor::<2>::from_data(TensorData::new(t.data.clone(), [rows, cols]), device);
    if transpose {
        x.transpose()
    } else {
        x
    }
}

fn host<const D: usize>(t: Tensor<D>, shape: Vec<usize>) -> HostTensor {
    let data = t
        .into_data()
        .try_into_vec::<f32>()
        .expect("network tensors are float32");
    HostTensor { shape, data }
}

/// Graph attention without projection: `e_ij = LeakyReLU(V_i·a_key + V_j·a_query)`,
/// `A = softmax_j(e)`, output `A·V`.
#[derive(Module, Debug)]
pub struct GraphAttention {
    key: Param<Tensor<2>>,   // [F, 1]
    query: Param<Tensor<2>>, // [F, 1]
}

impl GraphAttention {
    /// `v`: nodes `[B, n, F]`; `dropout`: an optional mask `[B, n, n]` already scaled by
    /// 1/(1−p). Returns the output `[B, n, F]` and the attention before dropout `[B, n, n]`.
    pub fn forward(&self, v: Tensor<3>, dropout: Option<Tensor<3>>) -> (Tensor<3>, Tensor<3>) {
        let key = v.clone().matmul(self.key.val().unsqueeze::<3>()); // [B, n, 1]
        let query = v.clone().matmul(self.query.val().unsqueeze::<3>()); // [B, n, 1]
        let e = leaky_relu(key + query.swap_dims(1, 2), LEAKY_SLOPE); // [B, n, n]
        let attn = softmax(e, 2); // [B, n, n]
        let used = match dropout {
            Some(mask) => attn.clone() * mask,
            None => attn.clone(),
        };
        (used.matmul(v), attn) // [B, n, F], [B, n, n]
    }
}

/// A one-layer GRU with torch's equations and gate order (r, z, n), `h₀ = 0`.
#[derive(Module, Debug)]
pub struct Gru {
    w_ih: Param<Tensor<2>>, // [3k, 3H]
    w_hh: Param<Tensor<2>>, // [H, 3H]
    b_ih: Param<Tensor<1>>, // [3H]
    b_hh: Param<Tensor<1>>, // [3H]
}

impl Gru {
    /// `x`: `[B, T, In]` → final hidden state `[B, H]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [b, t, input] = x.dims();
        let w_hh = self.w_hh.val();
        let b_hh = self.b_hh.val().unsqueeze::<2>(); // [1, 3H]
        let b_ih = self.b_ih.val().unsqueeze::<2>(); // [1, 3H]
        let mut h = Tensor::<2>::zeros([b, HIDDEN], &x.device()); // [B, H]

        // Without autodiff, project every step's input in one matmul. Under autodiff, slicing
        // that product per step would materialise a full-size gradient per slice, so the
        // projection is done step by step instead (training on the CPU uses
        // `crate::fused_gru`, which has neither cost).
        let projected = (!x.device().is_autodiff()).then(|| {
            x.clone()
                .reshape([b * t, input])
                .matmul(self.w_ih.val())
                .reshape([b, t, 3 * HIDDEN]) // [B, T, 3H]
        });
        for s in 0..t {
            let gi = match &projected {
                Some(p) => p.clone().narrow(1, s, 1).reshape([b, 3 * HIDDEN]),
                None => {
                    let xs = x.clone().narrow(1, s, 1).reshape([b, input]); // [B, In]
                    xs.matmul(self.w_ih.val())
                }
            } + b_ih.clone(); // [B, 3H]
            let gh = h.clone().matmul(w_hh.clone()) + b_hh.clone(); // [B, 3H]

            // r and z in one sigmoid over the first 2H gates.
            let rz =
                sigmoid(gi.clone().narrow(1, 0, 2 * HIDDEN) + gh.clone().narrow(1, 0, 2 * HIDDEN)); // [B, 2H]
            let r = rz.clone().narrow(1, 0, HIDDEN);
            let z = rz.narrow(1, HIDDEN, HIDDEN);
            let n =
                (gi.narrow(1, 2 * HIDDEN, HIDDEN) + r * gh.narrow(1, 2 * HIDDEN, HIDDEN)).tanh();
            h = n.clone() + z * (h - n); // (1 − z)·n + z·h, [B, H]
        }
        h
    }
}

/// BatchNorm1d with torch's semantics: batch statistics in training (running variance
/// updated with the unbiased batch variance), running statistics otherwise.
#[derive(Module, Debug)]
pub struct TorchBatchNorm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
    running_mean: RunningState<Tensor<1>>,
    running_var: RunningState<Tensor<1>>,
}

impl TorchBatchNorm {
    /// `x`: `[B, C]`. Training mode is an autodiff device (the training loop's).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        if x.device().is_autodiff() {
            let n = x.dims()[0] as f64;
            let out = burn::tensor::module::batch_norm_train(
                x,
                self.gamma.val(),
                self.beta.val(),
                BN_EPS,
            );
            let unbiased = out.variance.mul_scalar(n / (n - 1.0).max(1.0));
            let mean = self
                .running_mean
                .value_sync()
                .mul_scalar(1.0 - BN_MOMENTUM)
                .add(out.mean.mul_scalar(BN_MOMENTUM));
            let var = self
                .running_var
                .value_sync()
                .mul_scalar(1.0 - BN_MOMENTUM)
                .add(unbiased.mul_scalar(BN_MOMENTUM));
            self.running_mean.update(mean.detach());
            self.running_var.update(var.detach());
            out.output
        } else {
            burn::tensor::module::batch_norm(
                x,
                self.gamma.val(),
                self.beta.val(),
                self.running_mean.value(),
                self.running_var.value(),
                BN_EPS,
            )
        }
    }
}

/// Random draws for one training batch, made on the host so training is reproducible.
#[derive(Debug)]
pub struct TrainNoise {
    /// Dropout mask of the time attention `[B, 100, 100]` (0 or 2).
    pub time_mask: Tensor<3>,
    /// Dropout mask of the feature attention `[B, k, k]` (0 or 2).
    pub feat_mask: Tensor<3>,
    /// The VAE's ε `[B, 100]`.
    pub vae_eps: Tensor<2>,
}

/// What one forward pass returns.
#[derive(Debug)]
pub struct NetOutput {
    /// Forecast of the row after each window, in (0, 1): `[B, k]`.
    pub x_pred: Tensor<2>,
    /// VAE reconstruction of that row: `[B, k]`.
    pub x_recon: Tensor<2>,
    /// VAE mean `[B, 100]`.
    pub mu: Tensor<2>,
    /// VAE log-variance `[B, 100]`.
    pub logv: Tensor<2>,
    /// Feature attention (before dropout) `[B, k, k]`.
    pub feat_attn: Tensor<3>,
}

/// The GRU's input and what the heads need besides its output ([`MvadNet::encode`]).
#[derive(Debug)]
pub struct Encoded {
    /// The GRU's input sequence `[B, T, 3k]`.
    pub seq: Tensor<3>,
    /// Feature attention (before dropout) `[B, k, k]`.
    pub feat_attn: Tensor<3>,
    /// The VAE's ε `[B, H]`.
    pub eps: Tensor<2>,
}

/// The MVAD network.
#[derive(Module, Debug)]
pub struct MvadNet {
    time_gat: GraphAttention,
    feat_gat: GraphAttention,
    gru: Gru,
    fc_bn: TorchBatchNorm,
    fc: Vec<Linear>,
    enc_bn: Vec<TorchBatchNorm>,
    enc: Vec<Linear>,
    mu: Linear,
    logv: Linear,
    dec_bn: Vec<TorchBatchNorm>,
    dec: Vec<Linear>,
    recon: Linear,
    vae_eps: Param<Tensor<1>>,
    k: usize,
    kernel: Vec<f32>,
}

impl MvadNet {
    /// Builds the network on `device` from host weights (torch layouts).
    pub fn from_weights(w: &Weights, device: &Device) -> Self {
        let gat = |prefix: &str| GraphAttention {
            key: Param::from_tensor(tensor2(
                w.get(&format!("{prefix}.weight_key")),
                false,
                device,
            )),
            query: Param::from_tensor(tensor2(
                w.get(&format!("{prefix}.weight_query")),
                false,
                device,
            )),
        };
        let linear = |prefix: &str| {
            let weight = w.get(&format!("{prefix}.weight"));
            let mut l = LinearConfig::new(weight.shape[1], weight.shape[0]).init(device);
            l.weight = Param::from_tensor(tensor2(weight, true, device));
            l.bias = Some(Param::from_tensor(tensor1(
                w.get(&format!("{prefix}.bias")),
                device,
            )));
            l
        };
        let bn = |prefix: &str| TorchBatchNorm {
            gamma: Param::from_tensor(tensor1(w.get(&format!("{prefix}.weight")), device)),
            beta: Param::from_tensor(tensor1(w.get(&format!("{prefix}.bias")), device)),
            running_mean: RunningState::new(tensor1(
                w.get(&format!("{prefix}.running_mean")),
                device,
            )),
            running_var: RunningState::new(tensor1(
                w.get(&format!("{prefix}.running_var")),
                device,
            )),
        };
        let eps = Param::from_tensor(tensor1(w.get("vae.eps"), device)).set_require_grad(false);
        Self {
            time_gat: gat("time_gat"),
            feat_gat: gat("feat_gat"),
            gru: Gru {
                w_ih: Param::from_tensor(tensor2(w.get("gru.weight_ih_l0"), true, device)),
                w_hh: Param::from_tensor(tensor2(w.get("gru.weight_hh_l0"), true, device)),
                b_ih: Param::from_tensor(tensor1(w.get("gru.bias_ih_l0"), device)),
                b_hh: Param::from_tensor(tensor1(w.get("gru.bias_hh_l0"), device)),
            },
            fc_bn: bn("fc_layers.1"),
            fc: vec![
                linear("fc_layers.2"),
                linear("fc_layers.4"),
                linear("fc_layers.6"),
            ],
            enc_bn: vec![bn("vae.Encoder.1"), bn("vae.Encoder.4")],
            enc: vec![linear("vae.Encoder.0"), linear("vae.Encoder.3")],
            mu: linear("vae.linear_mu"),
            logv: linear("vae.linear_logv"),
            dec_bn: vec![bn("vae.Decoder.1"), bn("vae.Decoder.4")],
            dec: vec![linear("vae.Decoder.0"), linear("vae.Decoder.3")],
            recon: linear("vae.linear_recon"),
            vae_eps: eps,
            k: w.k,
            kernel: w.get("moving_avg_weight").data.clone(),
        }
    }

    /// Exports the current weights (torch names and layouts); `batches_tracked` is carried
    /// over from the caller's bookkeeping.
    pub fn to_weights(&self, batches_tracked: &std::collections::BTreeMap<String, i64>) -> Weights {
        let k = self.k;
        let mut tensors = std::collections::BTreeMap::new();
        let mut put = |name: String, t: HostTensor| {
            tensors.insert(name, t);
        };
        put(
            "moving_avg_weight".into(),
            HostTensor {
                shape: vec![1, 1, KERNEL],
                data: self.kernel.clone(),
            },
        );
        for (prefix, g, f) in [
            ("time_gat", &self.time_gat, k),
            ("feat_gat", &self.feat_gat, GAT_WINDOW),
        ] {
            put(
                format!("{prefix}.weight_key"),
                host(g.key.val(), vec![f, 1]),
            );
            put(
                format!("{prefix}.weight_query"),
                host(g.query.val(), vec![f, 1]),
            );
        }
        put(
            "gru.weight_ih_l0".into(),
            host(self.gru.w_ih.val().transpose(), vec![3 * HIDDEN, 3 * k]),
        );
        put(
            "gru.weight_hh_l0".into(),
            host(self.gru.w_hh.val().transpose(), vec![3 * HIDDEN, HIDDEN]),
        );
        put(
            "gru.bias_ih_l0".into(),
            host(self.gru.b_ih.val(), vec![3 * HIDDEN]),
        );
        put(
            "gru.bias_hh_l0".into(),
            host(self.gru.b_hh.val(), vec![3 * HIDDEN]),
        );
        let bns = [
            &self.fc_bn,
            &self.enc_bn[0],
            &self.enc_bn[1],
            &self.dec_bn[0],
            &self.dec_bn[1],
        ];
        for (prefix, bn) in BATCH_NORMS.iter().zip(bns) {
            put(
                format!("{prefix}.weight"),
                host(bn.gamma.val(), vec![HIDDEN]),
            );
            put(format!("{prefix}.bias"), host(bn.beta.val(), vec![HIDDEN]));
            put(
                format!("{prefix}.running_mean"),
                host(bn.running_mean.value(), vec![HIDDEN]),
            );
            put(
                format!("{prefix}.running_var"),
                host(bn.running_var.value(), vec![HIDDEN]),
            );
        }
        let linears = [
            ("fc_layers.2", &self.fc[0]),
            ("fc_layers.4", &self.fc[1]),
            ("fc_layers.6", &self.fc[2]),
            ("vae.Encoder.0", &self.enc[0]),
            ("vae.Encoder.3", &self.enc[1]),
            ("vae.linear_mu", &self.mu),
            ("vae.linear_logv", &self.logv),
            ("vae.Decoder.0", &self.dec[0]),
            ("vae.Decoder.3", &self.dec[1]),
            ("vae.linear_recon", &self.recon),
        ];
        for (prefix, l) in linears {
            let [fan_in, out] = l.weight.val().dims();
            put(
                format!("{prefix}.weight"),
                host(l.weight.val().transpose(), vec![out, fan_in]),
            );
            if let Some(b) = &l.bias {
                put(format!("{prefix}.bias"), host(b.val(), vec![out]));
            }
        }
        put("vae.eps".into(), host(self.vae_eps.val(), vec![HIDDEN]));
        Weights {
            k,
            tensors,
            batches_tracked: batches_tracked.clone(),
        }
    }

    /// Number of variables.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The smoothed and pooled input `Z`: `[B, W, k]` → `[B, 100, k]`.
    pub fn pooled(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, w, _] = x.dims();
        let l = w + 1 - KERNEL;
        // Moving average: y_t = Σ_d w_d · x_{t+d}, the reference's fixed convolution.
        let mut ma = x.clone().narrow(1, 0, l).mul_scalar(self.kernel[0]);
        for (d, &c) in self.kernel.iter().enumerate().skip(1) {
            ma = ma + x.clone().narrow(1, d, l).mul_scalar(c); // [B, L, k]
        }
        // Adaptive max-pool to T steps: output i covers floor(i·L/T) .. ceil((i+1)·L/T).
        let t = GAT_WINDOW;
        let spans: Vec<(usize, usize)> = (0..t)
            .map(|i| (i * l / t, ((i + 1) * l).div_ceil(t)))
            .collect();
        let widest = spans.iter().map(|(s, e)| e - s).max().unwrap_or(1);
        let device = x.device();
        let mut z: Option<Tensor<3>> = None;
        for d in 0..widest {
            let idx: Vec<i64> = spans
                .iter()
                .map(|&(s, e)| (s + d).min(e - 1) as i64)
                .collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [t]), &device);
            let part = ma.clone().select(1, idx); // [B, T, k]
            z = Some(match z {
                None => part,
                Some(acc) => acc.max_pair(part),
            });
        }
        z.expect("the pooling window is never empty")
    }

    /// Forward pass over windows `x`: `[B, W, k]`. `noise` is given in training (dropout
    /// on the attention, random VAE ε) and absent in evaluation (fixed ε).
    pub fn forward(&self, x: Tensor<3>, noise: Option<TrainNoise>) -> NetOutput {
        let encoded = self.encode(x, noise);
        let h = self.gru.forward(encoded.seq); // [B, H]
        self.heads(h, encoded.eps, encoded.feat_attn)
    }

    /// The part before the GRU: smoothing, pooling and both graph attentions, giving the GRU's
    /// input sequence.
    pub fn encode(&self, x: Tensor<3>, noise: Option<TrainNoise>) -> Encoded {
        let [b, _, _] = x.dims();
        let z = self.pooled(x); // [B, T, k]
        let (time_mask, feat_mask, eps) = match noise {
            Some(n) => (Some(n.time_mask), Some(n.feat_mask), n.vae_eps),
            None => (
                None,
                None,
                self.vae_eps.val().unsqueeze::<2>().expand([b, HIDDEN]),
            ),
        };
        let (h_time, _) = self.time_gat.forward(z.clone(), time_mask); // [B, T, k]
        let (h_feat, feat_attn) = self.feat_gat.forward(z.clone().swap_dims(1, 2), feat_mask); // [B, k, T], [B, k, k]
        let seq = Tensor::cat(vec![z, h_feat.swap_dims(1, 2), h_time], 2); // [B, T, 3k]
        Encoded {
            seq,
            feat_attn,
            eps,
        }
    }

    /// The part after the GRU: the forecast and VAE heads on its final state `h` `[B, H]`.
    pub fn heads(&self, h: Tensor<2>, eps: Tensor<2>, feat_attn: Tensor<3>) -> NetOutput {
        let mut a = self.fc_bn.forward(relu(h.clone())); // [B, H]
        a = relu(self.fc[0].forward(a));
        a = relu(self.fc[1].forward(a));
        let x_pred = sigmoid(self.fc[2].forward(a)); // [B, k]

        let mut e = relu(self.enc_bn[0].forward(self.enc[0].forward(h)));
        e = relu(self.enc_bn[1].forward(self.enc[1].forward(e))); // [B, H]
        let mu = self.mu.forward(e.clone()); // [B, H]
        let logv = self.logv.forward(e); // [B, H]
        let latent = mu.clone() + eps * logv.clone().mul_scalar(0.5).exp(); // [B, H]
        let mut d = relu(self.dec_bn[0].forward(self.dec[0].forward(latent)));
        d = relu(self.dec_bn[1].forward(self.dec[1].forward(d)));
        let x_recon = sigmoid(self.recon.forward(d)); // [B, k]
        NetOutput {
            x_pred,
            x_recon,
            mu,
            logv,
            feat_attn,
        }
    }

    /// The GRU's parameters, detached onto the plain device, for [`crate::fused_gru`].
    pub fn gru_params(&self) -> GruParams {
        let vec = |t: Tensor<1>| {
            t.inner()
                .into_data()
                .try_into_vec::<f32>()
                .expect("network tensors are float32")
        };
        GruParams {
            w_ih: self.gru.w_ih.val().inner(),
            w_hh: self.gru.w_hh.val().inner(),
            b_ih: vec(self.gru.b_ih.val()),
            b_hh: vec(self.gru.b_hh.val()),
        }
    }

    /// Adds to `out` the gradients of the parameters before the GRU (the two attentions'
    /// vectors) found in `grads`, and the GRU's own from `gru`.
    pub fn register_split_grads(
        &self,
        grads: &Gradients,
        gru: GruGrads,
        out: &mut GradientsParams,
    ) {
        for param in [
            &self.time_gat.key,
            &self.time_gat.query,
            &self.feat_gat.key,
            &self.feat_gat.query,
        ] {
            if let Some(g) = param.val().grad(grads) {
                out.register(param.id, g);
            }
        }
        let device = gru.w_ih.device();
        let vector =
            |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [3 * HIDDEN]), &device);
        out.register(self.gru.w_ih.id, gru.w_ih);
        out.register(self.gru.w_hh.id, gru.w_hh);
        out.register(self.gru.b_ih.id, vector(gru.b_ih));
        out.register(self.gru.b_hh.id, vector(gru.b_hh));
    }
}
