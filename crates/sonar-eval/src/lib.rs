//! Detection quality, measured: train our engine on a training series, score a labelled test
//! series, and compute threshold-free and point-wise metrics ([`metrics`]) for it and for the
//! baselines ([`baselines`]: random score, PCA reconstruction error).
//!
//! Scoring covers EVERY test row: the engine's windows need `W` rows of context, so the last
//! `W` training rows are put in front of the test rows and one window ends at each test row
//! (our own loop over `MvadModel::window_outputs`; `predict` would drop the first `TW − 1`
//! rows for its local threshold, which threshold-free metrics do not need). The row score is
//! the engine's (its `scoring` parameter, faithful by default), the score of the window that
//! ENDS at (forecasts) the row. [`ScoreVariant`]s re-score the same trained model under other
//! [`Scoring`]s (standardised errors, VAE reconstruction error blended in, trailing
//! smoothing), with the engine's own code, so a variant scores exactly what a model trained
//! with that `scoring` reports; scores of other scorers (the Python reference) can be read
//! from files and are measured by the same code.
//!
//! Entry points: [`run`] (CSV files in, used by `sonar eval`) and [`evaluate`] (series in
//! memory, used by the quality report example). Alert data are measured at the scenario's
//! operating point by [`alerts::run`] (`sonar eval --alerts`).

pub mod alerts;
pub mod baselines;
pub mod data;
pub mod demo;
mod error;
pub mod metrics;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sonar_mvad::preprocess::{self, INFER_CLIP};
use sonar_mvad::score::{ErrorKind, Scoring, WindowOutputs};
use sonar_mvad::{Frame, ModelMeta, MvadModel, MvadParams, TrainingSummary};

pub use data::LabelledSeries;
pub use error::Error;
pub use metrics::Metrics;

/// Method name of our engine in reports.
pub const ENGINE: &str = "sonar-mvad";
/// Method name of the PCA baseline.
pub const PCA: &str = "pca";
/// Method name of the random baseline.
pub const RANDOM: &str = "random";

/// Settings of an evaluation besides the engine's parameters (`sonar eval --options JSON`;
/// missing keys take their defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalOptions {
    /// Seed of the random baseline.
    pub seed: u64,
    /// Largest VUS buffer `L` (rows).
    pub vus_max_buffer: usize,
    /// Share of variance the PCA baseline's components must explain.
    pub pca_variance: f64,
    /// Train on at most this many (the last) training rows; `None` = all.
    pub max_train_rows: Option<usize>,
    /// Train and score our engine (off: baselines only).
    pub engine: bool,
    /// Further scores of the same trained engine, each reported as its own method next to
    /// the faithful one ([`ENGINE`]). None by default.
    pub variants: Vec<ScoreVariant>,
}

/// A score of the same trained engine under another [`Scoring`] (the engine's `scoring`
/// parameter: standardised errors, the VAE reconstruction error blended in, a trailing mean).
/// The default is the faithful score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreVariant {
    /// Method name in reports.
    pub name: String,
    /// [`Scoring::recon_gamma`].
    pub recon_gamma: f64,
    /// [`Scoring::smooth_rows`] (0 is taken as 1).
    pub smooth_rows: usize,
    /// [`Scoring::error`].
    pub error: ErrorKind,
    /// [`Scoring::pca_gamma`].
    pub pca_gamma: f64,
}

impl Default for ScoreVariant {
    fn default() -> Self {
        Self {
            name: ENGINE.into(),
            recon_gamma: 0.0,
            smooth_rows: 1,
            error: ErrorKind::Faithful,
            pca_gamma: 0.0,
        }
    }
}

impl ScoreVariant {
    /// The engine scoring this variant stands for.
    pub fn scoring(&self) -> Scoring {
        Scoring {
            error: self.error,
            recon_gamma: self.recon_gamma,
            smooth_rows: self.smooth_rows.max(1),
            pca_gamma: self.pca_gamma,
        }
    }

    /// This variant's score of every test row.
    pub fn scores(&self, meta: &ModelMeta, outputs: &EngineOutputs) -> Vec<f64> {
        let scoring = self.scoring();
        let k = meta.variables.len();
        let werr = scoring.variable_errors(
            &outputs.windows,
            &outputs.observed,
            &meta.pct_weight,
            &meta.normalize_base,
            meta.error_scales.as_ref(),
        );
        scoring.row_scores(&werr, k)
    }
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            vus_max_buffer: 100,
            pca_variance: 0.9,
            max_train_rows: None,
            engine: true,
            variants: Vec::new(),
        }
    }
}

