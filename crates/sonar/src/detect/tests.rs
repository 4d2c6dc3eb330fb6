//! Data-driven tests of the calibration and the decision rules.

use chrono::{TimeDelta, TimeZone, Utc};
use sonar_mvad::{CorrelationChanges, RowResult};

use super::*;

fn calibration() -> Calibration {
    // median 0.1, p95 0.3, max 0.5 → spread max(0.2, 0.2) = 0.2
    Calibration::new(0.1, 0.3, 0.5)
}

fn detector(threshold: f64, k: u32) -> Detector {
    Detector {
        calibration: calibration(),
        threshold,
        min_consecutive: k,
    }
}

#[test]
fn anomaly_score_is_anchored_on_training_quantiles() {
    let check = |score: f64, expected: f64| {
        let got = calibration().anomaly_score(score);
        assert!(
            (got - expected).abs() < 1e-9,
            "score {score}: got {got}, expected {expected}"
        );
    };
    check(0.0, 0.0);
    check(0.05, 0.125);
    check(0.1, MEDIAN_SCORE);
    check(0.2, 0.375);
    check(0.3, TAIL_SCORE);
    check(0.5, 0.5 + 0.5 * (1.0 - (-1.0f64).exp()));
    check(-1.0, 0.0);
    check(f64::NAN, 0.0);
    check(f64::INFINITY, 1.0);
    check(1e9, 1.0);
}

#[test]
fn anomaly_score_is_monotone_and_bounded() {
    let c = calibration();
    let mut last = -1.0;
    for i in 0..2000 {
        let a = c.anomaly_score(i as f64 * 0.001);
        assert!((0.0..=1.0).contains(&a));
        assert!(a >= last, "not monotone at {i}");
        last = a;
    }
}

#[test]
fn degenerate_anchors_stay_finite() {
    for (m, p, x) in [
        (0.0, 0.0, 0.0),
        (f64::NAN, 0.2, 0.3),
        (0.3, 0.1, 0.0),
        (0.2, f64::INFINITY, 1.0),
    ] {
        let c = Calibration::new(m, p, x);
        for s in [0.0, 0.1, 0.5, 2.0] {
            let a = c.anomaly_score(s);
            assert!(
                a.is_finite() && (0.0..=1.0).contains(&a),
                "{m} {p} {x} {s}: {a}"
            );
        }
    }
}

/// `c` = candidate, `.` = not; `R` = reported, `.` = not.
fn check_report(k: u32, candidates: &str, prior: usize, expected: &str) {
    let flags: Vec<bool> = candidates.chars().map(|c| c == 'c').collect();
    let got: String = detector(0.5, k)
        .report(&flags, prior)
        .iter()
        .map(|r| if *r { 'R' } else { '.' })
        .collect();
    assert_eq!(got, expected, "k={k} candidates={candidates} prior={prior}");
}

#[test]
fn min_consecutive_reports_only_long_enough_runs() {
    check_report(1, "..c.cc.", 0, "..R.RR.");
    check_report(2, "..c.cc.", 0, "....RR.");
    check_report(3, "cc.ccc.cccc", 0, "...RRR.RRRR");
    check_report(3, "c", 0, ".");
    check_report(3, "", 0, "");
    // A run continuing the previous poll's candidates counts them.
    check_report(3, "cc..", 1, "RR..");
    check_report(3, "c...", 1, "....");
    check_report(2, "..cc", 5, "..RR");
    // `prior` only extends a run that starts at the first bucket.
    check_report(3, ".cc", 2, "...");
    // k = 0 behaves as 1.
    check_report(0, "c.c", 0, "R.R");
}

#[test]
fn trailing_run_carries_across_polls() {
    let check = |candidates: &str, prior: usize, expected: usize| {
        let flags: Vec<bool> = candidates.chars().map(|c| c == 'c').collect();
        assert_eq!(
            Detector::trailing_run(&flags, prior),
            expected,
            "{candidates} {prior}"
        );
    };
    check("", 3, 3);
    check("ccc", 2, 5);
    check("c.cc", 2, 2);
    check("cc.", 2, 0);
}

