//! What to compute: the scenario's feature settings as written ([`FeatureSpec`], serde) and
//! the same settings validated into typed values ([`FeaturePlan`]).

use serde::{Deserialize, Serialize};

use super::derived::DERIVED_NAMES;
use super::ALERT_COUNT_COLUMN;
use crate::field::FieldPath;
use crate::Error;

/// The longest bucket accepted: one week.
pub const MAX_BUCKET_MINUTES: u32 = 7 * 24 * 60;

/// Feature settings as a scenario or config file writes them (`training.*` / `features.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureSpec {
    /// Bucket width in minutes; buckets are aligned on the Unix epoch.
    pub bucket_minutes: u32,
    /// Dotted paths averaged per bucket (NaN-aware; numeric strings accepted).
    pub numeric_fields: Vec<String>,
    /// Dotted paths whose per-bucket maximum becomes a `<field>__max` column.
    pub max_numeric_fields: Vec<String>,
    /// Dotted paths one-hot encoded (top-k values plus `<field>__other`).
    pub categorical_fields: Vec<String>,
    /// Values kept per categorical field, by count at training; 0 keeps every value.
    pub categorical_top_k: usize,
    /// Whether to add the 13 derived flags (`is_auth_failure`, ...).
    pub derived_features: bool,
    /// The alert field holding the event time.
    pub timestamp_field: String,
}

impl FeatureSpec {
    /// `bucket_minutes` when none is given.
    pub const DEFAULT_BUCKET_MINUTES: u32 = 5;
    /// `numeric_fields` when none are given.
    pub const DEFAULT_NUMERIC_FIELDS: &'static [&'static str] = &["rule.level"];
    /// `categorical_top_k` when none is given.
    pub const DEFAULT_CATEGORICAL_TOP_K: usize = 10;
    /// `timestamp_field` when none is given (Wazuh 4.x).
    pub const DEFAULT_TIMESTAMP_FIELD: &'static str = "timestamp";
}

impl Default for FeatureSpec {
    /// The original's defaults: `rule.level` averaged over 5-minute buckets, top-10, derived on.
    fn default() -> Self {
        Self {
            bucket_minutes: Self::DEFAULT_BUCKET_MINUTES,
            numeric_fields: Self::DEFAULT_NUMERIC_FIELDS
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
            max_numeric_fields: Vec::new(),
            categorical_fields: Vec::new(),
            categorical_top_k: Self::DEFAULT_CATEGORICAL_TOP_K,
            derived_features: true,
            timestamp_field: Self::DEFAULT_TIMESTAMP_FIELD.to_owned(),
        }
    }
}

/// A bucket width in whole minutes, 1 ..= [`MAX_BUCKET_MINUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BucketWidth(u32);

impl BucketWidth {
    /// Checks the range; `None` for 0 or more than a week.
    pub fn new(minutes: u32) -> Option<Self> {
        (1..=MAX_BUCKET_MINUTES)
            .contains(&minutes)
            .then_some(Self(minutes))
    }

    /// The width in minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// The width in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }
}

/// Validated feature settings: paths split, widths checked, duplicates and name clashes refused.
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturePlan {
    /// Bucket width.
    pub bucket: BucketWidth,
    /// Averaged fields, in column order.
    pub numeric: Vec<FieldPath>,
    /// Fields with a `__max` column, in column order.
    pub max: Vec<FieldPath>,
    /// One-hot encoded fields, in column order.
    pub categorical: Vec<FieldPath>,
    /// Values kept per categorical field; `None` keeps every value seen at training.
    pub top_k: Option<usize>,
    /// Whether the 13 derived flags are columns.
    pub derived: bool,
    /// The event-time field.
    pub timestamp: FieldPath,
}

