//! The small-data rule (docs/configuration.md) through the whole training pipeline in debug mode: a
//! scenario that leaves `sliding_window` at its default trains on too few buckets with a
//! smaller window (recorded in the model), an explicitly set window is still the clear
//! "not enough training data" error.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use sonar::config::{resolve, ConfigFile, Environment, Overrides, ScenarioFile, Settings};
use sonar::pipeline::{self, SimulatedClock, StopFlag};
use sonar::Error;

/// `hours` hourly buckets of alerts (two per hour, ten minutes in) in `dir/alerts.ndjson`.
fn write_alerts(dir: &Path, hours: i64) {
    let start: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().expect("time");
    let mut text = String::new();
    for h in 0..hours {
        for (minute, level) in [(10, 3 + h % 4), (40, 5)] {
            let t = start + TimeDelta::hours(h) + TimeDelta::minutes(minute);
            text.push_str(&format!(
                "{{\"timestamp\": \"{}\", \"rule\": {{\"level\": {level}}}, \"data\": {{\"n\": {}}}}}\n",
                t.to_rfc3339(),
                (h * 7 + minute) % 11
            ));
        }
    }
    std::fs::write(dir.join("alerts.ndjson"), text).expect("write alerts");
}

/// Debug-mode settings for an hourly scenario in `dir` with `training_extra` YAML.
fn settings(dir: &Path, training_extra: &str) -> Settings {
    let config = ConfigFile::parse(
        "model_path: models/m\ndebug: {data_dir: ., training_data_file: alerts.ndjson, \
         detection_data_file: alerts.ndjson}\n",
        &dir.join("config.yaml"),
    )
    .expect("config");
    let scenario = ScenarioFile::parse(
        &format!(
            "name: small\ntraining:\n  bucket_minutes: 60\n  derived_features: false\n  \
             numeric_fields: [rule.level, data.n]\n  \
             extra_params: {{epochs: 1, batch_size: 8}}\n{training_extra}"
        ),
        &dir.join("small.yaml"),
    )
    .expect("scenario");
    let flags = Overrides {
        debug: true,
        ..Overrides::default()
    };
    resolve(
        Some(&config),
        Some(&scenario),
        &Environment::default(),
        &flags,
    )
    .expect("valid settings")
}

fn train(settings: &Settings) -> Result<pipeline::TrainOutcome, Error> {
    let clock = SimulatedClock::new("2024-06-01T00:00:00Z".parse().expect("time"));
    pipeline::train(settings, &clock, &mut (), &StopFlag::new(), false)
}

fn saved_window(settings: &Settings) -> serde_json::Value {
    let meta = settings.model_path.join(sonar_mvad::META_FILE);
    let text = std::fs::read_to_string(&meta).expect("model metadata");
    let meta: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    meta["sliding_window"].clone()
}

#[test]
fn a_default_window_shrinks_to_fit_a_week_of_hourly_buckets() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_alerts(dir.path(), 168);
    let settings = settings(dir.path(), "");
    assert!(!settings.mvad.sliding_window_given);
    assert_eq!(settings.mvad.sliding_window.get(), 200);
    let outcome = train(&settings).expect("trains with a smaller window");
    // 168 buckets: the largest window whose `window + 1` buckets fit is 167.
    assert_eq!(outcome.sliding_window, 167);
    assert_eq!(saved_window(&settings), 167);
}

#[test]
fn an_explicit_window_is_still_the_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_alerts(dir.path(), 168);
    let settings = settings(dir.path(), "  sliding_window: 200\n");
    assert!(settings.mvad.sliding_window_given);
    let error = train(&settings).expect_err("too few buckets for the set window");
    assert!(
        matches!(
            error,
            Error::NotEnoughTrainingData {
                rows: 168,
                needed: 201,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("need at least 201") && message.contains("--lookback-hours"),
        "{message}"
    );
}

#[test]
fn below_the_smallest_window_the_default_is_the_clear_error_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_alerts(dir.path(), 20);
    let settings = settings(dir.path(), "");
    let error = train(&settings).expect_err("20 buckets fit no window");
    assert!(
        matches!(error, Error::NotEnoughTrainingData { rows: 20, .. }),
        "{error:?}"
    );
}