fn row(score: f64, is_anomaly: bool) -> RowResult {
    RowResult {
        index: String::new(),
        is_anomaly,
        score,
        severity: if is_anomaly { score / 1.718 } else { 0.0 },
        local_threshold: 0.0,
        interpretation: vec![sonar_mvad::Contribution {
            variable_name: "alert_count".into(),
            contribution_score: 1.0,
            correlation_changes: CorrelationChanges {
                changed_variables: vec!["rule.level".into()],
                changed_values: vec![0.5],
            },
            observed: 40.0,
            expected: 3.0,
        }],
    }
}

#[test]
fn candidate_needs_engine_decision_and_threshold() {
    let t0 = Utc
        .with_ymd_and_hms(2024, 5, 8, 10, 0, 0)
        .single()
        .expect("time");
    // (raw score, engine flag, threshold, expected candidate)
    let table = [
        (0.9, true, 0.7, true),
        (0.9, false, 0.7, false), // the engine's local threshold says no
        (0.31, true, 0.7, false), // just above p95: anomaly_score ≈ 0.52 < 0.7
        (0.31, true, 0.5, true),
        (0.05, true, 0.0, true), // threshold 0 defers to the engine
    ];
    for (score, engine, threshold, expected) in table {
        let j = detector(threshold, 1).judge(t0, &row(score, engine));
        assert_eq!(j.candidate, expected, "{score} {engine} {threshold}");
        assert_eq!(j.engine_anomaly, engine);
    }
}

#[test]
fn decide_emits_new_buckets_and_late_reportable_old_ones() {
    let t0 = Utc
        .with_ymd_and_hms(2024, 5, 8, 10, 0, 0)
        .single()
        .expect("time");
    let step = TimeDelta::minutes(5);
    let starts: Vec<_> = (0..4).map(|i| t0 + step * i).collect();
    // Old bucket 0 was a lone candidate last poll; with bucket 1 the run reaches 2.
    let results = vec![
        row(0.9, true),
        row(0.9, true),
        row(0.0, false),
        row(0.9, true),
    ];
    let (buckets, trailing) =
        detector(0.6, 2).decide(&results, &starts, step, &[7, 8, 9, 10], 1, 0);
    let got: Vec<(i64, bool, u64)> = buckets
        .iter()
        .map(|b| ((b.start - t0).num_minutes(), b.is_anomaly, b.alert_count))
        .collect();
    assert_eq!(
        got,
        vec![(0, true, 7), (5, true, 8), (10, false, 9), (15, false, 10)]
    );
    assert_eq!(trailing, 1);
    assert_eq!(buckets[0].end, t0 + step);
    assert_eq!(buckets[0].contributions[0].correlation_changes[0].1, 0.5);

    // The same old bucket is not re-emitted when it stays unreported.
    let (buckets, _) = detector(0.6, 3).decide(&results, &starts, step, &[7, 8, 9, 10], 1, 0);
    assert_eq!(buckets.len(), 3);
    assert!(buckets.iter().all(|b| !b.is_anomaly));
}

#[test]
fn calibration_from_model_metadata() {
    let meta_json = serde_json::json!({
        "variables": ["a"], "input_size": 10, "threshold_window": 10,
        "normalize_base": {"min_values": [0.0], "max_values": [1.0]},
        "pct_weight": [1.0], "threshold": 0.2,
        "train_score_max": 0.6,
        "train_score_quantiles": [[0.5, 0.1], [0.95, 0.4], [1.0, 0.6]]
    });
    let meta: sonar_mvad::ModelMeta = serde_json::from_value(meta_json).expect("metadata parses");
    let c = Calibration::from_meta(&meta);
    assert_eq!(c, Calibration::new(0.1, 0.4, 0.6));
    let mut meta = meta;
    meta.train_score_quantiles = None;
    assert_eq!(
        Calibration::from_meta(&meta),
        Calibration::new(0.2, 0.6, 0.6)
    );
}
