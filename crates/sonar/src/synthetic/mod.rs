//! Synthetic Wazuh-shaped alerts, in memory only: never written to any index.
//!
//! Two uses: injection (`--synthetic-count N --synthetic-mode append|prepend|only`), which adds
//! N alerts one bucket apart around the real ones, and padding (`--fill-with-synthetic`), which
//! adds buckets before the first real one until training has enough of them. Every synthetic
//! alert carries `"sonar_synthetic": true`, rule id `999999` and agent `sonar-synthetic`, so it
//! can be told apart from real data. [`demo`] generates the bundled demo data.

pub mod demo;

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use crate::source::Alert;

/// How the values of a synthetic alert's features are chosen (the original's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMode {
    /// `rule.level` = the given level; other numeric fields = the real alerts' mean;
    /// categorical fields = fixed placeholder values (`srcip` = the given IP).
    Constant,
    /// `rule.level` uniform in 1..=15; numeric fields = mean ± 10; varied placeholder values.
    Random,
    /// A copy of the first real alert (constant mode when there is none).
    Copy,
}

impl std::str::FromStr for ValueMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Self::Constant),
            "random" => Ok(Self::Random),
            "copy" => Ok(Self::Copy),
            other => Err(format!(
                "unknown value mode {other:?}; use constant, random or copy"
            )),
        }
    }
}

/// Where injected alerts go relative to the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// After the last real alert, one bucket apart.
    Append,
    /// Before the first real alert, one bucket apart.
    Prepend,
    /// Instead of the real alerts (ending where they ended, or now).
    Only,
}

impl std::str::FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "append" => Ok(Self::Append),
            "prepend" => Ok(Self::Prepend),
            "only" => Ok(Self::Only),
            other => Err(format!(
                "unknown synthetic mode {other:?}; use append, prepend or only"
            )),
        }
    }
}

/// What synthetic alerts look like.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// How feature values are chosen.
    pub values: ValueMode,
    /// `rule.level` in constant mode (0..=16).
    pub level: u8,
    /// `data.srcip` in constant mode.
    pub srcip: IpAddr,
    /// Padding adds at least this many alerts.
    pub min_count: usize,
    /// Numeric fields the scenario reads (given plausible values).
    pub numeric_fields: Vec<String>,
    /// Categorical fields the scenario reads (given placeholder values).
    pub categorical_fields: Vec<String>,
    /// The timestamp field to set.
    pub timestamp_field: String,
}

impl SyntheticSpec {
    /// `rule.level` of synthetic alerts when none is given.
    pub const DEFAULT_LEVEL: u8 = 5;
    /// `data.srcip` of synthetic alerts when none is given (TEST-NET-1, never a real host).
    pub const DEFAULT_SRCIP: &'static str = "192.0.2.0";
}

/// A `--synthetic-count` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    /// Alerts to add.
    pub count: usize,
    /// Where they go.
    pub placement: Placement,
    /// What they look like.
    pub spec: SyntheticSpec,
}