/// What `sonar eval` asks for: files, engine parameters and options.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRequest {
    /// Name shown in the report (a data set and series name).
    pub name: String,
    /// Training CSV (see [`data`]); a label column in it is ignored.
    pub train_csv: PathBuf,
    /// Test CSV; its label column is the ground truth unless `test_labels_csv` is given.
    pub test_csv: PathBuf,
    /// Labels in a separate one-column CSV (SMD, ASD, SMAP/MSL files), one per test row.
    pub test_labels_csv: Option<PathBuf>,
    /// Engine parameters.
    pub params: MvadParams,
    /// Evaluation options.
    pub options: EvalOptions,
    /// Scores of other scorers (e.g. the Python reference), one CSV per method: a header,
    /// then one score per test row. Measured like the built-in methods.
    pub score_files: Vec<(String, PathBuf)>,
    /// Write every method's per-row scores (and the labels) to this CSV.
    pub scores_out: Option<PathBuf>,
}

/// One method's figures on one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// [`ENGINE`], [`PCA`], [`RANDOM`], or another scorer's name.
    pub method: String,
    /// The metrics.
    pub metrics: Metrics,
    /// Wall time of fitting plus scoring, seconds.
    pub seconds: f64,
    /// Method details (components kept, epochs run).
    pub detail: String,
    /// The score of every test row (kept in memory for reports, not serialised).
    #[serde(skip)]
    pub scores: Vec<f64>,
}

impl MethodReport {
    /// Measures `scores` against `labels`.
    pub fn new(
        method: &str,
        scores: Vec<f64>,
        labels: &[bool],
        options: &EvalOptions,
        started: Instant,
        detail: String,
    ) -> Self {
        Self {
            method: method.into(),
            metrics: Metrics::compute(&scores, labels, options.vus_max_buffer),
            seconds: started.elapsed().as_secs_f64(),
            detail,
            scores,
        }
    }

    /// Measures another scorer's scores (e.g. the Python reference's), read from a
    /// one-column CSV with one score per test row.
    pub fn from_scores_file(
        method: &str,
        path: &std::path::Path,
        labels: &[bool],
        options: &EvalOptions,
        detail: String,
    ) -> Result<Self, Error> {
        let started = Instant::now();
        let scores = data::read_scores(path)?;
        if scores.len() != labels.len() {
            return Err(Error::EvalInput {
                path: path.to_path_buf(),
                problem: format!("{} scores for {} test rows", scores.len(), labels.len()),
            });
        }
        Ok(Self::new(method, scores, labels, options, started, detail))
    }
}

/// The result of one evaluation: sizes, settings and each method's metrics. The random
/// baseline is always present, so every PA-F1 can be read next to chance's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Series name.
    pub name: String,
    /// Training rows used.
    pub train_rows: usize,
    /// Test rows scored (all of them).
    pub test_rows: usize,
    /// Feature columns.
    pub features: usize,
    /// Labelled test rows.
    pub anomalous_rows: usize,
    /// Labelled events (runs) in the test rows.
    pub events: usize,
    /// Engine parameters.
    pub params: MvadParams,
    /// Evaluation options.
    pub options: EvalOptions,
    /// What the engine's training did (absent when the engine was off).
    pub training: Option<TrainingSummary>,
    /// One entry per method: the engine first (when on), then PCA, then random.
    pub methods: Vec<MethodReport>,
}

impl EvalReport {
    /// The figures of `method`, if it was evaluated.
    pub fn method(&self, method: &str) -> Option<&MethodReport> {
        self.methods.iter().find(|m| m.method == method)
    }
}

