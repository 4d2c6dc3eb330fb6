//! A trained detector: weights, normalisation, weights per variable, threshold, and the
//! metadata that makes it self-describing. Saved as safetensors weights plus a versioned JSON
//! file; models exported from the reference library (the golden fixtures' format) load too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::calibrate::ScoreCalibration;
use crate::error::{MvadError, Result};
use crate::frame::Frame;
use crate::native::NativeNet;
use crate::net::MvadNet;
use crate::params::{MvadParams, WindowSizes};
use crate::preprocess::FillMethod;
use crate::preprocess::{self, Normalizer, INFER_CLIP};
use crate::score::{
    self, ErrorKind, ErrorScales, RowResult, Scoring, ScoringContext, ThresholdRule, WindowOutputs,
};
use crate::weights::Weights;

/// Name of our metadata format, written into every file we save.
pub const MODEL_FORMAT: &str = "sonar-mvad-model";
/// Version of the metadata format this build writes and reads.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// Weights file inside a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Metadata file inside a model directory.
pub const META_FILE: &str = "model_meta.json";
/// Windows per inference batch.
const INFER_BATCH: usize = 256;

/// Everything about a model except its weights. The keys of the reference exporter
/// (golden fixtures' `model_meta.json`) are a subset, so those files load as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// [`MODEL_FORMAT`] for files we write; absent in reference exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// [`MODEL_FORMAT_VERSION`] for files we write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_version: Option<u32>,
    /// Who wrote the weights (`sonar-mvad <version>` or the reference library's name).
    #[serde(default)]
    pub library: Option<String>,
    /// That library's version.
    #[serde(default)]
    pub library_version: Option<String>,
    /// Variable names in model (sorted) order.
    pub variables: Vec<String>,
    /// `W`.
    pub input_size: usize,
    /// `TW`.
    pub threshold_window: usize,
    /// The `sliding_window` the sizes came from.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Min-max statistics of the training split.
    pub normalize_base: Normalizer,
    /// Per-variable weights.
    pub pct_weight: Vec<f64>,
    /// The model threshold (training-score quantile).
    pub threshold: f64,
    /// Largest training score.
    #[serde(default)]
    pub train_score_max: Option<f64>,
    /// Smallest training score.
    #[serde(default)]
    pub train_score_min: Option<f64>,
    /// Quantiles of the training scores, `(level, score)` for levels 0.5, 0.8, 0.9, 0.95,
    /// 0.99, 0.999 and 1 (ours only): what a score means relative to normal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_score_quantiles: Option<Vec<(f64, f64)>>,
    /// Fill method name (reference spelling).
    #[serde(default = "default_fill_name")]
    pub fill_na_method: String,
    /// Value of the `Fixed` fill.
    #[serde(default)]
    pub fill_na_value: f64,
    /// Parameters the model was trained with (ours only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<MvadParams>,
    /// First and last row label of the training data (ours only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_range: Option<(String, String)>,
    /// Epochs actually run and the best one (ours only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSummary>,
    /// Scale of each variable's forecast and reconstruction errors on the held-out training
    /// rows (ours only; what standardised scoring divides by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_scales: Option<ErrorScales>,
    /// What a score means: the rarity map fitted on held-out rows (ours only; models trained
    /// before it existed build one from their training-score quantiles, see
    /// [`ModelMeta::calibration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<ScoreCalibration>,
    /// Caller-owned description of the columns (SONAR stores its feature schema here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

fn default_fill_name() -> String {
    "Linear".to_string()
}

/// What training did, stored with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Epochs run (fewer than asked when early stopping fired).
    pub epochs_run: usize,
    /// The epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    /// Optimizer steps taken in all.
    pub steps: usize,
    /// Training loss per epoch (per-sample average).
    pub train_loss: Vec<f64>,
    /// Validation loss per epoch (per-sample average).
    pub val_loss: Vec<f64>,
}

impl ModelMeta {
    /// Window sizes.
    pub fn windows(&self) -> WindowSizes {
        WindowSizes {
            input: self.input_size,
            threshold: self.threshold_window,
        }
    }

