//! Fitting, as the reference (mvad_reference.md §4): loss = forecast SSE + β·(reconstruction
//! SSE + KL), Adam, Gaussian input noise σ 0.1 on the [0, 1]-clipped training windows,
//! attention dropout 0.5, best-validation-loss weights kept, threshold = the `level` quantile
//! of the training scores. Every random draw comes from one seeded ChaCha stream, so a seed
//! gives the same model on every run of this build.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{MvadError, Result};
use crate::frame::Frame;
use crate::model::{window_outputs, ModelMeta, MvadModel, TrainingSummary};
use crate::native::NativeNet;
use crate::net::{MvadNet, TrainNoise};
use crate::params::MvadParams;
use crate::preprocess::{self, Normalizer, INFER_CLIP};
use crate::score;
use crate::weights::{standard_normal, Weights, BATCH_NORMS, GAT_WINDOW, HIDDEN};

/// Standard deviation of the Gaussian noise added to training inputs.
const INPUT_NOISE: f64 = 0.1;
/// Attention dropout probability (hard-coded in the reference's GAT).
const ATTN_DROPOUT: f64 = 0.5;

/// One epoch's progress, reported to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Upper bound of epochs.
    pub epochs: usize,
    /// Per-sample training loss.
    pub train_loss: f64,
    /// Per-sample validation loss (0 without validation windows, as the reference).
    pub val_loss: f64,
    /// Whether this epoch's weights are the best so far (and kept).
    pub improved: bool,
    /// Optimizer steps so far.
    pub steps: usize,
    /// Wall time of this epoch's optimizer steps.
    pub train_time: std::time::Duration,
    /// Wall time of this epoch's validation pass.
    pub val_time: std::time::Duration,
}

/// Receives progress and may cancel training between batches.
pub trait TrainObserver {
    /// Called after each epoch.
    fn epoch(&mut self, _report: &EpochReport) {}
    /// Polled between batches; `true` stops training with [`MvadError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
impl TrainObserver for () {}

/// Training data needs, derived from the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataNeeds {
    /// Rows needed for at least one optimizer step under the parameters' rules.
    pub min_rows: usize,
}

/// Rows needed to train: the training split (`⌊train_ratio · N⌋`) must hold `W` rows of
/// context plus enough stride-`interval` windows for one batch (one full batch under the
/// reference's drop-last rule, two windows otherwise: BatchNorm needs two samples).
pub fn data_needs(params: &MvadParams) -> DataNeeds {
    let w = params.windows().input;
    let windows = if params.rules.keep_partial_batch {
        2
    } else {
        params.batch_size
    };
    let train_rows = w + windows * params.interval;
    // Smallest N with ⌊ratio · N⌋ ≥ train_rows.
    let mut n = (train_rows as f64 / params.train_ratio).floor() as usize;
    while ((params.train_ratio * n as f64) as usize) < train_rows {
        n += 1;
    }
    DataNeeds { min_rows: n }
}

