//! The streaming scorer equals batch predict over the same rows, one window per new row, and
//! its state survives a save/restore.

use std::path::Path;

use sonar_mvad::subspace::{Subspace, KEPT_VARIANCE};
use sonar_mvad::{
    ErrorKind, ErrorScales, Frame, MvadModel, MvadParams, PredictOptions, RowResult, ScorerState,
    Scoring, StreamingScorer, ThresholdRule,
};

fn golden(case: &str, file: &str) -> (MvadModel, Frame) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case);
    let model = MvadModel::load(&dir).expect("load");
    let frame =
        Frame::from_csv(&std::fs::read_to_string(dir.join(file)).expect("csv")).expect("frame");
    (model, frame)
}

/// Rows `start..end` of a frame.
fn rows(f: &Frame, start: usize, end: usize) -> Frame {
    let k = f.n_cols();
    Frame::new(
        f.index()[start..end].to_vec(),
        f.columns().to_vec(),
        f.values()[start * k..end * k].to_vec(),
    )
    .expect("slice")
}

/// A scorer state through JSON and back, as a restarted process reads it.
fn reloaded(state: &ScorerState) -> ScorerState {
    serde_json::from_str(&serde_json::to_string(state).expect("serialise")).expect("parse")
}

fn assert_same(batch: &[RowResult], streamed: &[RowResult]) {
    assert_eq!(batch.len(), streamed.len());
    for (a, b) in batch.iter().zip(streamed) {
        assert_eq!(a.index, b.index);
        assert!(
            (a.score - b.score).abs() < 1e-6,
            "{}: {} vs {}",
            a.index,
            a.score,
            b.score
        );
        assert!(
            (a.local_threshold - b.local_threshold).abs() < 1e-6,
            "{}",
            a.index
        );
        assert_eq!(a.is_anomaly, b.is_anomaly, "{}", a.index);
        let names = |r: &RowResult| {
            r.interpretation
                .iter()
                .map(|c| c.variable_name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(a), names(b), "{}", a.index);
    }
}

#[test]
fn streaming_equals_batch_predict_in_any_chunking() {
    for rule in [ThresholdRule::Lagged, ThresholdRule::Trailing] {
        let (model, frame) = golden("alerts10", "predict.csv");
        let batch = model
            .predict(
                &frame,
                PredictOptions {
                    rule,
                    ..Default::default()
                },
            )
            .expect("batch");
        let mut scorer = StreamingScorer::new(&model, rule);
        let mut streamed = Vec::new();
        // One row at a time at first, then uneven chunks.
        let mut cuts: Vec<usize> = (0..=210).collect();
        cuts.extend([217, 300, 301, 450, frame.n_rows()]);
        for pair in cuts.windows(2) {
            streamed.extend(
                scorer
                    .push_frame(&rows(&frame, pair[0], pair[1]), false)
                    .expect("push"),
            );
        }
        assert_eq!(
            scorer.state().windows_scored() as usize,
            frame.n_rows() - model.meta().input_size
        );
        assert_same(&batch, &streamed);
    }
}

#[test]
fn state_round_trips_and_resumes() {
    let (model, frame) = golden("sines3_e15", "predict.csv");
    let batch = model
        .predict(&frame, PredictOptions::default())
        .expect("batch");
    let mut first = StreamingScorer::new(&model, ThresholdRule::Lagged);
    let mut streamed = first
        .push_frame(&rows(&frame, 0, 150), false)
        .expect("push");
    let saved = reloaded(first.state());
    let mut resumed = StreamingScorer::resume(&model, saved.clone()).expect("resume");
    streamed.extend(
        resumed
            .push_frame(&rows(&frame, 150, frame.n_rows()), false)
            .expect("push"),
    );
    assert_same(&batch, &streamed);

    // Rows already scored are refused, not scored twice.
    let err = resumed
        .push_frame(&rows(&frame, 390, 400), false)
        .expect_err("replay");
    assert!(
        err.to_string().contains("not after the last scored row"),
        "{err}"
    );

    // A state from another model is refused.
    let (other, _) = golden("sines3", "predict.csv");
    let err = StreamingScorer::resume(&other, saved).expect_err("other model");
    assert!(err.to_string().contains("another model"), "{err}");
}

/// A golden model switched to standardised, reconstruction-blended, smoothed scoring (with
/// made-up error scales: what is compared is batch against streaming).
fn improved(case: &str) -> (MvadModel, Frame) {
    let (mut model, frame) = golden(case, "predict.csv");
    let k = model.variables().len();
    let meta = model.meta_mut();
    meta.params = Some(MvadParams {
        scoring: Scoring {
            error: ErrorKind::Standardised,
            recon_gamma: 0.5,
            smooth_rows: 7,
            pca_gamma: 1.0,
        },
        ..MvadParams::default()
    });
    let mut subspace = Subspace::fit(frame.values(), k, KEPT_VARIANCE).expect("rows");
    subspace.measure_scale(frame.values(), &vec![true; frame.n_rows()]);
    meta.error_scales = Some(ErrorScales {
        forecast: (0..k).map(|j| 0.05 + 0.01 * j as f64).collect(),
        recon: vec![0.2; k],
        windows: 100,
        subspace: Some(subspace),
    });
    (model, frame)
}

#[test]
fn streaming_equals_batch_with_improved_scoring_across_a_restart() {
    let (model, frame) = improved("alerts10");
    let batch = model
        .predict(&frame, PredictOptions::default())
        .expect("batch");
    assert!(batch.iter().any(|r| r.score > 1.0), "unbounded scores");
    let mut first = StreamingScorer::new(&model, ThresholdRule::Lagged);
    let mut streamed = Vec::new();
    for pair in [0, 120, 203, 204, 205, 260].windows(2) {
        streamed.extend(
            first
                .push_frame(&rows(&frame, pair[0], pair[1]), false)
                .expect("push"),
        );
    }
    // The smoother's recent scores travel with the saved state.
    let saved = reloaded(first.state());
    let mut resumed = StreamingScorer::resume(&model, saved.clone()).expect("resume");
    streamed.extend(
        resumed
            .push_frame(&rows(&frame, 260, frame.n_rows()), false)
            .expect("push"),
    );
    assert_same(&batch, &streamed);

    // A state of the same weights scored the reference's way is refused.
    let (faithful, _) = golden("alerts10", "predict.csv");
    let err = StreamingScorer::resume(&faithful, saved).expect_err("other scoring");
    assert!(err.to_string().contains("another model"), "{err}");
}