    /// The fill method.
    pub fn fill(&self) -> Result<FillMethod> {
        FillMethod::parse(&self.fill_na_method, self.fill_na_value)
    }

    /// How this model scores rows: the `scoring` it was trained with (the reference's score
    /// for models exported from the reference library).
    pub fn scoring(&self) -> Scoring {
        self.params
            .as_ref()
            .map_or_else(Scoring::faithful, |p| p.scoring)
    }

    /// The map from this model's raw scores to their rarity under normal data: the stored
    /// held-out calibration; for models trained before it was stored, one built from the
    /// training-score quantiles (0.5 … 0.95, the body below the median interpolated from the
    /// smallest training score); for reference exports, which store neither, an exponential
    /// tail from the model threshold (the 80th percentile of the training scores) that puts
    /// the largest training score at a tail probability of 1/1000.
    pub fn calibration(&self) -> ScoreCalibration {
        if let Some(c) = &self.calibration {
            return c.clone();
        }
        let q = |level: f64| self.train_quantile(level);
        if let (Some(q50), Some(q80), Some(q90), Some(q95)) = (q(0.5), q(0.8), q(0.9), q(0.95)) {
            let min = self.train_score_min.unwrap_or(0.0).min(q50);
            let body = |level: f64| {
                Some(if level <= 0.5 {
                    min + (q50 - min) * level / 0.5
                } else {
                    q50 + (q80 - q50) * (level - 0.5) / 0.3
                })
            };
            if let Some(c) = ScoreCalibration::from_quantiles(body, q90, q95, 0) {
                return c;
            }
        }
        let u = self.threshold.max(0.0);
        let max = self.train_score_max.unwrap_or(u * 2.0).max(u);
        // Exponential tail: P(S ≥ max) = 0.2 · e^{−(max − u)/σ} = 1e-3.
        let sigma = ((max - u) / (crate::calibrate::TAIL_SHARE / 1e-3).ln()).max(1e-9);
        let body: Vec<f64> = (0..=16).map(|i| u * i as f64 / 16.0).collect();
        ScoreCalibration {
            body,
            sigma,
            xi: 0.0,
            rows: 0,
            excluded: 0,
        }
    }

    /// The training-score quantile at `level`, if stored.
    pub fn train_quantile(&self, level: f64) -> Option<f64> {
        self.train_score_quantiles.as_ref().and_then(|q| {
            q.iter()
                .find(|(l, _)| (l - level).abs() < 1e-9)
                .map(|(_, s)| *s)
        })
    }

    /// What scoring rows of this model needs, with local-threshold rule `rule`.
    pub fn scoring_context(&self, rule: ThresholdRule) -> ScoringContext<'_> {
        ScoringContext {
            names: &self.variables,
            pct_weight: &self.pct_weight,
            threshold_window: self.threshold_window,
            model_threshold: self.threshold,
            rule,
            scoring: self.scoring(),
            norm: &self.normalize_base,
            scales: self.error_scales.as_ref(),
            upper_bound: self
                .train_quantile(score::STANDARDISED_UPPER_QUANTILE)
                .or(self.train_score_max)
                .unwrap_or(self.threshold),
        }
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |problem: String| MvadError::ModelFile {
            path: path.to_path_buf(),
            problem,
        };
        if let Some(format) = &self.format {
            if format != MODEL_FORMAT {
                return Err(bad(format!("format `{format}` is not `{MODEL_FORMAT}`")));
            }
            match self.format_version {
                Some(v) if v <= MODEL_FORMAT_VERSION => {}
                Some(v) => {
                    return Err(bad(format!(
                        "format version {v} is newer than this build reads ({MODEL_FORMAT_VERSION}); upgrade sonar"
                    )))
                }
                None => return Err(bad("`format_version` is missing".into())),
            }
        }
        let k = self.variables.len();
        if k == 0 {
            return Err(bad("no variables".into()));
        }
        if self.normalize_base.min_values.len() != k
            || self.normalize_base.max_values.len() != k
            || self.pct_weight.len() != k
        {
            return Err(bad(format!(
                "{k} variables but {} minima, {} maxima and {} weights",
                self.normalize_base.min_values.len(),
                self.normalize_base.max_values.len(),
                self.pct_weight.len()
            )));
        }
        if self.input_size < crate::params::MIN_SLIDING_WINDOW / 2 || self.threshold_window == 0 {
            return Err(bad(format!(
                "window sizes W={} TW={} are out of range",
                self.input_size, self.threshold_window
            )));
        }
        let finite = self
            .normalize_base
            .min_values
            .iter()
            .chain(&self.normalize_base.max_values)
            .chain(&self.pct_weight)
            .all(|v| v.is_finite());
        if !finite || !self.threshold.is_finite() {
            return Err(bad("non-finite normalisation, weight or threshold".into()));
        }
        self.fill().map_err(|e| bad(e.to_string()))?;
        if let Some(c) = &self.calibration {
            c.check().map_err(bad)?;
        }
        let scoring = self.scoring();
        scoring.validate().map_err(|e| bad(e.to_string()))?;
        if scoring.error == ErrorKind::Standardised {
            let scales = self.error_scales.as_ref().ok_or_else(|| {
                bad("standardised scoring but no `error_scales` are stored".into())
            })?;
            let ok = |v: &[f64]| v.len() == k && v.iter().all(|s| s.is_finite() && *s > 0.0);
            if !ok(&scales.forecast) || !ok(&scales.recon) {
                return Err(bad(format!(
                    "`error_scales` must hold {k} positive numbers each for forecast and recon"
                )));
            }
            if let Some(subspace) = &scales.subspace {
                subspace.check(k).map_err(bad)?;
            }
        }
        Ok(())
    }
}

