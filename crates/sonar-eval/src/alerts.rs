//! Detection quality on alert data, at the operating point a user gets (`sonar eval --alerts`,
//! docs/quality.md "Alert data at the default threshold").
//!
//! An alert set (Wazuh alerts in any format debug mode reads, or an AIT-ADS alert CSV) is split
//! into a training period and a detection period. The scenario's own pipeline then runs on
//! them exactly as `sonar scenario --debug` would: features, fit, calibration, streaming
//! detection at the scenario's `threshold` and `min_consecutive`, events. What it reports is
//! measured against labelled attack windows:
//! - each attack phase: hit (an event overlaps it) or miss, and the detection delay;
//! - the chain (first phase start .. last phase end): hit when an event overlaps it;
//! - events: how many, how many overlap an attack, false events per day of detection;
//! - bucket-level VUS-PR of `anomaly_score` (a bucket is positive when it overlaps a phase).
//!
//! Methods: the scenario as written ([`DEFAULT`]), the same scenario with the faithful
//! scoring ([`FAITHFUL`]), and a PCA reconstruction error over the same feature columns
//! ([`PCA_ALERTS`]), calibrated on held-out training rows and thresholded the same way.
//!
//! A per-entity scenario (`training.entity_field`, docs/entities.md) trains and detects its
//! model set; a bucket's score is then the highest of its entities' (the fleet view), a phase
//! is hit when any entity's event overlaps it, and events are counted per entity, as an
//! analyst sees them. Its PCA baseline stays fleet-wide.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sonar_mvad::ScoreCalibration;

use super::baselines::PcaBaseline;
use super::metrics::vus_pr;
use crate::Error;
use sonar::config::{DetectionMode, Settings};
use sonar::detect::{group_events_after, AnomalyEvent, Detector, ScoredBucket};
use sonar::features::{BucketWidth, FeatureBuilder, FeatureMatrix};
use sonar::field::FieldPath;
use sonar::pipeline::{self, DetectRequest, LoadedModel, StopFlag, SystemClock};
use sonar::sink::{JsonlSink, WriteInspector};
use sonar::source::local::LocalFiles;
use sonar::source::timestamp::parse_timestamp_value;
use sonar::source::{AlertQuery, AlertSource, TimeRange};

/// Method name of the scenario as written (the defaults a user gets).
pub const DEFAULT: &str = "default";
/// Method name of the scenario with `scoring: faithful`.
pub const FAITHFUL: &str = "faithful";
/// Method name of the PCA baseline on the scenario's features.
pub const PCA_ALERTS: &str = "pca";
/// Every method, in report order.
pub const METHODS: [&str; 3] = [DEFAULT, FAITHFUL, PCA_ALERTS];

/// Share of the training rows the PCA baseline is fitted on; the rest calibrate its score.
const PCA_FIT_SHARE: f64 = 0.8;
/// Largest VUS buffer (buckets).
const VUS_MAX_BUFFER: usize = 12;

/// One labelled attack window `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackWindow {
    /// Phase name (`time_label` in AIT-ADS, `name` in demo/labels.json).
    pub name: String,
    /// First instant of the phase.
    pub start: DateTime<Utc>,
    /// First instant after the phase.
    pub end: DateTime<Utc>,
}

impl AttackWindow {
    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        start < self.end && self.start < end
    }
}

/// Where the attack windows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Attacks {
    /// The `time_label` column of an AIT-ADS CSV: one window per label, from its first to its
    /// last alert (`false_positive` and `-` are not attacks).
    TimeLabel,
    /// A JSON array of `{name, start, end}` objects (as demo/labels.json; entries with a
    /// `file` field count only when it names the detection file, entries with a `scenario`
    /// field only when it is the scenario file's stem).
    File(PathBuf),
}

/// What `sonar eval --alerts` asks for.
#[derive(Debug, Clone)]
pub struct AlertEvalRequest {
    /// The scenario's settings (config < scenario < flags), as a run would use them.
    pub settings: Settings,
    /// The scenario file's stem (selects the `scenario` entries of an attack file).
    pub scenario_stem: Option<String>,
    /// The alerts: all of them (split at `train_until`), or the training ones when
    /// `detect_alerts` is given.
    pub alerts: PathBuf,
    /// Separate detection alerts.
    pub detect_alerts: Option<PathBuf>,
    /// The attack windows.
    pub attacks: Attacks,
    /// End of training when `alerts` holds both periods (default: the first attack's start,
    /// floored to a bucket).
    pub train_until: Option<DateTime<Utc>>,
    /// Methods to run (names from [`METHODS`]).
    pub methods: Vec<String>,
    /// Scratch directory for the split files, models and anomaly files (created; kept).
    pub work_dir: PathBuf,
    /// Raised by Ctrl+C: training and fetching stop at the next step.
    pub stop: StopFlag,
}

/// One attack phase's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseOutcome {
    /// Phase name.
    pub name: String,
    /// Phase start.
    pub start: DateTime<Utc>,
    /// Phase end.
    pub end: DateTime<Utc>,
    /// An event overlaps the phase.
    pub hit: bool,
    /// Minutes from the phase start to the first reported bucket overlapping it (0 when that
    /// bucket starts before the phase).
    pub delay_minutes: Option<f64>,
}

