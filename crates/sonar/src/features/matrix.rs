//! The feature builder's output: one row per bucket, one column per feature.

use chrono::{DateTime, Utc};

use super::schema::FeatureSchema;

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