/// Fits a detector on `frame` (the reference's `fit`).
pub fn fit(
    frame: &Frame,
    params: &MvadParams,
    observer: &mut dyn TrainObserver,
) -> Result<MvadModel> {
    params.validate()?;
    let device = crate::device::compute_device(&params.device)?;
    let ws = params.windows();
    let w = ws.input;
    let needs = data_needs(params);
    if frame.n_rows() < needs.min_rows {
        return Err(MvadError::NotEnoughData {
            action: "train",
            rows: frame.n_rows(),
            minimum: needs.min_rows,
            why: format!(
                "the first {:.0}% of rows must hold W = {w} rows of context plus {} windows at stride {}{}",
                params.train_ratio * 100.0,
                if params.rules.keep_partial_batch { 2 } else { params.batch_size },
                params.interval,
                if params.rules.keep_partial_batch { "" } else { " (one full batch: the reference drops partial batches)" }
            ),
        });
    }
    let prepared = preprocess::prepare(frame, params.fill);
    let (n, k) = (prepared.n(), prepared.k());
    let (pct_weight, _) = preprocess::pct_weight(frame, ws.min_score_rows());
    let train_len = (params.train_ratio * n as f64) as usize;
    let val_len = (params.val_ratio * n as f64) as usize;
    let norm = Normalizer::fit(&prepared.values, k, train_len);
    let train_series = norm.apply(&prepared.values[..train_len * k], 0.0, 1.0);
    let val_series = norm.apply(
        &prepared.values[train_len * k..(train_len + val_len) * k],
        -INFER_CLIP,
        INFER_CLIP,
    );
    let mut train_ends = preprocess::window_ends(train_len, w, params.interval);
    let mut val_ends = preprocess::window_ends(val_len, w, 1);
    if let Some(cap) = params.rules.max_validation_windows {
        if val_ends.len() > cap {
            let step = val_ends.len() as f64 / cap as f64;
            val_ends = (0..cap)
                .map(|i| val_ends[(i as f64 * step) as usize])
                .collect();
        }
    }

    let mut trainer = Trainer::on_device(k, params, device);
    let mut best: Option<(f64, Weights, usize)> = None;
    let (mut train_losses, mut val_losses) = (Vec::new(), Vec::new());
    let mut since_best = 0;
    for epoch in 1..=params.epochs {
        let started = std::time::Instant::now();
        train_ends.shuffle(&mut trainer.rng);
        let (mut loss_sum, mut samples) = (0.0, 0usize);
        for batch in train_ends.chunks(params.batch_size) {
            let full = batch.len() == params.batch_size;
            // Drop-last as the reference, or keep partial batches (BatchNorm needs 2 samples).
            if (!full && !params.rules.keep_partial_batch) || batch.len() < 2 {
                continue;
            }
            if observer.cancelled() {
                return Err(MvadError::Cancelled);
            }
            let (x, y) = preprocess::gather_windows(&train_series, k, w, batch);
            loss_sum += trainer.step(x, y);
            samples += batch.len();
        }
        let train_loss = if samples > 0 {
            loss_sum / samples as f64
        } else {
            0.0
        };
        let train_time = started.elapsed();
        let started = std::time::Instant::now();
        let weights = trainer.net.valid().to_weights(&trainer.batches_tracked);
        let val_loss = validation_loss(
            &NativeNet::new(&weights),
            &val_series,
            k,
            w,
            &val_ends,
            params.beta,
        );
        let val_time = started.elapsed();
        train_losses.push(train_loss);
        val_losses.push(val_loss);
        let improved = best.as_ref().is_none_or(|(b, _, _)| val_loss < *b);
        if improved {
            best = Some((val_loss, weights, epoch));
            since_best = 0;
        } else {
            since_best += 1;
        }
        observer.epoch(&EpochReport {
            epoch,
            epochs: params.epochs,
            train_loss,
            val_loss,
            improved,
            steps: trainer.steps,
            train_time,
            val_time,
        });
        if params
            .rules
            .early_stopping_patience
            .is_some_and(|p| since_best >= p)
        {
            break;
        }
    }
    let (_, weights, best_epoch) = best.expect("at least one epoch runs");

    // Threshold: scores of the best model over the training split, stride 1, clip ±1000.
    let eval = NativeNet::new(&weights);
    let series = norm.apply(&prepared.values[..train_len * k], -INFER_CLIP, INFER_CLIP);
    let ends = preprocess::window_ends(train_len, w, 1);
    let out = window_outputs(&eval, &series, k, w, &ends);
    let scores = score::row_scores(
        &score::weighted_errors(&out.x_pred, &out.target, &pct_weight),
        k,
    );
    let threshold =
        score::quantile_threshold(&scores, params.level).expect("training windows exist");
    let meta = ModelMeta {
        format: None,
        format_version: None,
        library: None,
        library_version: None,
        variables: prepared.names.clone(),
        input_size: w,
        threshold_window: ws.threshold,
        sliding_window: params.sliding_window,
        normalize_base: norm,
        pct_weight,
        threshold,
        train_score_max: scores.iter().copied().reduce(f64::max),
        train_score_min: scores.iter().copied().reduce(f64::min),
        train_score_quantiles: Some(
            [0.5f64, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0]
                .iter()
                .map(|&q| {
                    (
                        q,
                        score::quantile_threshold(&scores, q.min(1.0 - 1e-12)).unwrap_or(threshold),
                    )
                })
                .collect(),
        ),
        fill_na_method: params.fill.name().into(),
        fill_na_value: match params.fill {
            crate::params::FillMethod::Fixed(v) => v,
            _ => 0.0,
        },
        params: Some(params.clone()),
        training_range: prepared
            .index
            .first()
            .cloned()
            .zip(prepared.index.last().cloned()),
        training: Some(TrainingSummary {
            epochs_run: train_losses.len(),
            best_epoch,
            steps: trainer.steps,
            train_loss: train_losses,
            val_loss: val_losses,
        }),
        schema: None,
    };
    debug_assert!(BATCH_NORMS.len() == weights.batches_tracked.len());
    MvadModel::new(meta, weights)
}

/// One model under training: the network on an autodiff device, Adam, and the seeded random
/// stream. [`fit`] drives it; it is public for benchmarks and custom loops.
pub struct Trainer {
    net: MvadNet,
    optim: burn::optim::ModuleOptimizer,
    rng: ChaCha8Rng,
    device: Device,
    batches_tracked: std::collections::BTreeMap<String, i64>,
    k: usize,
    lr: f64,
    beta: f64,
    steps: usize,
}

impl Trainer {
    /// A freshly initialised network for `k` variables on the CPU, seeded by `params.seed`.
    pub fn new(k: usize, params: &MvadParams) -> Self {
        Self::on_device(k, params, Device::flex())
    }