/// What one method did on the detection period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMethodReport {
    /// Method name.
    pub method: String,
    /// The `anomaly_score` threshold it ran at.
    pub threshold: f64,
    /// `min_consecutive` it ran with.
    pub min_consecutive: u32,
    /// Per-phase outcomes, in time order.
    pub phases: Vec<PhaseOutcome>,
    /// An event overlaps the chain's span (first phase start .. last phase end).
    pub chain_hit: bool,
    /// Events reported.
    pub events: usize,
    /// Events overlapping an attack phase.
    pub events_in_attacks: usize,
    /// Events overlapping no phase of this scenario but an attack labelled for another
    /// scenario of the same file (demo/labels.json): neither a hit nor a false alarm.
    pub events_in_other_attacks: usize,
    /// Events overlapping no attack at all.
    pub false_events: usize,
    /// `false_events` per day of detection.
    pub false_events_per_day: f64,
    /// Anomalous buckets reported.
    pub anomalous_buckets: usize,
    /// Of those, buckets overlapping a phase.
    pub anomalous_buckets_in_attacks: usize,
    /// Bucket-level VUS-PR of `anomaly_score` (`None` without positive or negative buckets).
    pub vus_pr: Option<f64>,
    /// Wall time of the method (training and detection), seconds.
    pub seconds: f64,
}

/// The report of `sonar eval --alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvalReport {
    /// Scenario name.
    pub scenario: String,
    /// Training period.
    pub training: (DateTime<Utc>, DateTime<Utc>),
    /// Detection period.
    pub detection: (DateTime<Utc>, DateTime<Utc>),
    /// Buckets judged.
    pub buckets: usize,
    /// Buckets overlapping an attack phase.
    pub attack_buckets: usize,
    /// Attack phases overlapping the detection period.
    pub phases: usize,
    /// One report per method.
    pub methods: Vec<AlertMethodReport>,
}

impl AlertEvalReport {
    /// The report of one method.
    pub fn method(&self, name: &str) -> Option<&AlertMethodReport> {
        self.methods.iter().find(|m| m.method == name)
    }
}

/// Runs the evaluation (see the module doc).
pub fn run(request: &AlertEvalRequest) -> Result<AlertEvalReport, Error> {
    for m in &request.methods {
        if !METHODS.contains(&m.as_str()) {
            return Err(Error::EvalInput {
                path: request.alerts.clone(),
                problem: format!("unknown method `{m}`; known: {}", METHODS.join(", ")),
            });
        }
    }
    std::fs::create_dir_all(&request.work_dir)
        .map_err(|e| Error::io("creating directory", &request.work_dir, e))?;
    let ts_field = request.settings.features.timestamp_field.clone();
    let bucket = request.settings.features.bucket()?;
    let is_ait = is_ait_csv(&request.alerts)?;
    let (mut windows, others) = match &request.attacks {
        Attacks::TimeLabel if is_ait => (ait_windows(&request.alerts)?, Vec::new()),
        Attacks::TimeLabel => {
            return Err(Error::EvalInput {
                path: request.alerts.clone(),
                problem: "`--attacks time_label` needs an AIT-ADS alert CSV (header \
                          time,name,ip,host,short,time_label,event_label); give a JSON file \
                          of attack windows instead"
                    .into(),
            })
        }
        Attacks::File(path) => read_windows(
            path,
            request.detect_alerts.as_deref(),
            request.scenario_stem.as_deref(),
        )?,
    };
    windows.sort_by_key(|w| w.start);
    let (train_file, detect_file) = split_files(request, &windows, is_ait, bucket)?;
    let training = file_range(&train_file, &ts_field, bucket)?;
    let detection = file_range(&detect_file, &ts_field, bucket)?;
    windows.retain(|w| w.overlaps(detection.start, detection.end));
    if windows.is_empty() {
        return Err(Error::EvalInput {
            path: request.alerts.clone(),
            problem: format!(
                "no attack window overlaps the detection period {} .. {}",
                detection.start, detection.end
            ),
        });
    }
    let mut report = AlertEvalReport {
        scenario: request
            .settings
            .scenario
            .as_ref()
            .map_or_else(|| request.settings.model_name.clone(), |s| s.name.clone()),
        training: (training.start, training.end),
        detection: (detection.start, detection.end),
        buckets: 0,
        attack_buckets: 0,
        phases: windows.len(),
        methods: Vec::new(),
    };
    let mut default_model: Option<PathBuf> = None;
    for method in &request.methods {
        let started = std::time::Instant::now();
        let scored = match method.as_str() {
            PCA_ALERTS => {
                let model_dir = match &default_model {
                    Some(dir) => dir.clone(),
                    None => {
                        let settings = run_settings(request, DEFAULT, &train_file, &detect_file);
                        pipeline::train(&settings, &SystemClock, &mut (), &request.stop, false)?;
                        settings.model_path
                    }
                };
                pca_buckets(
                    request,
                    &model_dir,
                    &train_file,
                    &detect_file,
                    training,
                    detection,
                )?
            }
            name if request.settings.entities.is_some() => {
                let settings = run_settings(request, name, &train_file, &detect_file);
                let series = entity_buckets(&settings, &request.stop)?;
                let scored = Scored {
                    threshold: settings.detection.threshold,
                    min_consecutive: settings.detection.min_consecutive,
                    buckets: fleet_view(&series),
                };
                let mut m = measure(method, &scored, &windows, &others, detection);
                count_entity_events(&mut m, &series, &scored, &windows, &others, detection);
                report.buckets = scored.buckets.len();
                report.attack_buckets = attack_buckets(&scored, &windows);
                report.methods.push(AlertMethodReport {
                    seconds: started.elapsed().as_secs_f64(),
                    ..m
                });
                continue;
            }
            name => {
                let settings = run_settings(request, name, &train_file, &detect_file);
                let buckets = engine_buckets(&settings, &request.stop)?;
                if name == DEFAULT {
                    default_model = Some(settings.model_path.clone());
                }
                Scored {
                    threshold: settings.detection.threshold,
                    min_consecutive: settings.detection.min_consecutive,
                    buckets,
                }
            }
        };
        let m = measure(method, &scored, &windows, &others, detection);
        report.buckets = scored.buckets.len();
        report.attack_buckets = attack_buckets(&scored, &windows);
        report.methods.push(AlertMethodReport {
            seconds: started.elapsed().as_secs_f64(),
            ..m
        });
    }
    Ok(report)
}