/// How to score a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PredictOptions {
    /// Local-threshold rule (the reference's lagged rule by default).
    pub rule: ThresholdRule,
    /// Accept columns that differ from the trained ones: missing → 0, extra → dropped.
    /// Off by default: a mismatch is an error naming the columns.
    pub align_columns: bool,
}

/// A trained MVAD detector (the reference's `MultivariateAnomalyDetector` after `fit`).
#[derive(Debug, Clone)]
pub struct MvadModel {
    meta: ModelMeta,
    /// The weights and the forward every scoring path runs, shared by the members of a
    /// shared set ([`MvadModel::with_meta_file`]). The burn network is built only when asked
    /// ([`MvadModel::net`]): a per-entity set keeps a thousand models in memory.
    weights: Arc<Weights>,
    native: Arc<NativeNet>,
    device: Device,
    /// The streaming scorer's fingerprint (a hash of every weight), computed once: a realtime
    /// poll of a thousand entities checks each state against its model.
    fingerprint: OnceLock<String>,
}

impl MvadModel {
    /// Assembles a model from its parts (checked).
    pub fn new(meta: ModelMeta, weights: Weights) -> Result<Self> {
        meta.check(Path::new("<memory>"))?;
        Self::build(meta, weights)
    }

    fn build(meta: ModelMeta, weights: Weights) -> Result<Self> {
        let device = Device::flex();
        let native = Arc::new(NativeNet::new(&weights));
        Ok(Self {
            meta,
            weights: Arc::new(weights),
            native,
            device,
            fingerprint: OnceLock::new(),
        })
    }

    /// The metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Mutable metadata (to attach a caller schema or training range before saving).
    pub fn meta_mut(&mut self) -> &mut ModelMeta {
        self.fingerprint = OnceLock::new();
        &mut self.meta
    }

    /// The streaming scorer's fingerprint of this model (crate::stream), computed once.
    pub(crate) fn stream_fingerprint(&self) -> &str {
        self.fingerprint
            .get_or_init(|| crate::stream::fingerprint(self))
    }

    /// The weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Variable names in model order.
    pub fn variables(&self) -> &[String] {
        &self.meta.variables
    }