/// Formats a time as Wazuh does: `2024-05-01T10:00:00.123+0000`.
pub fn wazuh_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Reads an alert timestamp in the forms Wazuh and OpenSearch write (`Z`, `+00:00`, `+0000`).
fn parse_time(alert: &Alert, field: &str) -> Option<DateTime<Utc>> {
    let text = lookup(alert, field)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn lookup<'a>(alert: &'a Alert, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = alert.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn set_path(alert: &mut Alert, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut current = alert;
    for part in parents {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(last.to_string(), value);
}

fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Builds synthetic alerts for given times from the real alerts' statistics.
struct Factory<'a> {
    spec: &'a SyntheticSpec,
    means: Vec<Option<f64>>,
    template: Option<Alert>,
    rng: ChaCha8Rng,
}

impl<'a> Factory<'a> {
    fn new(spec: &'a SyntheticSpec, real: &[Alert], seed: u64) -> Self {
        let means = spec
            .numeric_fields
            .iter()
            .map(|field| {
                let (sum, n) = real
                    .iter()
                    .filter_map(|a| lookup(a, field).and_then(numeric))
                    .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                (n > 0).then(|| sum / n as f64)
            })
            .collect();
        Self {
            spec,
            means,
            template: real.first().cloned(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn alert(&mut self, at: DateTime<Utc>, index: usize) -> Alert {
        let spec = self.spec;
        let mode = match (spec.values, &self.template) {
            (ValueMode::Copy, None) => ValueMode::Constant,
            (mode, _) => mode,
        };
        let mut alert = match (mode, &self.template) {
            (ValueMode::Copy, Some(template)) => template.clone(),
            _ => {
                let level = match mode {
                    ValueMode::Random => self.rng.gen_range(1..=15),
                    _ => spec.level,
                };
                let mut alert = Map::new();
                alert.insert(
                    "rule".into(),
                    json!({
                        "id": "999999",
                        "level": level,
                        "description": "Synthetic alert for MVAD",
                        "groups": ["sonar_synthetic"],
                    }),
                );
                alert.insert(
                    "agent".into(),
                    json!({"id": "000", "name": "sonar-synthetic"}),
                );
                alert.insert("manager".into(), json!({"name": "sonar"}));
                alert.insert("location".into(), json!("sonar-synthetic"));
                alert.insert("data".into(), json!({"srcip": spec.srcip.to_string()}));
                for (field, mean) in spec.numeric_fields.iter().zip(&self.means) {
                    if field == "rule.level" {
                        continue;
                    }
                    let value = match mode {
                        ValueMode::Random => {
                            mean.unwrap_or(50.0) + self.rng.gen_range(-10.0..=10.0)
                        }
                        _ => mean.unwrap_or(0.0),
                    };
                    set_path(&mut alert, field, json!((value * 100.0).round() / 100.0));
                }
                for field in &spec.categorical_fields {
                    let last = field.rsplit('.').next().unwrap_or(field);
                    let value = match mode {
                        ValueMode::Random if last.contains("ip") => {
                            format!("192.0.2.{}", index % 250 + 1)
                        }
                        ValueMode::Random if last.contains("user") => {
                            format!("user_{}", self.rng.gen_range(1..=100))
                        }
                        ValueMode::Random => {
                            format!("random_{last}_{}", self.rng.gen_range(1..=1000))
                        }
                        _ if last.contains("srcip") => spec.srcip.to_string(),
                        _ if last.contains("dstip") => "192.0.2.1".into(),
                        _ if last.contains("user") => "synthetic_user".into(),
                        _ => format!("synthetic_{last}"),
                    };
                    set_path(&mut alert, field, Value::String(value));
                }
                alert
            }
        };
        set_path(
            &mut alert,
            &spec.timestamp_field,
            Value::String(wazuh_timestamp(at)),
        );
        alert.insert("sonar_synthetic".into(), Value::Bool(true));
        alert
    }
}

fn step(bucket: Duration) -> TimeDelta {
    TimeDelta::from_std(bucket).unwrap_or(TimeDelta::minutes(5))
}

/// Adds `injection.count` synthetic alerts to `alerts`, one bucket apart: after the last real
/// alert (append), before the first (prepend), or instead of all of them (only, ending where
/// they ended or at `now`). Returns how many were added. The list stays in time order if it
/// was. Deterministic for a given `seed`.
pub fn inject(
    alerts: &mut Vec<Alert>,
    injection: &Injection,
    bucket: Duration,
    now: DateTime<Utc>,
    seed: u64,
) -> usize {
    let field = &injection.spec.timestamp_field;
    let times: Vec<DateTime<Utc>> = alerts.iter().filter_map(|a| parse_time(a, field)).collect();
    let first = times.iter().min().copied();
    let last = times.iter().max().copied();
    let step = step(bucket);
    let n = injection.count;
    let mut factory = Factory::new(&injection.spec, alerts, seed);
    match injection.placement {
        Placement::Append => {
            let start = last.map_or(now - step * n as i32, |t| t + step);
            let added: Vec<Alert> = (0..n)
                .map(|i| factory.alert(start + step * i as i32, i))
                .collect();
            alerts.extend(added);
        }
        Placement::Prepend => {
            let end = first.map_or(now, |t| t - step);
            let mut added: Vec<Alert> = (0..n)
                .map(|i| factory.alert(end - step * (n - 1 - i) as i32, i))
                .collect();
            added.append(alerts);
            *alerts = added;
        }
        Placement::Only => {
            let end = last.unwrap_or(now);
            *alerts = (0..n)
                .map(|i| factory.alert(end - step * (n - 1 - i) as i32, i))
                .collect();
        }
    }
    n
}

/// Synthetic alerts that pad a short series at its start.
#[derive(Debug, Clone)]
pub struct Padding {
    /// The alerts, oldest first; put them before the real ones.
    pub alerts: Vec<Alert>,
    /// Start of the earliest padded bucket: the series now starts here.
    pub start: Option<DateTime<Utc>>,
}

/// The time grid of a series that may need padding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Bucket length.
    pub bucket: Duration,
    /// Start of the first bucket, if the series has any.
    pub first_bucket: Option<DateTime<Utc>>,
    /// Buckets in the series now.
    pub buckets: usize,
}

/// Pads a series on `grid` (ending at `now` when empty) with one synthetic alert per bucket
/// before its first bucket, so that it has at least `min_buckets`; at least `spec.min_count`
/// alerts are added when any are needed (the original's rule). `real` supplies the means and
/// the copy template.
pub fn pad_to_min_buckets(
    real: &[Alert],
    spec: &SyntheticSpec,
    grid: Grid,
    min_buckets: usize,
    now: DateTime<Utc>,
    seed: u64,
) -> Padding {
    let Grid {
        bucket,
        first_bucket,
        buckets: existing_buckets,
    } = grid;
    let deficit = min_buckets.saturating_sub(existing_buckets);
    if deficit == 0 {
        return Padding {
            alerts: Vec::new(),
            start: None,
        };
    }
    let n = deficit.max(spec.min_count);
    let step = step(bucket);
    let anchor = first_bucket.unwrap_or(now);
    let mut factory = Factory::new(spec, real, seed);
    let alerts: Vec<Alert> = (0..n)
        .map(|i| factory.alert(anchor - step * (n - i) as i32, i))
        .collect();
    Padding {
        alerts,
        start: Some(anchor - step * n as i32),
    }
}

#[cfg(test)]
mod tests;