/// Buckets overlapping an attack phase.
fn attack_buckets(scored: &Scored, windows: &[AttackWindow]) -> usize {
    scored
        .buckets
        .iter()
        .filter(|b| windows.iter().any(|w| w.overlaps(b.start, b.end)))
        .count()
}

/// Trains and detects a per-entity scenario's model set; every judged bucket of each entity.
fn entity_buckets(settings: &Settings, stop: &StopFlag) -> Result<Vec<Vec<ScoredBucket>>, Error> {
    let Some(entities) = &settings.entities else {
        return Ok(vec![engine_buckets(settings, stop)?]);
    };
    pipeline::train_entities(settings, entities, &SystemClock, &mut (), stop, false)?;
    let set = pipeline::ModelSet::load(&pipeline::entity::set_dir(settings), entities)?;
    remove_anomalies_file(settings)?;
    let mut sink = JsonlSink::new(
        settings.debug.anomalies_file.clone(),
        WriteInspector::new(sonar::sink::WriteOptions::default()),
    );
    let outcome = pipeline::detect_entities(
        settings,
        entities,
        &set,
        &mut sink,
        &SystemClock,
        &mut (),
        stop,
    )?;
    Ok(outcome
        .members
        .into_iter()
        .map(|(_, member)| member.buckets)
        .collect())
}

/// The fleet's buckets from its entities': per bucket start, the highest `anomaly_score`
/// (with that entity's other fields), anomalous when any entity's bucket is, and the alerts
/// of all entities.
fn fleet_view(series: &[Vec<ScoredBucket>]) -> Vec<ScoredBucket> {
    let mut fleet: BTreeMap<DateTime<Utc>, ScoredBucket> = BTreeMap::new();
    for bucket in series.iter().flatten() {
        match fleet.get_mut(&bucket.start) {
            None => {
                let mut b = bucket.clone();
                b.event = None;
                fleet.insert(b.start, b);
            }
            Some(kept) => {
                let alerts = kept.alert_count + bucket.alert_count;
                let anomalous = kept.is_anomaly || bucket.is_anomaly;
                if bucket.anomaly_score > kept.anomaly_score {
                    *kept = bucket.clone();
                    kept.event = None;
                }
                kept.alert_count = alerts;
                kept.is_anomaly = anomalous;
            }
        }
    }
    fleet.into_values().collect()
}

/// Replaces the fleet-level event counts of `m` by the sum of each entity's own (an event on
/// two hosts at once is two events for the analyst).
fn count_entity_events(
    m: &mut AlertMethodReport,
    series: &[Vec<ScoredBucket>],
    scored: &Scored,
    windows: &[AttackWindow],
    others: &[AttackWindow],
    detection: TimeRange,
) {
    let (mut events, mut in_attacks, mut in_others, mut false_events) = (0, 0, 0, 0);
    for buckets in series {
        let one = Scored {
            threshold: scored.threshold,
            min_consecutive: scored.min_consecutive,
            buckets: buckets.clone(),
        };
        let r = measure(&m.method, &one, windows, others, detection);
        events += r.events;
        in_attacks += r.events_in_attacks;
        in_others += r.events_in_other_attacks;
        false_events += r.false_events;
    }
    let days = (detection.end - detection.start).num_seconds() as f64 / 86_400.0;
    m.events = events;
    m.events_in_attacks = in_attacks;
    m.events_in_other_attacks = in_others;
    m.false_events = false_events;
    m.false_events_per_day = if days > 0.0 {
        false_events as f64 / days
    } else {
        0.0
    };
}

/// Removes a run's anomalies file: the sink skips ids already present.
fn remove_anomalies_file(settings: &Settings) -> Result<(), Error> {
    match std::fs::remove_file(&settings.debug.anomalies_file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", &settings.debug.anomalies_file, e)),
    }
}