    /// A model with this one's network and the metadata file at `meta_path` (a member of a
    /// shared set: one network, each member's own normalisation and calibration). Both are
    /// held once in memory.
    pub fn with_meta_file(&self, meta_path: &Path) -> Result<Self> {
        let meta = read_meta(meta_path)?;
        if meta.variables.len() != self.weights.k {
            return Err(MvadError::ModelFile {
                path: meta_path.to_path_buf(),
                problem: format!(
                    "{} variables, but the shared network was built for {}",
                    meta.variables.len(),
                    self.weights.k
                ),
            });
        }
        Ok(Self {
            meta,
            weights: Arc::clone(&self.weights),
            native: Arc::clone(&self.native),
            device: self.device.clone(),
            fingerprint: OnceLock::new(),
        })
    }

    /// Saves `model.safetensors` and `model_meta.json` into `dir` (created if needed), each
    /// written to a temporary file first and renamed, so a crash never leaves half a model.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_files(dir, true)
    }

    /// Saves `model_meta.json` alone into `dir` (a member of a shared set, whose network is
    /// stored once).
    pub fn save_meta(&self, dir: &Path) -> Result<()> {
        self.save_files(dir, false)
    }

    fn save_files(&self, dir: &Path, with_weights: bool) -> Result<()> {
        let io = |path: &Path, e: std::io::Error| MvadError::ModelFile {
            path: path.to_path_buf(),
            problem: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut meta = self.meta.clone();
        meta.format = Some(MODEL_FORMAT.into());
        meta.format_version = Some(MODEL_FORMAT_VERSION);
        meta.library = Some("sonar-mvad".into());
        meta.library_version = Some(env!("CARGO_PKG_VERSION").into());
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| MvadError::ModelFile {
            path: dir.join(META_FILE),
            problem: e.to_string(),
        })?;
        let bytes = if with_weights {
            Some(self.weights.to_safetensors()?)
        } else {
            None
        };
        let mut files = vec![(META_FILE, &json)];
        if let Some(bytes) = &bytes {
            files.insert(0, (WEIGHTS_FILE, bytes));
        }
        for (name, data) in files {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, data).map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }

    /// Loads a model directory (`model.safetensors` + `model_meta.json`), ours or exported
    /// from the reference library.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_files(&dir.join(WEIGHTS_FILE), &dir.join(META_FILE))
    }

    /// Loads a model from explicit weight and metadata paths.
    pub fn load_files(weights_path: &Path, meta_path: &Path) -> Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| MvadError::ModelFile {
                path: path.to_path_buf(),
                problem: format!("cannot read: {e}"),
            })
        };
        let meta = read_meta(meta_path)?;
        let weights =
            Weights::from_safetensors(&read(weights_path)?, meta.variables.len(), weights_path)?;
        Self::build(meta, weights)
    }

    /// Rows needed to report one result.
    pub fn min_rows(&self) -> usize {
        self.meta.windows().min_score_rows()
    }

    /// Puts the frame's columns in model order, checking (or aligning) them.
    pub(crate) fn aligned(&self, frame: &Frame, align: bool) -> Result<Frame> {
        let want = &self.meta.variables;
        let have = frame.columns();
        let missing: Vec<String> = want.iter().filter(|c| !have.contains(c)).cloned().collect();
        let extra: Vec<String> = have.iter().filter(|c| !want.contains(c)).cloned().collect();
        if (!missing.is_empty() || !extra.is_empty()) && !align {
            return Err(MvadError::ColumnMismatch { missing, extra });
        }
        let pos: Vec<Option<usize>> = want
            .iter()
            .map(|c| have.iter().position(|h| h == c))
            .collect();
        let mut values = Vec::with_capacity(frame.n_rows() * want.len());
        for r in 0..frame.n_rows() {
            for p in &pos {
                values.push(p.map_or(0.0, |c| frame.value(r, c)));
            }
        }
        Frame::new(frame.index().to_vec(), want.clone(), values)
    }

    /// Scores `frame` like the reference's `predict`: one result for each of the last
    /// `N − W − TW + 1` rows.
    pub fn predict(&self, frame: &Frame, options: PredictOptions) -> Result<Vec<RowResult>> {
        let frame = self.aligned(frame, options.align_columns)?;
        let w = self.meta.windows();
        if frame.n_rows() < w.min_score_rows() {
            return Err(MvadError::NotEnoughData {
                action: "score",
                rows: frame.n_rows(),
                minimum: w.min_score_rows(),
                why: format!(
                    "W = {} rows of context + TW = {} scores for the local threshold",
                    w.input, w.threshold
                ),
            });
        }
        let prepared = preprocess::prepare(&frame, self.meta.fill()?);
        let k = prepared.k();
        let series = self
            .meta
            .normalize_base
            .apply(&prepared.values, -INFER_CLIP, INFER_CLIP);
        let ends = preprocess::window_ends(prepared.n(), w.input, 1);
        let out = self.window_outputs(&series, &ends);
        // Row labels come from the frame as passed, as in the reference.
        let labels: Vec<String> = ends.iter().map(|&e| frame.index()[e].clone()).collect();
        let observed = preprocess::rows_at(&prepared.values, k, &ends);
        let expected: Vec<f64> = out
            .x_pred
            .iter()
            .enumerate()
            .map(|(i, &p)| self.meta.normalize_base.denormalize(i % k, p as f64))
            .collect();
        let ctx = self.meta.scoring_context(options.rule);
        Ok(score::interpret(&ctx, &out, &labels, &observed, &expected))
    }

    /// Runs the network over the windows ending at `ends` of a normalised series (the native
    /// forward, [`crate::native`]).
    pub fn window_outputs(&self, series: &[f32], ends: &[usize]) -> WindowOutputs {
        window_outputs(
            &self.native,
            series,
            self.meta.variables.len(),
            self.meta.input_size,
            ends,
        )
    }

    /// The same through the burn network (slower; kept to compare the two forwards).
    pub fn window_outputs_burn(&self, series: &[f32], ends: &[usize]) -> WindowOutputs {
        let (k, w) = (self.meta.variables.len(), self.meta.input_size);
        let mut out = WindowOutputs::default();
        let net = self.net();
        for chunk in ends.chunks(INFER_BATCH) {
            let (x, y) = preprocess::gather_windows(series, k, w, chunk);
            let x = Tensor::<3>::from_data(TensorData::new(x, [chunk.len(), w, k]), &self.device);
            let o = net.forward(x, None);
            let host = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().expect("float32 output");
            out.x_pred.extend(host(o.x_pred));
            out.x_recon.extend(host(o.x_recon));
            out.feat_attn.extend(
                o.feat_attn
                    .into_data()
                    .try_into_vec::<f32>()
                    .expect("float32 output"),
            );
            out.target.extend(y);
        }
        out
    }

    /// The burn network (evaluation mode), built from the weights on each call.
    pub fn net(&self) -> MvadNet {
        MvadNet::from_weights(&self.weights, &self.device)
    }
}

