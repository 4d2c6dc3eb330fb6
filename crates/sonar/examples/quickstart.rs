//! Library quick start: the seed's Python API walk-through, in Rust.
//!
//! Python (the original)                      Rust (this file)
//! cfg = PipelineConfig()                     Settings::load(...)
//! client = WazuhIndexerClient(cfg.wazuh)     pipeline::open_source (indexer, or local files)
//! alerts = client.search_alerts(start, end)  AlertSource::stream(query, on_page)
//! ts = fb.build_timeseries(alerts)           WazuhFeatureBuilder::for_training(..).push_page(..).finish()
//! engine.train(ts); engine.save()            sonar_mvad::fit(..); engine.save(dir)
//! engine2.load(); engine2.predict(recent)    MvadModelEngine::load(dir); engine2.predict(frame, ..)
//! pp.build_wazuh_anomaly_docs(...)           Detector::decide + MvadPostProcessor::build_anomaly_documents
//!
//! Runs on the bundled demo data (debug mode), with few epochs so it takes seconds:
//! `cargo run -p sonar --example quickstart`

use std::path::Path;

use sonar::config::{Overrides, Settings};
use sonar::detect::{assign_events, Detector};
use sonar::features::FeatureSchema;
use sonar::pipeline::{self, Phase};
use sonar::source::{AlertQuery, TimeRange};
use sonar::{sonar_mvad, MvadModelEngine, MvadPostProcessor, WazuhFeatureBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load configuration: defaults < config file < scenario < environment < flags.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let flags = Overrides {
        debug: true,
        ..Overrides::default()
    };
    let scenario = root.join("scenarios/brute_force_detection.yaml");
    let mut cfg = Settings::load(None, Some(&scenario), &flags)?;
    cfg.mvad
        .extra_params
        .insert("epochs".into(), serde_json::json!(3));

    // "Connect" (debug mode: the local demo files) and fetch the training window.
    let plan = cfg.features.validate()?;
    let range = pipeline::file_extent(&cfg.debug.training_data, "timestamp")?
        .ok_or("the training file holds no alert")?;
    let range = TimeRange {
        start: plan.bucket.floor(range.start),
        end: plan.bucket.ceil(range.end),
    };
    let mut client = pipeline::open_source(&cfg, Phase::Training)?;
    let query = AlertQuery {
        range,
        timestamp_field: "timestamp".into(),
        fields: Vec::new(),
        alert_filter: None,
    };

    // Build the time series features while the alerts stream in.
    let mut fb = WazuhFeatureBuilder::for_training(&plan, range)?;
    client.stream(&query, &mut |page| {
        fb.push_page(&page);
        Ok(())
    })?;
    let ts_data = fb.finish();
    println!("{} buckets × {} features", ts_data.rows(), ts_data.cols());

    // Train the model, keep the feature schema with it, save it.
    let params = pipeline::mvad_params(&cfg)?;
    let mut engine = sonar_mvad::fit(&ts_data.to_frame()?, &params, &mut ())?;
    engine.meta_mut().schema = Some(serde_json::to_value(&ts_data.schema)?);
    let dir = std::env::temp_dir().join("sonar-quickstart-model");
    engine.save(&dir)?;

    // Later: load the model and score recent alerts with exactly the training columns.
    let engine2 = MvadModelEngine::load(&dir)?;
    let schema: FeatureSchema = serde_json::from_value(
        engine2
            .meta()
            .schema
            .clone()
            .ok_or("model without schema")?,
    )?;
    let recent = pipeline::file_extent(&cfg.debug.detection_data, "timestamp")?
        .ok_or("the detection file holds no alert")?;
    let step = plan.bucket.step();
    let recent = TimeRange {
        // The model's context: W + TW − 1 buckets before the first scored one.
        start: plan.bucket.floor(recent.start) - step * (engine2.min_rows() as i32 - 1),
        end: plan.bucket.ceil(recent.end),
    };
    let mut fb2 = WazuhFeatureBuilder::for_detection(&schema, recent)?;
    let mut recent_source = pipeline::open_source(&cfg, Phase::Detection)?;
    recent_source.stream(
        &AlertQuery {
            range: recent,
            ..query
        },
        &mut |page| {
            fb2.push_page(&page);
            Ok(())
        },
    )?;
    let recent_ts = fb2.finish();
    let results = engine2.predict(&recent_ts.to_frame()?, Default::default())?;

    // Post-process: threshold + min_consecutive, events, Wazuh anomaly documents.
    let detector = Detector::new(
        engine2.meta(),
        cfg.detection.threshold,
        cfg.detection.min_consecutive,
    );
    let offset = recent_ts.rows() - results.len();
    let (mut buckets, _) = detector.decide(
        &results,
        &recent_ts.bucket_starts[offset..],
        step,
        &recent_ts.alert_counts[offset..],
        0,
        0,
    );
    let events = assign_events(&cfg.shipping.scenario_id, &mut buckets);
    let pp = MvadPostProcessor {
        scenario_id: cfg.shipping.scenario_id.clone(),
        scenario_name: "Brute Force Detection".into(),
        model_name: cfg.model_name.clone(),
        model_version: env!("CARGO_PKG_VERSION").into(),
        model_path: dir.display().to_string(),
        feature_names: engine2.variables().to_vec(),
        training_samples: ts_data.rows() as u64,
        sliding_window: cfg.mvad.sliding_window.get(),
        bucket_minutes: schema.bucket_minutes,
        lookback_minutes: 0,
        threshold: cfg.detection.threshold,
        detection_timestamp: chrono::Utc::now(),
        top_contributors: 5,
        entity: None,
    };
    let docs = pp.build_anomaly_documents(&buckets);
    println!(
        "{} anomalous buckets in {} events",
        docs.len(),
        events.len()
    );
    if let Some(first) = docs.first() {
        println!("{}", serde_json::to_string_pretty(&first.body)?);
    }
    Ok(())
}