/// The buckets a method judged, and the rule it judged them by.
struct Scored {
    threshold: f64,
    min_consecutive: u32,
    buckets: Vec<ScoredBucket>,
}

/// The run's settings for one engine method: debug mode over the split files, a model and an
/// anomalies file of its own under the work directory, nothing shipped.
fn run_settings(
    request: &AlertEvalRequest,
    method: &str,
    train_file: &Path,
    detect_file: &Path,
) -> Settings {
    let mut s = request.settings.clone();
    s.debug.enabled = true;
    s.debug.training_data = train_file.to_path_buf();
    s.debug.detection_data = detect_file.to_path_buf();
    s.debug.anomalies_file = request.work_dir.join(format!("anomalies-{method}.jsonl"));
    s.model_path = request.work_dir.join(format!("model-{method}"));
    s.shipping.enabled = false;
    s.injection = None;
    s.detection.mode = DetectionMode::Historical;
    s.detection.payloads.dry_run = false;
    s.detection.payloads.print = false;
    if method == FAITHFUL {
        s.mvad
            .extra_params
            .insert("scoring".into(), Value::String("faithful".into()));
    }
    s
}

/// Trains and detects with the scenario's pipeline; every judged bucket.
fn engine_buckets(settings: &Settings, stop: &StopFlag) -> Result<Vec<ScoredBucket>, Error> {
    pipeline::train(settings, &SystemClock, &mut (), stop, false)?;
    let model = LoadedModel::load(&settings.model_path)?;
    remove_anomalies_file(settings)?;
    let mut sink = JsonlSink::new(
        settings.debug.anomalies_file.clone(),
        WriteInspector::new(sonar::sink::WriteOptions::default()),
    );
    let outcome = pipeline::detect(
        settings,
        &model,
        &DetectRequest::default(),
        &mut sink,
        &SystemClock,
        &mut (),
        stop,
    )?;
    Ok(outcome.buckets)
}

/// The PCA baseline over the model's feature columns: fitted on the first
/// [`PCA_FIT_SHARE`] of the training buckets, calibrated on the rest, then judged by the
/// scenario's detector rules.
fn pca_buckets(
    request: &AlertEvalRequest,
    model_dir: &Path,
    train_file: &Path,
    detect_file: &Path,
    training: TimeRange,
    detection: TimeRange,
) -> Result<Scored, Error> {
    let model = LoadedModel::load(model_dir)?;
    let train = matrix(&model, train_file, training, request)?;
    let test = matrix(&model, detect_file, detection, request)?;
    let k = train.cols();
    let fill = |m: &FeatureMatrix| -> Vec<f64> {
        m.values
            .iter()
            .map(|v| if v.is_finite() { *v } else { f64::NAN })
            .collect()
    };
    let train_values = fill(&train);
    let fit_rows = ((train.rows() as f64 * PCA_FIT_SHARE) as usize).clamp(1, train.rows());
    let pca = PcaBaseline::fit(&train_values[..fit_rows * k], k, 0.9);
    let held_out = pca.scores(&train_values[fit_rows * k..]);
    let calibration = ScoreCalibration::fit(&held_out)
        .or_else(|| ScoreCalibration::fit(&pca.scores(&train_values)))
        .ok_or_else(|| Error::EvalData {
            series: request.alerts.display().to_string(),
            problem: format!(
                "too few training buckets ({}) to calibrate the PCA baseline",
                train.rows()
            ),
        })?;
    let scores = pca.scores(&fill(&test));
    let detector = Detector {
        calibration,
        threshold: request.settings.detection.threshold,
        min_consecutive: request.settings.detection.min_consecutive.max(1),
        engine_gate: false,
    };
    let step = model.bucket()?.step();
    let anomaly: Vec<f64> = scores
        .iter()
        .map(|s| detector.calibration.anomaly_score(*s))
        .collect();
    let candidates: Vec<bool> = anomaly.iter().map(|a| *a >= detector.threshold).collect();
    let reported = detector.report(&candidates, 0);
    let buckets = test
        .bucket_starts
        .iter()
        .enumerate()
        .map(|(i, start)| ScoredBucket {
            start: *start,
            end: *start + step,
            anomaly_score: anomaly[i],
            is_anomaly: reported[i],
            mvad_score: scores[i],
            mvad_severity: 0.0,
            contributions: Vec::new(),
            alert_count: test.alert_counts[i],
            event: None,
        })
        .collect();
    Ok(Scored {
        threshold: detector.threshold,
        min_consecutive: detector.min_consecutive,
        buckets,
    })
}

/// The model's feature matrix of `range` from one file.
fn matrix(
    model: &LoadedModel,
    file: &Path,
    range: TimeRange,
    request: &AlertEvalRequest,
) -> Result<FeatureMatrix, Error> {
    let mut builder = FeatureBuilder::for_detection(&model.schema, range)?;
    let query = AlertQuery {
        range,
        timestamp_field: model.schema.timestamp_field.clone(),
        fields: Vec::new(),
        alert_filter: request.settings.alert_filter.clone(),
    };
    LocalFiles::open(file)?.stream(&query, &mut |page| {
        builder.push_page(&page);
        Ok(())
    })?;
    Ok(builder.finish())
}