/// Evaluation forward over the windows ending at `ends`, in batches spread over the cores.
pub(crate) fn window_outputs(
    net: &NativeNet,
    series: &[f32],
    k: usize,
    w: usize,
    ends: &[usize],
) -> WindowOutputs {
    let mut out = WindowOutputs::default();
    for chunk in ends.chunks(INFER_BATCH) {
        let (x, y) = preprocess::gather_windows(series, k, w, chunk);
        for r in net.forward(&x, chunk.len()) {
            out.x_pred.extend(r.x_pred);
            out.x_recon.extend(r.x_recon);
            out.feat_attn.extend(r.feat_attn);
        }
        out.target.extend(y);
    }
    out
}

/// Reads and checks a metadata file.
fn read_meta(meta_path: &Path) -> Result<ModelMeta> {
    let bytes = std::fs::read(meta_path).map_err(|e| MvadError::ModelFile {
        path: meta_path.to_path_buf(),
        problem: format!("cannot read: {e}"),
    })?;
    let meta: ModelMeta = serde_json::from_slice(&bytes).map_err(|e| MvadError::ModelFile {
        path: meta_path.to_path_buf(),
        problem: format!("not a valid model metadata file: {e}"),
    })?;
    meta.check(meta_path)?;
    Ok(meta)
}

/// Where a model lives: a directory with the two files.
pub fn model_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(WEIGHTS_FILE), dir.join(META_FILE))
}

impl MvadNet {
    /// A copy for evaluation on a plain (non-autodiff) device.
    pub fn for_eval(&self) -> MvadNet {
        self.valid()
    }
}
