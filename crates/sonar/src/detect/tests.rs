//! Data-driven tests of the calibration and the decision rules.

use chrono::{TimeDelta, TimeZone, Utc};
use sonar_mvad::{CorrelationChanges, RowResult};

use super::*;

fn calibration() -> Calibration {
    // Scores 0.00, 0.01, …, 0.99: the body is uniform on [0, 1).
    let scores: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
    Calibration::fit(&scores).expect("fits")
}

fn detector(threshold: f64, k: u32) -> Detector {
    Detector {
        calibration: calibration(),
        threshold,
        min_consecutive: k,
        engine_gate: false,
    }
}

#[test]
fn anomaly_score_is_the_rarity_under_normal_scores() {
    let c = calibration();
    let check = |score: f64, expected: f64| {
        let got = c.anomaly_score(score);
        assert!(
            (got - expected).abs() < 0.02,
            "score {score}: got {got}, expected {expected}"
        );
    };
    check(0.0, 0.0);
    check(0.25, 0.25);
    check(0.5, 0.5);
    check(0.8, 0.8);
    check(-1.0, 0.0);
    check(f64::NAN, 0.0);
    check(f64::INFINITY, 1.0);
    check(1e9, 1.0);
    // Past the largest calibration score the tail keeps going up.
    assert!(c.anomaly_score(1.2) > c.anomaly_score(0.99));
    assert!(c.anomaly_score(2.0) > 0.999);
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
fn false_alarm_rate_sets_the_threshold() {
    // 0.5 false buckets a day at 5-minute buckets: 1 in 576.
    assert!((threshold_for_rate(0.5, 5) - (1.0 - 1.0 / 576.0)).abs() < 1e-12);
    assert!((threshold_for_rate(24.0, 60) - 0.0).abs() < 1e-12);
    assert_eq!(threshold_for_rate(1e9, 5), 0.0);
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
fn candidate_needs_the_threshold_and_the_engine_only_with_the_gate() {
    let t0 = Utc
        .with_ymd_and_hms(2024, 5, 8, 10, 0, 0)
        .single()
        .expect("time");
    // (raw score, engine flag, threshold, gate, expected candidate)
    let table = [
        (0.9, true, 0.7, false, true),
        (0.9, false, 0.7, false, true), // no gate: the engine's local threshold is not asked
        (0.9, false, 0.7, true, false), // with the gate it says no
        (0.31, true, 0.7, false, false), // anomaly_score ≈ 0.31 < 0.7
        (0.31, true, 0.3, false, true),
        (0.05, true, 0.0, true, true),
    ];
    for (score, engine, threshold, gate, expected) in table {
        let d = Detector {
            engine_gate: gate,
            ..detector(threshold, 1)
        };
        let j = d.judge(t0, &row(score, engine));
        assert_eq!(j.candidate, expected, "{score} {engine} {threshold} {gate}");
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
        "train_score_max": 0.6, "train_score_min": 0.0,
        "train_score_quantiles": [[0.5, 0.1], [0.8, 0.2], [0.9, 0.3], [0.95, 0.4], [1.0, 0.6]]
    });
    let meta: sonar_mvad::ModelMeta = serde_json::from_value(meta_json).expect("metadata parses");
    // Older models: built from the training quantiles.
    let c = meta.calibration();
    assert!((c.anomaly_score(0.1) - 0.5).abs() < 1e-9, "{c:?}");
    assert!((c.anomaly_score(0.2) - 0.8).abs() < 1e-9, "{c:?}");
    assert!((c.anomaly_score(0.3) - 0.9).abs() < 1e-6, "{c:?}");
    // Reference exports: an exponential tail from the model threshold.
    let mut meta = meta;
    meta.train_score_quantiles = None;
    let c = meta.calibration();
    assert!((c.tail_probability(0.6) - 1e-3).abs() < 1e-9, "{c:?}");
    // A stored calibration wins.
    meta.calibration = Calibration::fit(&[1.0, 2.0, 3.0]);
    assert_eq!(meta.calibration(), meta.calibration.clone().expect("set"));
}