/// Phase, chain, event and bucket measures of one method.
fn measure(
    method: &str,
    scored: &Scored,
    windows: &[AttackWindow],
    others: &[AttackWindow],
    detection: TimeRange,
) -> AlertMethodReport {
    let buckets = &scored.buckets;
    let events: Vec<AnomalyEvent> = group_events_after("eval", None, buckets);
    let in_attack = |start, end| {
        windows
            .iter()
            .any(|w: &AttackWindow| w.overlaps(start, end))
    };
    let phases = windows
        .iter()
        .map(|w| PhaseOutcome {
            name: w.name.clone(),
            start: w.start,
            end: w.end,
            hit: events.iter().any(|e| w.overlaps(e.start, e.end)),
            delay_minutes: buckets
                .iter()
                .find(|b| b.is_anomaly && w.overlaps(b.start, b.end))
                .map(|b| ((b.start - w.start).num_seconds().max(0)) as f64 / 60.0),
        })
        .collect();
    let chain = AttackWindow {
        name: "chain".into(),
        start: windows
            .iter()
            .map(|w| w.start)
            .min()
            .unwrap_or(detection.start),
        end: windows.iter().map(|w| w.end).max().unwrap_or(detection.end),
    };
    let events_in_attacks = events.iter().filter(|e| in_attack(e.start, e.end)).count();
    let events_in_other_attacks = events
        .iter()
        .filter(|e| !in_attack(e.start, e.end) && others.iter().any(|w| w.overlaps(e.start, e.end)))
        .count();
    let false_events = events.len() - events_in_attacks - events_in_other_attacks;
    let days = (detection.end - detection.start).num_seconds() as f64 / 86_400.0;
    let labels: Vec<bool> = buckets.iter().map(|b| in_attack(b.start, b.end)).collect();
    let scores: Vec<f64> = buckets.iter().map(|b| b.anomaly_score).collect();
    AlertMethodReport {
        method: method.to_owned(),
        threshold: scored.threshold,
        min_consecutive: scored.min_consecutive,
        phases,
        chain_hit: events.iter().any(|e| chain.overlaps(e.start, e.end)),
        events: events.len(),
        events_in_attacks,
        events_in_other_attacks,
        false_events,
        false_events_per_day: if days > 0.0 {
            false_events as f64 / days
        } else {
            0.0
        },
        anomalous_buckets: buckets.iter().filter(|b| b.is_anomaly).count(),
        anomalous_buckets_in_attacks: buckets
            .iter()
            .zip(&labels)
            .filter(|(b, l)| b.is_anomaly && **l)
            .count(),
        vus_pr: vus_pr(&scores, &labels, VUS_MAX_BUFFER),
        seconds: 0.0,
    }
}

/// The header of an AIT-ADS alert CSV.
const AIT_HEADER: &str = "time,name,ip,host,short,time_label,event_label";

/// Whether `path` is an AIT-ADS alert CSV (by its header line).
fn is_ait_csv(path: &Path) -> Result<bool, Error> {
    let file = open(path)?;
    let mut first = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| Error::io("reading", path, e))?;
    Ok(first.trim_end() == AIT_HEADER)
}

fn open(path: &Path) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => sonar::Error::LocalPathMissing {
            path: path.to_owned(),
        }
        .into(),
        _ => Error::io("reading", path, e),
    })
}

/// One row of an AIT-ADS alert CSV.
struct AitRow {
    time: DateTime<Utc>,
    name: String,
    ip: String,
    host: String,
    short: String,
    time_label: String,
}

/// Reads an AIT-ADS CSV row by row. The alert name may hold commas, so the columns are
/// taken from both ends: `time` first, the five fields after `name` last.
fn for_each_ait_row(
    path: &Path,
    f: &mut dyn FnMut(AitRow) -> Result<(), Error>,
) -> Result<(), Error> {
    let reader = std::io::BufReader::new(open(path)?);
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io("reading", path, e))?;
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        let bad = |problem: &str| Error::EvalInput {
            path: path.to_owned(),
            problem: format!("line {}: {problem}", i + 1),
        };
        let (time, rest) = line
            .split_once(',')
            .ok_or_else(|| bad("expected 7 comma-separated columns"))?;
        let mut tail: Vec<&str> = rest.rsplitn(6, ',').collect();
        if tail.len() != 6 {
            return Err(bad("expected 7 comma-separated columns"));
        }
        tail.reverse();
        let seconds: f64 = time
            .trim()
            .parse()
            .map_err(|_| bad(&format!("time `{time}` is not epoch seconds")))?;
        let time = DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)
            .ok_or_else(|| bad(&format!("time `{time}` is out of range")))?;
        f(AitRow {
            time,
            name: tail[0].trim_matches('"').to_owned(),
            ip: tail[1].to_owned(),
            host: tail[2].to_owned(),
            short: tail[3].to_owned(),
            time_label: tail[4].to_owned(),
        })?;
    }
    Ok(())
}

