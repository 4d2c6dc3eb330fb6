//! The feature builder's output: one row per bucket, one column per feature.

use std::ops::Range;

use chrono::{DateTime, SecondsFormat, Utc};

use super::schema::FeatureSchema;

/// The engine's label of the row of the bucket starting at `t`: RFC 3339 in UTC, whole
/// seconds (`2024-12-01T10:05:00Z`), so that labels sort in time order. The engine's frames,
/// results, scorer states and training range carry these labels; [`label_time`] reads one back.
pub fn engine_label(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The bucket start an engine label names ([`engine_label`]); `None` for a label of another
/// form (a model the reference library exported).
pub fn label_time(label: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(label)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What the feature builder saw, for the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureStats {
    /// Alerts inside the range, counted in a bucket.
    pub alerts: u64,
    /// Alerts with a valid timestamp outside the range (ignored).
    pub out_of_range: u64,
    /// Alerts skipped because their timestamp was missing or malformed.
    pub skipped: u64,
    /// The first skipped alert's problem.
    pub first_skip_reason: Option<String>,
    /// Numeric-field values that were text, lists or objects (ignored in means and maxima).
    pub non_numeric_values: u64,
    /// Numeric-field values that were NaN, infinite or beyond ±1e290 (ignored).
    pub non_finite_values: u64,
}

/// A regular time grid of features: `values[row * columns.len() + col]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Start of each bucket (row), oldest first, one bucket width apart, empty buckets included.
    pub bucket_starts: Vec<DateTime<Utc>>,
    /// Column names, in the schema's order.
    pub columns: Vec<String>,
    /// Row-major values: NaN only in numeric mean and `__max` columns of buckets without a value.
    pub values: Vec<f64>,
    /// Alerts per bucket (the `alert_count` column as integers).
    pub alert_counts: Vec<u64>,
    /// Counters for the run's summary.
    pub stats: FeatureStats,
    /// The schema the columns follow (new at training, the model's at detection).
    pub schema: FeatureSchema,
}

impl FeatureMatrix {
    /// Number of rows (buckets).
    pub fn rows(&self) -> usize {
        self.bucket_starts.len()
    }

    /// Number of columns (features).
    pub fn cols(&self) -> usize {
        self.columns.len()
    }

    /// One bucket's values, in column order.
    pub fn row(&self, row: usize) -> &[f64] {
        let width = self.cols();
        &self.values[row * width..(row + 1) * width]
    }

    /// The position of a column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The engine's input frame: rows labelled with the bucket start ([`engine_label`]), the
    /// same columns and values (NaN where the gap policy leaves a gauge unobserved).
    pub fn to_frame(&self) -> Result<sonar_mvad::Frame, crate::Error> {
        self.frame(0..self.rows())
    }

    /// The engine's input frame of the rows in `rows` ([`Self::to_frame`] of a part).
    pub fn frame(&self, rows: Range<usize>) -> Result<sonar_mvad::Frame, crate::Error> {
        let k = self.cols();
        let starts = self.bucket_starts.get(rows.clone()).ok_or_else(|| {
            sonar_mvad::MvadError::InvalidData(format!(
                "rows {rows:?} of a feature matrix of {} rows",
                self.rows()
            ))
        })?;
        Ok(sonar_mvad::Frame::new(
            starts.iter().map(|t| engine_label(*t)).collect(),
            self.columns.clone(),
            self.values[rows.start * k..rows.end * k].to_vec(),
        )?)
    }

    /// One column's values, oldest bucket first.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let col = self.column_index(name)?;
        Some(
            (0..self.rows())
                .map(|row| self.values[row * self.cols() + col])
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::features::{FeatureBuilder, FeatureSpec};
    use crate::source::TimeRange;

    #[test]
    fn converts_to_an_engine_frame() {
        let plan = FeatureSpec::default().validate().expect("valid");
        let range = TimeRange {
            start: chrono::DateTime::from_timestamp(1_733_047_200, 0).expect("in range"),
            end: chrono::DateTime::from_timestamp(1_733_047_200 + 900, 0).expect("in range"),
        };
        let matrix = FeatureBuilder::for_training(&plan, range)
            .expect("grid")
            .finish();
        let frame = matrix.to_frame().expect("valid frame");
        assert_eq!(frame.n_rows(), 3);
        assert_eq!(frame.columns(), matrix.columns.as_slice());
        assert_eq!(frame.index()[1], "2024-12-01T10:05:00Z");
        assert!(frame.value(0, 0).is_nan());
    }
}
