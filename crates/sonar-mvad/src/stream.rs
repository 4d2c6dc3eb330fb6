//! Streaming scorer: scores each new row with ONE window forward, instead of the reference's
//! `W + TW` rows and `TW` window forwards per call (flaw F5). It holds the last `W` rows and
//! the threshold context (recent scores and attention maps); its output for a sequence of rows
//! equals batch `predict` over the same rows, and its state can be saved and restored.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{MvadError, Result};
use crate::frame::Frame;
use crate::model::MvadModel;
use crate::preprocess::{self, INFER_CLIP};
use crate::score::{self, RowResult, Smoother, ThresholdRule, ThresholdState};

/// Everything a streaming scorer remembers between rows; serialisable so that a realtime
/// process can persist it and resume after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorerState {
    /// Identifies the model the state belongs to (variables, windows, threshold, weights).
    model_fingerprint: String,
    /// Label of the last row pushed.
    last_label: Option<String>,
    /// The last `W` rows after filling, model variable order.
    rows: VecDeque<Vec<f64>>,
    /// Last non-missing value per variable (missing values are carried forward).
    last_valid: Vec<Option<f64>>,
    /// Recent scores and attention maps.
    threshold: ThresholdState,
    /// Recent unsmoothed row scores (a `scoring.smooth_rows` above 1).
    #[serde(default)]
    smoother: Smoother,
}

impl ScorerState {
    /// Label of the last row pushed.
    pub fn last_label(&self) -> Option<&str> {
        self.last_label.as_deref()
    }

    /// Rows pushed since the state was created.
    pub fn windows_scored(&self) -> u64 {
        self.threshold.seen()
    }
}

/// Scores rows one at a time (or a few at a time) against a trained model.
#[derive(Debug)]
pub struct StreamingScorer<'m> {
    model: &'m MvadModel,
    state: ScorerState,
}

pub(crate) fn fingerprint(model: &MvadModel) -> String {
    // FNV-1a over the weights and the scoring metadata.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    };
    for (name, t) in &model.weights().tensors {
        eat(name.as_bytes());
        t.data.iter().for_each(|v| eat(&v.to_le_bytes()));
    }
    let m = model.meta();
    eat(&m.threshold.to_le_bytes());
    m.pct_weight.iter().for_each(|v| eat(&v.to_le_bytes()));
    // Scoring other than the reference's changes every score (faithful models keep the
    // fingerprints they had before scoring was switchable).
    let scoring = m.scoring();
    if !scoring.is_faithful() {
        eat(&[scoring.error as u8]);
        eat(&scoring.recon_gamma.to_le_bytes());
        eat(&(scoring.smooth_rows as u64).to_le_bytes());
        if let Some(s) = &m.error_scales {
            s.forecast
                .iter()
                .chain(&s.recon)
                .for_each(|v| eat(&v.to_le_bytes()));
            // Only models that store a subspace score with it (older ones keep their
            // fingerprints).
            if let Some(sub) = &s.subspace {
                eat(&scoring.pca_gamma.to_le_bytes());
                sub.mean
                    .iter()
                    .chain(&sub.std)
                    .chain(&sub.components)
                    .chain(std::iter::once(&sub.scale))
                    .for_each(|v| eat(&v.to_le_bytes()));
            }
        }
    }
    format!(
        "{}|W{}|TW{}|{h:016x}",
        m.variables.join(","),
        m.input_size,
        m.threshold_window
    )
}

impl<'m> StreamingScorer<'m> {
    /// A fresh scorer: the first result comes after `W + TW` rows, as with batch predict.
    pub fn new(model: &'m MvadModel, rule: ThresholdRule) -> Self {
        let k = model.variables().len();
        Self {
            model,
            state: ScorerState {
                model_fingerprint: model.stream_fingerprint().to_owned(),
                last_label: None,
                rows: VecDeque::new(),
                last_valid: vec![None; k],
                threshold: ThresholdState::new(model.meta().threshold_window, k, rule),
                smoother: Smoother::default(),
            },
        }
    }

