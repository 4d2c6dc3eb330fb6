//! The two local-threshold rules (`detection.threshold_rule: lagged | trailing`) on the bundled
//! demo data: for each bundled scenario, train once in debug mode, then detect the demo's
//! detection file with each rule and count what the scenario reports and how many of the
//! labelled attacks (demo/labels.json) get a reported bucket.
//!
//! `cargo run --release -p sonar --example threshold_rules_demo` (prints a Markdown table;
//! docs/mvad.md has the result).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sonar::config::{Overrides, Settings};
use sonar::pipeline::{self, DetectRequest, LoadedModel, StopFlag, SystemClock};
use sonar::sink::{AnomalyDocument, AnomalySink, WriteReport};
use sonar_mvad::ThresholdRule;

/// Keeps the documents in memory.
#[derive(Default)]
struct Collect(Vec<Value>);

impl AnomalySink for Collect {
    fn write(&mut self, docs: &[AnomalyDocument]) -> Result<WriteReport, sonar::Error> {
        self.0.extend(docs.iter().map(|d| d.body.clone()));
        let mut report = WriteReport::new("memory");
        report.submitted = docs.len();
        report.written = docs.len();
        Ok(report)
    }

    fn destination(&self) -> String {
        "memory".into()
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
        .or_else(|_| {
            DateTime::parse_from_str(v.as_str().unwrap_or_default(), "%Y-%m-%dT%H:%M:%S%.3f%z")
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let labels: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("demo/labels.json"))?)?;
    let models = std::env::temp_dir().join("sonar-threshold-rules-demo");
    println!(
        "| scenario | rule | buckets scored | reported anomalies | events | labelled attacks hit |"
    );
    println!("|---|---|---|---|---|---|");
    for stem in [
        "brute_force_detection",
        "lateral_movement_detection",
        "privilege_escalation_detection",
        "linux_resource_monitoring",
        "example_scenario",
    ] {
        let flags = Overrides {
            debug: true,
            ..Overrides::default()
        };
        let scenario = root.join(format!("scenarios/{stem}.yaml"));
        let mut settings = Settings::load(None, Some(&scenario), &flags)?;
        settings.model_path = models.join(stem);
        let stop = StopFlag::new();
        pipeline::train(&settings, &SystemClock, &mut (), &stop, false)?;
        let model = LoadedModel::load(&settings.model_path)?;
        let attacks: Vec<&Value> = labels
            .iter()
            .filter(|l| l["scenario"].as_str() == Some(stem))
            .collect();
        for rule in [ThresholdRule::Lagged, ThresholdRule::Trailing] {
            settings.detection.threshold_rule = rule;
            let mut sink = Collect::default();
            let outcome = pipeline::detect(
                &settings,
                &model,
                &DetectRequest::default(),
                &mut sink,
                &SystemClock,
                &mut (),
                &stop,
            )?;
            let reported: Vec<DateTime<Utc>> = sink
                .0
                .iter()
                .filter(|d| d["is_anomaly"] == true)
                .map(|d| time(&d["timestamp"]))
                .collect();
            let hit = attacks
                .iter()
                .filter(|a| {
                    let (s, e) = (time(&a["start"]), time(&a["end"]));
                    reported.iter().any(|t| s <= *t && *t < e)
                })
                .count();
            println!(
                "| {stem} | {rule:?} | {} | {} | {} | {hit} of {} |",
                outcome.summary.scored,
                reported.len(),
                outcome.summary.events,
                attacks.len()
            );
        }
    }
    Ok(())
}