impl FeatureSpec {
    /// Validates the settings into a [`FeaturePlan`]; the error names the key and the problem.
    pub fn validate(&self) -> Result<FeaturePlan, Error> {
        let bucket = BucketWidth::new(self.bucket_minutes).ok_or_else(|| Error::FeatureSetting {
            key: "bucket_minutes".to_owned(),
            problem: format!(
                "{} is out of range: use 1 to {MAX_BUCKET_MINUTES} minutes (a divisor of 1440 keeps buckets aligned on midnight)",
                self.bucket_minutes
            ),
        })?;
        let timestamp =
            FieldPath::parse(&self.timestamp_field).ok_or_else(|| Error::FeatureSetting {
                key: "timestamp_field".to_owned(),
                problem: format!("`{}` is not a dotted field path", self.timestamp_field),
            })?;
        let numeric = paths("numeric_fields", &self.numeric_fields)?;
        let max = paths("max_numeric_fields", &self.max_numeric_fields)?;
        let categorical = paths("categorical_fields", &self.categorical_fields)?;

        // Fixed column names must not clash; categorical value columns are made unique later.
        let mut names: Vec<String> = numeric.iter().map(|p| p.as_str().to_owned()).collect();
        names.extend(max.iter().map(|p| format!("{p}__max")));
        if self.derived_features {
            names.extend(DERIVED_NAMES.iter().map(|n| (*n).to_owned()));
        }
        names.push(ALERT_COUNT_COLUMN.to_owned());
        let mut seen = std::collections::HashSet::new();
        for name in &names {
            if !seen.insert(name.as_str()) {
                return Err(Error::FeatureSetting {
                    key: "numeric_fields".to_owned(),
                    problem: format!(
                        "column `{name}` would appear twice: rename or remove the field"
                    ),
                });
            }
        }

        Ok(FeaturePlan {
            bucket,
            numeric,
            max,
            categorical,
            top_k: (self.categorical_top_k > 0).then_some(self.categorical_top_k),
            derived: self.derived_features,
            timestamp,
        })
    }
}

/// Splits each path of a list, refusing empty segments and duplicates.
fn paths(key: &str, fields: &[String]) -> Result<Vec<FieldPath>, Error> {
    let mut out: Vec<FieldPath> = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        let path = FieldPath::parse(field).ok_or_else(|| Error::FeatureSetting {
            key: format!("{key}[{i}]"),
            problem: format!("`{field}` is not a dotted field path (empty segment)"),
        })?;
        if out.contains(&path) {
            return Err(Error::FeatureSetting {
                key: format!("{key}[{i}]"),
                problem: format!("`{field}` is listed twice"),
            });
        }
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` is `Ok(())` or `Err(key)` naming the setting the error must point at.
    fn check(spec: FeatureSpec, expected: Result<(), &str>) {
        let got: Result<(), String> = spec.validate().map(|_| ()).map_err(|e| match e {
            Error::FeatureSetting { key, .. } => key,
            other => panic!("unexpected error {other}"),
        });
        assert_eq!(got, expected.map_err(str::to_owned), "{spec:?}");
    }

    #[test]
    fn validation() {
        let base = FeatureSpec::default;
        check(base(), Ok(()));
        check(
            FeatureSpec {
                bucket_minutes: 0,
                ..base()
            },
            Err("bucket_minutes"),
        );
        check(
            FeatureSpec {
                bucket_minutes: MAX_BUCKET_MINUTES + 1,
                ..base()
            },
            Err("bucket_minutes"),
        );
        check(
            FeatureSpec {
                bucket_minutes: MAX_BUCKET_MINUTES,
                ..base()
            },
            Ok(()),
        );
        check(
            FeatureSpec {
                timestamp_field: String::new(),
                ..base()
            },
            Err("timestamp_field"),
        );
        check(
            FeatureSpec {
                numeric_fields: vec!["a..b".into()],
                ..base()
            },
            Err("numeric_fields[0]"),
        );
        check(
            FeatureSpec {
                numeric_fields: vec!["a".into(), "a".into()],
                ..base()
            },
            Err("numeric_fields[1]"),
        );
        check(
            FeatureSpec {
                categorical_fields: vec!["".into()],
                ..base()
            },
            Err("categorical_fields[0]"),
        );
        check(
            FeatureSpec {
                max_numeric_fields: vec!["x.".into()],
                ..base()
            },
            Err("max_numeric_fields[0]"),
        );
        check(
            FeatureSpec {
                numeric_fields: vec!["alert_count".into()],
                ..base()
            },
            Err("numeric_fields"),
        );
        check(
            FeatureSpec {
                numeric_fields: vec!["is_ssh_event".into()],
                ..base()
            },
            Err("numeric_fields"),
        );
        check(
            FeatureSpec {
                numeric_fields: vec!["is_ssh_event".into()],
                derived_features: false,
                ..base()
            },
            Ok(()),
        );
    }

    #[test]
    fn typed_values() {
        let plan = FeatureSpec {
            categorical_top_k: 0,
            ..FeatureSpec::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(plan.top_k, None);
        assert_eq!(plan.bucket.seconds(), 300);
        assert_eq!(plan.numeric[0].as_str(), "rule.level");
        let yaml =
            "bucket_minutes: 1\nnumeric_fields: [data.cpu_usage_%]\nderived_features: false\n";
        let spec: FeatureSpec = serde_yaml::from_str(yaml).expect("parses");
        assert_eq!(spec.bucket_minutes, 1);
        assert_eq!(spec.categorical_top_k, 10);
        assert!(serde_yaml::from_str::<FeatureSpec>("bucket_minute: 1\n").is_err());
    }
}