    /// Resumes from a saved state; refused if it belongs to another model.
    pub fn resume(model: &'m MvadModel, state: ScorerState) -> Result<Self> {
        let want = model.stream_fingerprint();
        if state.model_fingerprint != want {
            return Err(MvadError::InvalidData(format!(
                "the saved scorer state belongs to another model ({}), not this one ({want}); delete the state to start over",
                state.model_fingerprint
            )));
        }
        Ok(Self { model, state })
    }

    /// The state, to persist.
    pub fn state(&self) -> &ScorerState {
        &self.state
    }

    /// Pushes rows (labels strictly after the last pushed one) and returns the results of
    /// every row that completes a judged window. Columns must match the model's unless
    /// `align_columns`. Missing values are carried forward from the previous row (batch
    /// predict interpolates instead, so the two agree on rows without missing values).
    pub fn push_frame(&mut self, frame: &Frame, align_columns: bool) -> Result<Vec<RowResult>> {
        let frame = self.model.aligned(frame, align_columns)?;
        let meta = self.model.meta();
        let (k, w) = (meta.variables.len(), meta.input_size);
        // Fill and check order first, so a bad row changes nothing.
        let mut last = self.state.last_label.clone();
        let mut last_valid = self.state.last_valid.clone();
        let mut new_rows = Vec::with_capacity(frame.n_rows());
        for r in 0..frame.n_rows() {
            let label = &frame.index()[r];
            if let Some(prev) = &last {
                if label <= prev {
                    return Err(MvadError::InvalidData(format!(
                        "row `{label}` is not after the last scored row `{prev}`: rows must arrive in time order, once"
                    )));
                }
            }
            let row: Vec<f64> = (0..k)
                .map(|j| {
                    let v = frame.value(r, j);
                    if v.is_nan() {
                        last_valid[j].unwrap_or(0.0)
                    } else {
                        last_valid[j] = Some(v);
                        v
                    }
                })
                .collect();
            new_rows.push(row);
            last = Some(label.clone());
        }
        // Series = held rows + new rows; windows end at every new row that has W rows before it.
        let held = self.state.rows.len();
        let all: Vec<f64> = self
            .state
            .rows
            .iter()
            .chain(&new_rows)
            .flat_map(|r| r.iter().copied())
            .collect();
        let series = meta.normalize_base.apply(&all, -INFER_CLIP, INFER_CLIP);
        let ends: Vec<usize> = (held.max(w)..held + new_rows.len()).collect();
        let out = self.model.window_outputs(&series, &ends);
        let observed = preprocess::rows_at(&all, k, &ends);
        let ctx = meta.scoring_context(self.state.threshold_rule());
        let werr = ctx.variable_errors(&out, &observed);
        let mut results = Vec::new();
        for (i, &e) in ends.iter().enumerate() {
            let row_err = &werr[i * k..(i + 1) * k];
            let s = self
                .state
                .smoother
                .push(score::row_scores(row_err, k)[0], ctx.scoring.smooth_rows);
            if let Some(j) = self
                .state
                .threshold
                .push(s, &out.feat_attn[i * k * k..(i + 1) * k * k])
            {
                let expected: Vec<f64> = (0..k)
                    .map(|v| {
                        meta.normalize_base
                            .denormalize(v, out.x_pred[i * k + v] as f64)
                    })
                    .collect();
                let label = &frame.index()[e - held];
                results.push(score::judge_row(
                    &ctx,
                    label,
                    s,
                    row_err,
                    &j,
                    &all[e * k..(e + 1) * k],
                    &expected,
                ));
            }
        }
        for row in new_rows {
            self.state.rows.push_back(row);
            if self.state.rows.len() > w {
                self.state.rows.pop_front();
            }
        }
        self.state.last_label = last;
        self.state.last_valid = last_valid;
        Ok(results)
    }
}

impl ScorerState {
    /// The local-threshold rule the state was built with.
    pub fn threshold_rule(&self) -> ThresholdRule {
        self.threshold.rule()
    }
}

/// Rows a fresh scorer needs before its first result (`W + TW`).
pub fn warmup_rows(model: &MvadModel) -> usize {
    model.min_rows()
}