/// An AIT-ADS row as a Wazuh-shaped alert (data/ait_ads/README.md's mapping): `agent.name` =
/// host, `agent.ip` = ip, `rule.description` = name, `rule.id` = the alert code, and
/// `rule.groups` = the detector (`wazuh`, `suricata`, `aminer`) and the code. The CSVs carry no
/// rule level.
fn ait_alert(row: &AitRow) -> Value {
    let detector = match row.short.chars().next() {
        Some('W') => "wazuh",
        Some('S') => "suricata",
        Some('A') => "aminer",
        _ => "other",
    };
    json!({
        "timestamp": row.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "agent": {"name": row.host, "ip": row.ip},
        "rule": {"description": row.name, "id": row.short, "groups": [detector, row.short]},
    })
}

/// One window per `time_label` of an AIT-ADS CSV, from its first alert to one second after
/// its last.
fn ait_windows(path: &Path) -> Result<Vec<AttackWindow>, Error> {
    let mut spans: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for_each_ait_row(path, &mut |row| {
        if row.time_label != "false_positive" && row.time_label != "-" {
            let span = spans
                .entry(row.time_label.clone())
                .or_insert((row.time, row.time));
            span.0 = span.0.min(row.time);
            span.1 = span.1.max(row.time);
        }
        Ok(())
    })?;
    Ok(spans
        .into_iter()
        .map(|(name, (start, end))| AttackWindow {
            name,
            start,
            end: end + TimeDelta::seconds(1),
        })
        .collect())
}

/// Attack windows from a JSON array of `{name, start, end[, file][, scenario]}` objects.
fn read_windows(
    path: &Path,
    detect_file: Option<&Path>,
    scenario: Option<&str>,
) -> Result<(Vec<AttackWindow>, Vec<AttackWindow>), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let bad = |problem: String| Error::EvalInput {
        path: path.to_owned(),
        problem,
    };
    let entries: Vec<Value> = serde_json::from_str(&text)
        .map_err(|e| bad(format!("expected a JSON array of attack windows: {e}")))?;
    let detect_name = detect_file
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy());
    let (mut out, mut others) = (Vec::new(), Vec::new());
    for (i, entry) in entries.iter().enumerate() {
        if let (Some(file), Some(name)) = (entry.get("file").and_then(Value::as_str), &detect_name)
        {
            if file != name {
                continue;
            }
        }
        let own = match (entry.get("scenario").and_then(Value::as_str), scenario) {
            (Some(stem), Some(wanted)) => stem == wanted,
            _ => true,
        };
        let time = |key: &str| -> Result<DateTime<Utc>, Error> {
            let v = entry
                .get(key)
                .ok_or_else(|| bad(format!("window {i}: no `{key}`")))?;
            parse_timestamp_value(v).map_err(|e| bad(format!("window {i}: `{key}`: {e}")))
        };
        let (start, end) = (time("start")?, time("end")?);
        if end <= start {
            return Err(bad(format!("window {i}: `end` is not after `start`")));
        }
        let window = AttackWindow {
            name: entry
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("window {i}"), str::to_owned),
            start,
            end,
        };
        if own { &mut out } else { &mut others }.push(window);
    }
    if out.is_empty() {
        return Err(bad(
            "no attack window applies to the detection alerts".into()
        ));
    }
    Ok((out, others))
}

/// The training and detection files: the given ones, or `alerts` split at `train_until` (AIT
/// CSVs are converted to Wazuh-shaped NDJSON on the way).
fn split_files(
    request: &AlertEvalRequest,
    windows: &[AttackWindow],
    is_ait: bool,
    bucket: BucketWidth,
) -> Result<(PathBuf, PathBuf), Error> {
    match (&request.detect_alerts, is_ait) {
        (Some(_), true) => {
            return Err(Error::EvalInput {
                path: request.alerts.clone(),
                problem: "an AIT-ADS alert CSV holds both periods: drop --detect-alerts \
                          (training ends at --train-until, or at the first attack)"
                    .into(),
            })
        }
        (Some(detect), false) => return Ok((request.alerts.clone(), detect.clone())),
        (None, _) => {}
    }
    let until = match request.train_until {
        Some(t) => t,
        None => {
            let first = windows.first().ok_or_else(|| Error::EvalInput {
                path: request.alerts.clone(),
                problem: "no attack window to end training at; give --train-until".into(),
            })?;
            bucket.floor(first.start)
        }
    };
    let train_path = request.work_dir.join("training.ndjson");
    let detect_path = request.work_dir.join("detection.ndjson");
    let create = |p: &Path| -> Result<std::io::BufWriter<std::fs::File>, Error> {
        Ok(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| Error::io("writing", p, e))?,
        ))
    };
    let (mut train, mut detect) = (create(&train_path)?, create(&detect_path)?);
    let mut counts = (0u64, 0u64);
    // A library error, so that the local files' stream callback can return it too.
    let mut write = |alert: &Value, t: DateTime<Utc>| -> Result<(), sonar::Error> {
        let (out, path, n) = if t < until {
            (&mut train, &train_path, &mut counts.0)
        } else {
            (&mut detect, &detect_path, &mut counts.1)
        };
        *n += 1;
        writeln!(out, "{alert}").map_err(|source| sonar::Error::Io {
            action: "writing",
            path: path.clone(),
            source,
        })
    };
    if is_ait {
        for_each_ait_row(&request.alerts, &mut |row| {
            Ok(write(&ait_alert(&row), row.time)?)
        })?;
    } else {
        let field = &request.settings.features.timestamp_field;
        let path = FieldPath::parse(field).ok_or_else(|| Error::EvalInput {
            path: request.alerts.clone(),
            problem: format!("timestamp field `{field}` is not a field path"),
        })?;
        let query = AlertQuery {
            range: TimeRange {
                start: DateTime::<Utc>::MIN_UTC,
                end: DateTime::<Utc>::MAX_UTC,
            },
            timestamp_field: field.clone(),
            fields: Vec::new(),
            alert_filter: None,
        };
        LocalFiles::open(&request.alerts)?.stream(&query, &mut |page| {
            for alert in &page {
                if let Some(t) = path
                    .lookup(alert)
                    .and_then(|v| parse_timestamp_value(v).ok())
                {
                    write(&Value::Object(alert.clone()), t)?;
                }
            }
            Ok(())
        })?;
    }
    for (out, p) in [(&mut train, &train_path), (&mut detect, &detect_path)] {
        out.flush().map_err(|e| Error::io("writing", p, e))?;
    }
    if counts.0 == 0 || counts.1 == 0 {
        return Err(Error::EvalInput {
            path: request.alerts.clone(),
            problem: format!(
                "splitting at {until} leaves {} training and {} detection alerts; both must be non-empty (set --train-until)",
                counts.0, counts.1
            ),
        });
    }
    Ok((train_path, detect_path))
}

