//! Detection quality, measured: train our engine on a training series, score a labelled test
//! series, and compute threshold-free and point-wise metrics ([`metrics`]) for it and for the
//! baselines ([`baselines`]: random score, PCA reconstruction error).
//!
//! Scoring covers EVERY test row: the engine's windows need `W` rows of context, so the last
//! `W` training rows are put in front of the test rows and one window ends at each test row
//! (our own loop over `MvadModel::window_outputs`; `predict` would drop the first `TW − 1`
//! rows for its local threshold, which threshold-free metrics do not need). The row score is
//! the engine's: the mean of the weighted per-variable errors.
//!
//! Entry points: [`run`] (CSV files in, used by `sonar eval`) and [`evaluate`] (series in
//! memory, used by the quality report example).

pub mod baselines;
pub mod data;
pub mod metrics;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sonar_mvad::preprocess::{self, INFER_CLIP};
use sonar_mvad::{score, Frame, MvadModel, MvadParams, TrainingSummary};

pub use data::LabelledSeries;
pub use metrics::Metrics;

use crate::error::Error;

/// Method name of our engine in reports.
pub const ENGINE: &str = "sonar-mvad";
/// Method name of the PCA baseline.
pub const PCA: &str = "pca";
/// Method name of the random baseline.
pub const RANDOM: &str = "random";

/// Settings of an evaluation besides the engine's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            vus_max_buffer: 100,
            pca_variance: 0.9,
            max_train_rows: None,
            engine: true,
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
    evaluate(
        &request.name,
        &train,
        &test,
        &request.params,
        &request.options,
    )
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
    let l = options.vus_max_buffer;
    let mut methods = Vec::new();
    let mut training = None;
    if options.engine {
        let started = Instant::now();
        let model = sonar_mvad::fit(
            &engine_frame(&train.columns, &train.values)?,
            params,
            &mut (),
        )?;
        let scores = engine_scores(&model, &train, test)?;
        if scores.len() != test.rows() {
            return Err(Error::EvalData {
                series: name.to_string(),
                problem: format!(
                    "{} engine scores for {} test rows",
                    scores.len(),
                    test.rows()
                ),
            });
        }
        let summary = model.meta().training.clone();
        let detail = summary.as_ref().map_or(String::new(), |t| {
            format!("{} epochs run, best {}", t.epochs_run, t.best_epoch)
        });
        training = summary;
        methods.push(MethodReport {
            method: ENGINE.into(),
            metrics: Metrics::compute(&scores, labels, l),
            seconds: started.elapsed().as_secs_f64(),
            detail,
        });
    }
    let started = Instant::now();
    let pca = baselines::PcaBaseline::fit(&train.values, k, options.pca_variance);
    let scores = pca.scores(&test.values);
    methods.push(MethodReport {
        method: PCA.into(),
        metrics: Metrics::compute(&scores, labels, l),
        seconds: started.elapsed().as_secs_f64(),
        detail: format!("{} of {k} components", pca.components()),
    });
    let started = Instant::now();
    let scores = baselines::random_scores(test.rows(), options.seed);
    methods.push(MethodReport {
        method: RANDOM.into(),
        metrics: Metrics::compute(&scores, labels, l),
        seconds: started.elapsed().as_secs_f64(),
        detail: format!("seed {}", options.seed),
    });
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

/// The engine's score of every test row: the last `W` training rows give the first test
/// row's window its context.
pub fn engine_scores(
    model: &MvadModel,
    train: &LabelledSeries,
    test: &LabelledSeries,
) -> Result<Vec<f64>, Error> {
    let meta = model.meta();
    let w = meta.windows().input;
    let context = train.tail(w);
    if context.rows() < w {
        return Err(Error::EvalData {
            series: String::new(),
            problem: format!(
                "{} training rows cannot give the W = {w} rows of context",
                context.rows()
            ),
        });
    }
    let mut values = context.values.clone();
    values.extend_from_slice(&test.values);
    let frame = engine_frame(&test.columns, &values)?;
    let prepared = preprocess::prepare(&frame, meta.fill()?);
    if prepared.names != meta.variables {
        return Err(Error::EvalData {
            series: String::new(),
            problem: format!(
                "model variables {:?} differ from the data's {:?}",
                meta.variables, prepared.names
            ),
        });
    }
    let series = meta
        .normalize_base
        .apply(&prepared.values, -INFER_CLIP, INFER_CLIP);
    let ends = preprocess::window_ends(prepared.n(), w, 1);
    let out = model.window_outputs(&series, &ends);
    let werr = score::weighted_errors(&out.x_pred, &out.target, &meta.pct_weight);
    Ok(score::row_scores(&werr, prepared.k()))
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
        };
        let report = run(request.clone()).expect("runs");
        assert_eq!((report.train_rows, report.test_rows), (300, 120));
        assert_eq!(report.anomalous_rows, 10);
        assert!(report.method(ENGINE).is_none());
        // A test file without labels is refused with a hint.
        let err = run(EvalRequest {
            test_csv: train,
            ..request
        })
        .expect_err("no labels");
        assert!(err.to_string().contains("no label column"), "{err}");
    }
}