/// Loads the files of `request` and runs [`evaluate`]: what `sonar eval` calls.
pub fn run(request: EvalRequest) -> Result<EvalReport, Error> {
    let train = LabelledSeries::read(&request.train_csv)?;
    let mut test = LabelledSeries::read(&request.test_csv)?;
    if let Some(path) = &request.test_labels_csv {
        let labels = data::read_labels(path)?;
        if labels.len() != test.rows() {
            return Err(Error::EvalInput {
                path: path.clone(),
                problem: format!(
                    "{} labels for {} test rows in {}",
                    labels.len(),
                    test.rows(),
                    request.test_csv.display()
                ),
            });
        }
        test.labels = Some(labels);
    }
    if test.labels.is_none() {
        return Err(Error::EvalInput {
            path: request.test_csv.clone(),
            problem: format!(
                "no label column (one of {:?}); give the labels in their own file",
                data::LABEL_COLUMNS
            ),
        });
    }
    let mut report = evaluate(
        &request.name,
        &train,
        &test,
        &request.params,
        &request.options,
    )?;
    let labels = test.labels.as_deref().unwrap_or_default();
    for (method, path) in &request.score_files {
        let detail = format!("scores from {}", path.display());
        report.methods.push(MethodReport::from_scores_file(
            method,
            path,
            labels,
            &request.options,
            detail,
        )?);
    }
    if let Some(path) = &request.scores_out {
        write_scores(path, labels, &report.methods)?;
    }
    Ok(report)
}

/// Writes `label,<method>,…` with one line per test row.
pub fn write_scores(
    path: &std::path::Path,
    labels: &[bool],
    methods: &[MethodReport],
) -> Result<(), Error> {
    let mut text = String::from("label");
    for m in methods {
        text.push(',');
        text.push_str(&m.method);
    }
    text.push('\n');
    for (i, &l) in labels.iter().enumerate() {
        text.push_str(if l { "1" } else { "0" });
        for m in methods {
            text.push(',');
            text.push_str(&m.scores.get(i).map_or(String::new(), |s| s.to_string()));
        }
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| Error::io("writing", path, e))
}

/// Trains the engine and the PCA baseline on `train`, scores every row of `test` (which
/// must carry labels and the same columns) and computes every metric for each method.
pub fn evaluate(
    name: &str,
    train: &LabelledSeries,
    test: &LabelledSeries,
    params: &MvadParams,
    options: &EvalOptions,
) -> Result<EvalReport, Error> {
    let labels = test.labels.as_ref().ok_or_else(|| Error::EvalData {
        series: name.to_string(),
        problem: "the test series has no labels".into(),
    })?;
    if train.columns != test.columns {
        return Err(Error::EvalData {
            series: name.to_string(),
            problem: format!(
                "training columns {:?} differ from test columns {:?}",
                train.columns, test.columns
            ),
        });
    }
    let train = match options.max_train_rows {
        Some(n) => train.tail(n),
        None => train.clone(),
    };
    let k = train.columns.len();
    let mut methods = Vec::new();
    let mut training = None;
    if options.engine {
        let started = Instant::now();
        let model = sonar_mvad::fit(
            &engine_frame(&train.columns, &train.values)?,
            params,
            &mut (),
        )?;
        let outputs = engine_outputs(&model, &train, test).map_err(|problem| Error::EvalData {
            series: name.to_string(),
            problem,
        })?;
        if outputs.observed.len() != test.rows() * k {
            return Err(Error::EvalData {
                series: name.to_string(),
                problem: format!(
                    "{} engine outputs for {} test rows",
                    outputs.observed.len() / k.max(1),
                    test.rows()
                ),
            });
        }
        let summary = model.meta().training.clone();
        let detail = summary.as_ref().map_or(String::new(), |t| {
            format!("{} epochs run, best {}", t.epochs_run, t.best_epoch)
        });
        training = summary;
        // The engine as configured (the faithful score unless `scoring` says otherwise).
        let own = ScoreVariant {
            name: ENGINE.into(),
            recon_gamma: params.scoring.recon_gamma,
            smooth_rows: params.scoring.smooth_rows,
            error: params.scoring.error,
            pca_gamma: params.scoring.pca_gamma,
        };
        for v in std::iter::once(&own).chain(&options.variants) {
            methods.push(MethodReport::new(
                &v.name,
                v.scores(model.meta(), &outputs),
                labels,
                options,
                started,
                detail.clone(),
            ));
        }
    }
    let started = Instant::now();
    let pca = baselines::PcaBaseline::fit(&train.values, k, options.pca_variance);
    let detail = format!("{} of {k} components", pca.components());
    let scores = pca.scores(&test.values);
    methods.push(MethodReport::new(
        PCA, scores, labels, options, started, detail,
    ));
    let started = Instant::now();
    let scores = baselines::random_scores(test.rows(), options.seed);
    let detail = format!("seed {}", options.seed);
    methods.push(MethodReport::new(
        RANDOM, scores, labels, options, started, detail,
    ));
    Ok(EvalReport {
        name: name.to_string(),
        train_rows: train.rows(),
        test_rows: test.rows(),
        features: k,
        anomalous_rows: labels.iter().filter(|&&l| l).count(),
        events: metrics::events(labels).len(),
        params: params.clone(),
        options: options.clone(),
        training,
        methods,
    })
}