/// A file's alert extent snapped to whole buckets.
fn file_range(path: &Path, field: &str, bucket: BucketWidth) -> Result<TimeRange, Error> {
    let extent = pipeline::file_extent(path, field)?.ok_or_else(|| Error::EvalInput {
        path: path.to_owned(),
        problem: format!("no alert with a readable `{field}`"),
    })?;
    Ok(TimeRange {
        start: bucket.floor(extent.start),
        end: bucket.ceil(extent.end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .expect("test input is valid")
    }

    fn bucket(start: &str, anomaly: bool, score: f64) -> ScoredBucket {
        ScoredBucket {
            start: t(start),
            end: t(start) + TimeDelta::minutes(5),
            anomaly_score: score,
            is_anomaly: anomaly,
            mvad_score: score,
            mvad_severity: 0.0,
            contributions: Vec::new(),
            alert_count: 1,
            event: None,
        }
    }

    #[test]
    fn a_split_scenario_is_scored_as_the_fleet_and_its_events_counted_per_entity() {
        // Two hosts: both anomalous at 10:00 (one attack, two events for the analyst), one
        // host alone at 12:00 (a false event).
        let web = vec![
            bucket("2024-05-08T10:00:00Z", true, 0.999),
            bucket("2024-05-08T12:00:00Z", true, 0.9995),
        ];
        let dc = vec![
            bucket("2024-05-08T10:00:00Z", true, 0.9999),
            bucket("2024-05-08T12:00:00Z", false, 0.2),
        ];
        let series = vec![web, dc];
        let fleet = fleet_view(&series);
        assert_eq!(fleet.len(), 2);
        assert_eq!(fleet[0].anomaly_score, 0.9999, "the highest entity score");
        assert_eq!(fleet[0].alert_count, 2, "every entity's alerts");
        assert!(fleet[1].is_anomaly, "anomalous when any entity is");
        assert_eq!(fleet[1].anomaly_score, 0.9995);
        let windows = vec![AttackWindow {
            name: "brute_force".into(),
            start: t("2024-05-08T10:00:00Z"),
            end: t("2024-05-08T10:30:00Z"),
        }];
        let detection = TimeRange {
            start: t("2024-05-08T00:00:00Z"),
            end: t("2024-05-09T00:00:00Z"),
        };
        let scored = Scored {
            threshold: 0.99,
            min_consecutive: 1,
            buckets: fleet,
        };
        let mut m = measure(DEFAULT, &scored, &windows, &[], detection);
        assert_eq!((m.events, m.false_events), (2, 1), "fleet view");
        count_entity_events(&mut m, &series, &scored, &windows, &[], detection);
        assert_eq!(
            (m.events, m.events_in_attacks, m.false_events),
            (3, 2, 1),
            "per entity"
        );
        assert_eq!(m.false_events_per_day, 1.0);
        assert!(m.phases[0].hit);
    }

    #[test]
    fn measure_counts_phases_chain_and_false_events() {
        let windows = vec![
            AttackWindow {
                name: "scan".into(),
                start: t("2024-01-01T00:12:00Z"),
                end: t("2024-01-01T00:20:00Z"),
            },
            AttackWindow {
                name: "exfil".into(),
                start: t("2024-01-01T01:00:00Z"),
                end: t("2024-01-01T01:10:00Z"),
            },
        ];
        let buckets = vec![
            bucket("2024-01-01T00:00:00Z", false, 0.1),
            bucket("2024-01-01T00:05:00Z", false, 0.2),
            bucket("2024-01-01T00:10:00Z", true, 0.99),
            bucket("2024-01-01T00:15:00Z", true, 0.99),
            bucket("2024-01-01T00:20:00Z", false, 0.3),
            bucket("2024-01-01T00:25:00Z", true, 0.98),
            bucket("2024-01-01T00:30:00Z", false, 0.1),
        ];
        let scored = Scored {
            threshold: 0.95,
            min_consecutive: 1,
            buckets,
        };
        let detection = TimeRange {
            start: t("2024-01-01T00:00:00Z"),
            end: t("2024-01-02T00:00:00Z"),
        };
        let m = measure(DEFAULT, &scored, &windows, &[], detection);
        assert!(m.phases[0].hit);
        assert_eq!(m.phases[0].delay_minutes, Some(0.0));
        assert!(!m.phases[1].hit);
        assert_eq!(m.phases[1].delay_minutes, None);
        assert!(m.chain_hit);
        assert_eq!((m.events, m.events_in_attacks, m.false_events), (2, 1, 1));
        assert!((m.false_events_per_day - 1.0).abs() < 1e-12);
        assert_eq!(
            (m.anomalous_buckets, m.anomalous_buckets_in_attacks),
            (3, 2)
        );
        assert!(m.vus_pr.is_some());
        // The same event during an attack labelled for another scenario is not false.
        let other = AttackWindow {
            name: "other".into(),
            start: t("2024-01-01T00:25:00Z"),
            end: t("2024-01-01T00:30:00Z"),
        };
        let m = measure(DEFAULT, &scored, &windows, &[other], detection);
        assert_eq!(
            (
                m.events_in_attacks,
                m.events_in_other_attacks,
                m.false_events
            ),
            (1, 1, 0)
        );
    }

    #[test]
    fn ait_rows_keep_commas_in_names_and_become_wazuh_alerts() {
        let dir = tempfile::tempdir().expect("test input is valid");
        let path = dir.path().join("x_alerts.txt");
        std::fs::write(
            &path,
            format!(
                "{AIT_HEADER}\n1642118400,\"Suricata: Alert - ET SCAN, Nmap\",10.0.0.1,vpn,S-Sca-Nma,network_scans,service_scan\n\
                 1642118460.5,Wazuh: login failed,10.0.0.2,mail,W-Acc-400,false_positive,-\n\
                 1642118700,AMiner: new value,10.0.0.2,mail,A-Val,network_scans,-\n"
            ),
        )
        .expect("test input is valid");
        assert!(is_ait_csv(&path).expect("test input is valid"));
        let windows = ait_windows(&path).expect("test input is valid");
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].name, "network_scans");
        assert_eq!(
            windows[0].start,
            DateTime::from_timestamp(1_642_118_400, 0).expect("test input is valid")
        );
        assert_eq!(
            windows[0].end,
            DateTime::from_timestamp(1_642_118_701, 0).expect("test input is valid")
        );
        let mut rows = Vec::new();
        for_each_ait_row(&path, &mut |row| {
            rows.push(ait_alert(&row));
            Ok(())
        })
        .expect("test input is valid");
        assert_eq!(
            rows[0]["rule"]["description"],
            "Suricata: Alert - ET SCAN, Nmap"
        );
        assert_eq!(rows[0]["rule"]["groups"], json!(["suricata", "S-Sca-Nma"]));
        assert_eq!(rows[1]["agent"]["name"], "mail");
        assert_eq!(rows[1]["timestamp"], "2022-01-14T00:01:00.500Z");
    }

    #[test]
    fn bad_rows_and_windows_name_the_file_and_line() {
        let dir = tempfile::tempdir().expect("test input is valid");
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, format!("{AIT_HEADER}\nsoon,x,1,h,W,a,b\n"))
            .expect("test input is valid");
        let e = for_each_ait_row(&path, &mut |_| Ok(()))
            .expect_err("the input is refused")
            .to_string();
        assert!(
            e.contains("bad.txt") && e.contains("line 2") && e.contains("soon"),
            "{e}"
        );
        let labels = dir.path().join("labels.json");
        std::fs::write(
            &labels,
            r#"[{"name": "a", "start": "2024-01-01T01:00:00Z", "end": "2024-01-01T00:00:00Z"}]"#,
        )
        .expect("test input is valid");
        let e = read_windows(&labels, None, None)
            .expect_err("the input is refused")
            .to_string();
        assert!(e.contains("labels.json") && e.contains("not after"), "{e}");
    }

    #[test]
    fn label_files_keep_the_windows_of_the_detection_file() {
        let dir = tempfile::tempdir().expect("test input is valid");
        let labels = dir.path().join("labels.json");
        std::fs::write(
            &labels,
            r#"[{"name": "a", "file": "one.ndjson", "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"},
                {"name": "b", "file": "two.ndjson", "start": "2024-01-02T00:00:00Z", "end": "2024-01-02T01:00:00Z"},
                {"name": "c", "start": "2024-01-03T00:00:00Z", "end": "2024-01-03T01:00:00Z"},
                {"name": "d", "scenario": "other", "start": "2024-01-04T00:00:00Z", "end": "2024-01-04T01:00:00Z"}]"#,
        )
        .expect("test input is valid");
        let (w, others) = read_windows(&labels, Some(Path::new("demo/two.ndjson")), Some("mine"))
            .expect("test input is valid");
        let names: Vec<&str> = w.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].name, "d");
        assert_eq!(
            read_windows(&labels, None, None)
                .expect("test input is valid")
                .0
                .len(),
            4
        );
    }
}