    /// The same on a given compute device.
    pub fn on_device(k: usize, params: &MvadParams, device: Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let initial = Weights::init(k, &mut rng);
        let device = device.autodiff();
        Self {
            net: MvadNet::from_weights(&initial, &device),
            optim: AdamConfig::new().with_epsilon(1e-8).init(),
            rng,
            device,
            batches_tracked: initial.batches_tracked,
            k,
            lr: params.lr,
            beta: params.beta,
            steps: 0,
        }
    }

    /// One optimizer step on a batch: windows `x` (`[B, W, k]` flattened, in [0, 1]) and
    /// targets `y` (`[B, k]`). Adds the input noise, draws dropout and ε, returns the batch's
    /// summed loss.
    pub fn step(&mut self, mut x: Vec<f32>, y: Vec<f32>) -> f64 {
        let (k, device) = (self.k, &self.device);
        let b = y.len() / k;
        let w = x.len() / (b * k);
        let rng = &mut self.rng;
        for v in x.iter_mut() {
            *v += (INPUT_NOISE * standard_normal(rng) as f64) as f32;
        }
        let x = Tensor::<3>::from_data(TensorData::new(x, [b, w, k]), device);
        let y = Tensor::<2>::from_data(TensorData::new(y, [b, k]), device);
        let eps: Vec<f32> = (0..b * HIDDEN).map(|_| standard_normal(rng)).collect();
        let noise = TrainNoise {
            time_mask: dropout_mask([b, GAT_WINDOW, GAT_WINDOW], rng, device),
            feat_mask: dropout_mask([b, k, k], rng, device),
            vae_eps: Tensor::from_data(TensorData::new(eps, [b, HIDDEN]), device),
        };
        let out = self.net.forward(x, Some(noise));
        let loss = batch_loss(out, y, self.beta);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self.optim.step(self.lr, self.net.clone(), grads);
        self.steps += 1;
        self.batches_tracked.values_mut().for_each(|c| *c += 1);
        value
    }
}

/// `β·(recon SSE + KL) + forecast SSE`, summed over the batch.
fn batch_loss(out: crate::net::NetOutput, y: Tensor<2>, beta: f64) -> Tensor<1> {
    let pred = (out.x_pred - y.clone()).square().sum();
    let recon = (out.x_recon - y).square().sum();
    let kl = (out.logv.clone().add_scalar(1.0) - out.mu.square() - out.logv.exp())
        .sum()
        .mul_scalar(-0.5);
    (recon + kl).mul_scalar(beta) + pred
}

/// Per-sample validation loss in evaluation mode (0 without windows, as the reference), the
/// loss of [`batch_loss`] computed on the native forward's outputs.
fn validation_loss(
    net: &NativeNet,
    series: &[f32],
    k: usize,
    w: usize,
    ends: &[usize],
    beta: f64,
) -> f64 {
    if ends.is_empty() {
        return 0.0;
    }
    let sq = |a: &[f32], y: &[f32]| -> f64 {
        a.iter().zip(y).map(|(p, t)| f64::from(p - t).powi(2)).sum()
    };
    let mut sum = 0.0;
    for chunk in ends.chunks(256) {
        let (x, y) = preprocess::gather_windows(series, k, w, chunk);
        for (r, y) in net.forward(&x, chunk.len()).iter().zip(y.chunks_exact(k)) {
            let kl: f64 = r
                .logv
                .iter()
                .zip(&r.mu)
                .map(|(&lv, &m)| {
                    let (lv, m) = (f64::from(lv), f64::from(m));
                    lv + 1.0 - m * m - lv.exp()
                })
                .sum::<f64>()
                * -0.5;
            sum += beta * (sq(&r.x_recon, y) + kl) + sq(&r.x_pred, y);
        }
    }
    sum / ends.len() as f64
}

/// Inverted dropout mask: 0 with probability p, 1/(1−p) otherwise.
fn dropout_mask(shape: [usize; 3], rng: &mut ChaCha8Rng, device: &Device) -> Tensor<3> {
    let keep = (1.0 / (1.0 - ATTN_DROPOUT)) as f32;
    let data: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| {
            if rng.gen_bool(1.0 - ATTN_DROPOUT) {
                keep
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_needs_state_the_minimum_rows() {
        let p = MvadParams {
            sliding_window: Some(200),
            ..MvadParams::reference()
        };
        // Reference: ⌊0.8N⌋ ≥ W + 1280 → N ≥ 1,725 for sliding_window 200.
        assert_eq!(data_needs(&p).min_rows, 1725);
        let ours = MvadParams {
            sliding_window: Some(200),
            ..MvadParams::default()
        };
        assert_eq!(data_needs(&ours).min_rows, 150);
    }
}