/// A frame whose row labels are zero-padded row numbers: the engine sorts rows by label, so
/// file order is kept whatever the original timestamps look like.
fn engine_frame(columns: &[String], values: &[f64]) -> Result<Frame, Error> {
    let rows = values.len() / columns.len().max(1);
    let index = (0..rows).map(|i| format!("{i:012}")).collect();
    Ok(Frame::new(index, columns.to_vec(), values.to_vec())?)
}

/// The engine's outputs for every test row: window `i` forecasts (and reconstructs) test
/// row `i`, whose values (after filling, in the data's units) are `observed[i]`.
#[derive(Debug, Clone)]
pub struct EngineOutputs {
    /// Network outputs and normalised targets, one window per test row.
    pub windows: WindowOutputs,
    /// The test rows, `[rows, k]`, model variable order.
    pub observed: Vec<f64>,
}

/// Runs the engine over every test row: the last `W` training rows give the first test
/// row's window its context, so test row `i` is the target of the window over rows
/// `i − W .. i` (training rows where `i < W`). An error is the problem, without the
/// series' name.
pub fn engine_outputs(
    model: &MvadModel,
    train: &LabelledSeries,
    test: &LabelledSeries,
) -> Result<EngineOutputs, String> {
    let meta = model.meta();
    let w = meta.windows().input;
    let context = train.tail(w);
    if context.rows() < w {
        return Err(format!(
            "{} training rows cannot give the W = {w} rows of context",
            context.rows()
        ));
    }
    let mut values = context.values.clone();
    values.extend_from_slice(&test.values);
    let frame = engine_frame(&test.columns, &values).map_err(|e| e.to_string())?;
    let prepared = preprocess::prepare(&frame, meta.fill().map_err(|e| e.to_string())?);
    if prepared.names != meta.variables {
        return Err(format!(
            "model variables {:?} differ from the data's {:?}",
            meta.variables, prepared.names
        ));
    }
    let series = meta
        .normalize_base
        .apply(&prepared.values, -INFER_CLIP, INFER_CLIP);
    let k = prepared.k();
    let ends = preprocess::window_ends(prepared.n(), w, 1);
    let windows = model.window_outputs(&series, &ends);
    if windows.x_recon.len() != windows.x_pred.len() {
        return Err("the engine returned no VAE reconstructions".into());
    }
    let observed = preprocess::rows_at(&prepared.values, k, &ends);
    Ok(EngineOutputs { windows, observed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-variable series: a sine and its double, with anomalies where the second
    /// variable jumps off the relation.
    fn series(rows: usize, phase: usize, anomalies: &[(usize, usize)]) -> LabelledSeries {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..rows {
            let x = ((i + phase) as f64 * 0.3).sin();
            let bad = anomalies.iter().any(|&(a, b)| a <= i && i < b);
            values.extend([x, 2.0 * x + if bad { 3.0 } else { 0.0 }]);
            labels.push(bad);
        }
        LabelledSeries {
            columns: vec!["a".into(), "b".into()],
            values,
            labels: Some(labels),
        }
    }

    fn tiny_params() -> MvadParams {
        MvadParams {
            sliding_window: Some(28),
            epochs: 2,
            batch_size: 16,
            interval: 2,
            ..MvadParams::default()
        }
    }

    #[test]
    fn evaluate_scores_every_test_row_for_each_method() {
        let train = series(300, 0, &[]);
        let test = series(200, 300, &[(50, 60), (150, 155)]);
        let report = evaluate(
            "tiny",
            &train,
            &test,
            &tiny_params(),
            &EvalOptions::default(),
        )
        .expect("evaluates");
        assert_eq!(report.test_rows, 200);
        assert_eq!(report.anomalous_rows, 15);
        assert_eq!(report.events, 2);
        let names: Vec<&str> = report.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, [ENGINE, PCA, RANDOM]);
        // The anomalies break the linear relation: PCA sees them perfectly.
        let pca = &report.method(PCA).expect("pca").metrics;
        assert!(pca.auc_roc.expect("defined") > 0.99, "{pca:?}");
        // The engine scored every test row (metrics are undefined on a length mismatch).
        // Two epochs on 300 rows train too little to assert detection quality here; the
        // quality report measures it.
        let ours = &report.method(ENGINE).expect("engine").metrics;
        assert!(ours.auc_roc.is_some() && ours.vus_pr.is_some(), "{ours:?}");
        let json = serde_json::to_value(&report).expect("serialises");
        assert!(
            json["methods"][0]["metrics"]["vus_pr"].is_number(),
            "{json}"
        );
    }

    #[test]
    fn a_test_row_gets_the_score_of_the_window_that_forecasts_it() {
        // Both variables far below their training range at test row 37 (and only there):
        // every error of that row saturates, so its score is the largest possible, and the
        // first row reaching it must be row 37 itself. A score shifted by one row either way
        // (the window ending at the row before or after) puts the first maximum elsewhere.
        let train = series(300, 0, &[]);
        let mut test = series(120, 300, &[]);
        let spike = 37;
        test.values[spike * 2] = -50.0;
        test.values[spike * 2 + 1] = -50.0;
        let model = sonar_mvad::fit(
            &engine_frame(&train.columns, &train.values).expect("frame"),
            &tiny_params(),
            &mut (),
        )
        .expect("fits");
        let outputs = engine_outputs(&model, &train, &test).expect("outputs");
        let meta = model.meta();
        let variant = |recon_gamma, error| ScoreVariant {
            recon_gamma,
            error,
            ..ScoreVariant::default()
        };
        let w = &meta.pct_weight;
        let top = (1f64.exp() - 1.0) * w.iter().sum::<f64>() / w.len() as f64;
        for (gamma, top) in [(0.0, top), (1.0, 2.0 * top)] {
            let e = variant(gamma, ErrorKind::Faithful).scores(meta, &outputs);
            assert_eq!(e.len(), test.rows());
            let first_max = e.iter().position(|&s| (s - top).abs() < 1e-9);
            assert_eq!(first_max, Some(spike), "{:?}", &e[spike - 2..spike + 3]);
        }
        // Unbounded: the spike row is the largest standardised error by far.
        for gamma in [0.0, 1.0] {
            let e = variant(gamma, ErrorKind::Standardised).scores(meta, &outputs);
            assert_eq!(e.len(), test.rows());
            let top = e.iter().copied().fold(f64::MIN, f64::max);
            assert_eq!(e.iter().position(|&s| s == top), Some(spike));
            let others = e.iter().enumerate().filter(|&(i, _)| i != spike);
            let next = others.map(|(_, &s)| s).fold(f64::MIN, f64::max);
            assert!(top > 100.0 * next, "{top} vs {next}");
        }
    }

    #[test]
    fn a_variant_scores_what_the_engine_scores_with_that_scoring() {
        // The same rows through the engine's own predict, with the model switched to each
        // scoring, give the variant's scores for every row predict reports.
        let train = series(300, 0, &[]);
        let test = series(120, 300, &[(40, 45)]);
        let mut model = sonar_mvad::fit(
            &engine_frame(&train.columns, &train.values).expect("frame"),
            &tiny_params(),
            &mut (),
        )
        .expect("fits");
        let outputs = engine_outputs(&model, &train, &test).expect("outputs");
        let w = model.meta().input_size;
        let mut values = train.tail(w).values;
        values.extend_from_slice(&test.values);
        let frame = engine_frame(&test.columns, &values).expect("frame");
        for (error, recon_gamma, smooth_rows, pca_gamma) in [
            (ErrorKind::Faithful, 0.0, 1, 0.0),
            (ErrorKind::Faithful, 0.5, 4, 0.0),
            (ErrorKind::Standardised, 0.0, 1, 0.0),
            (ErrorKind::Standardised, 1.0, 10, 0.0),
            (ErrorKind::Standardised, 0.5, 10, 1.0),
        ] {
            let variant = ScoreVariant {
                name: "v".into(),
                recon_gamma,
                smooth_rows,
                error,
                pca_gamma,
            };
            let expected = variant.scores(model.meta(), &outputs);
            model.meta_mut().params.as_mut().expect("ours").scoring = variant.scoring();
            let rows = model.predict(&frame, Default::default()).expect("predicts");
            let got: Vec<f64> = rows.iter().map(|r| r.score).collect();
            assert_eq!(got, expected[test.rows() - got.len()..], "{variant:?}");
        }
    }

    #[test]
    fn score_variants_parse() {
        let options: EvalOptions =
            serde_json::from_str(r#"{"variants": [{"name": "x", "smooth_rows": 3}]}"#)
                .expect("parses");
        assert_eq!(options.variants[0].recon_gamma, 0.0);
        assert_eq!(options.variants[0].error, ErrorKind::Faithful);
        let options: EvalOptions =
            serde_json::from_str(r#"{"variants": [{"name": "x", "error": "standardised"}]}"#)
                .expect("parses");
        assert_eq!(options.variants[0].error, ErrorKind::Standardised);
        assert_eq!(options.seed, EvalOptions::default().seed);
        assert!(serde_json::from_str::<EvalOptions>(r#"{"epochs": 3}"#).is_err());
    }

    #[test]
    fn run_reads_files_and_checks_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, s: &LabelledSeries, with_labels: bool| {
            let mut text = String::from(if with_labels { "a,b,label\n" } else { "a,b\n" });
            for (r, row) in s.values.chunks(2).enumerate() {
                text.push_str(&format!("{},{}", row[0], row[1]));
                if with_labels {
                    let l = s.labels.as_ref().expect("labels")[r];
                    text.push_str(if l { ",1" } else { ",0" });
                }
                text.push('\n');
            }
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("writes");
            path
        };
        let train = write("train.csv", &series(300, 0, &[]), false);
        let test = write("test.csv", &series(120, 300, &[(40, 50)]), true);
        let request = EvalRequest {
            name: "files".into(),
            train_csv: train.clone(),
            test_csv: test,
            test_labels_csv: None,
            params: tiny_params(),
            options: EvalOptions {
                engine: false,
                ..EvalOptions::default()
            },
            score_files: Vec::new(),
            scores_out: None,
        };
        let report = run(request.clone()).expect("runs");
        assert_eq!((report.train_rows, report.test_rows), (300, 120));
        assert_eq!(report.anomalous_rows, 10);
        assert!(report.method(ENGINE).is_none());
        // Another scorer's scores are measured like ours; every score can be written out.
        let perfect: String = std::iter::once("score".to_string())
            .chain((0..120).map(|i| if (40..50).contains(&i) { "1" } else { "0" }.into()))
            .collect::<Vec<_>>()
            .join("\n");
        let scores = dir.path().join("ref.csv");
        std::fs::write(&scores, perfect).expect("writes");
        let out = dir.path().join("out.csv");
        let with_ref = run(EvalRequest {
            score_files: vec![("ref".into(), scores.clone())],
            scores_out: Some(out.clone()),
            ..request.clone()
        })
        .expect("runs");
        let r = &with_ref.method("ref").expect("ref").metrics;
        assert_eq!((r.auc_roc, r.auc_pr), (Some(1.0), Some(1.0)));
        let written = std::fs::read_to_string(&out).expect("reads");
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 121);
        assert_eq!(lines[0], "label,pca,random,ref");
        assert!(
            lines[41].starts_with("1,") && lines[41].ends_with(",1"),
            "{}",
            lines[41]
        );
        std::fs::write(&scores, "score\n1\n").expect("writes");
        let err = run(EvalRequest {
            score_files: vec![("ref".into(), scores)],
            ..request.clone()
        })
        .expect_err("too few scores");
        assert!(
            err.to_string().contains("1 scores for 120 test rows"),
            "{err}"
        );
        // A test file without labels is refused with a hint.
        let err = run(EvalRequest {
            test_csv: train,
            ..request
        })
        .expect_err("no labels");
        assert!(err.to_string().contains("no label column"), "{err}");
    }
}
