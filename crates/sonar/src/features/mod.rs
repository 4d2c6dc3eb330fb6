//! Features (docs/configuration.md "`features:`"; the seed's WazuhFeatureBuilder): alerts → a
//! regular multivariate time series, one row per bucket, one column per feature.
//!
//! **Flow.** A scenario's [`FeatureSpec`] is validated into a [`FeaturePlan`]. A
//! [`FeatureBuilder`] for a [`TimeRange`](crate::source::TimeRange) is fed alerts page by page
//! ([`FeatureBuilder::push_page`], straight from an [`AlertSource`](crate::source::AlertSource)
//! stream) and [`FeatureBuilder::finish`] returns a [`FeatureMatrix`]. Aggregation is a single
//! streaming pass: memory is O(buckets × columns), never O(alerts), whatever the input order.
//!
//! **Grid.** Buckets of `bucket_minutes`, aligned on the Unix epoch (equal to the original's
//! midnight origin when the width divides 1440), cover the whole range, empty buckets included
//! (the original dropped them, which made the series irregular). Alerts outside the range or
//! without a usable timestamp are counted, not used.
//!
//! **Columns, in this order** (the original's order, plus `alert_count` last):
//! 1. each numeric field: the bucket mean of the values present (NaN-aware: absent values do
//!    not count as 0, unlike the original; numbers, booleans and numeric strings accepted;
//!    text, NaN, infinities are ignored and counted in [`FeatureStats`]);
//! 2. `<field>__max` for each `max_numeric_fields` entry (any field, not only averaged ones);
//! 3. the 13 derived flags (`is_auth_failure` … `is_high_load`, see [`derived`]) as the
//!    fraction of the bucket's alerts with the flag;
//! 4. per categorical field: `<field>__<value>` (every non-alphanumeric character of the value
//!    becomes `_`, as in the original) for each kept value, then `<field>__other`, each the
//!    fraction of the bucket's alerts carrying that value (lists count each distinct element,
//!    so `__other` can exceed 1 for list fields, as in the original);
//! 5. `alert_count`: alerts in the bucket.
//!
//! **Vocabulary.** Training keeps, per categorical field, the `categorical_top_k` most frequent
//! values (ties alphabetical; 0 = every value, alphabetical, as the original). It is chosen in
//! the same single pass: the builder keeps each value's per-bucket counts and picks at
//! `finish`. The result is frozen in a serialisable [`FeatureSchema`] that the model stores;
//! detection builds exactly those columns and counts values unseen at training in `__other`.
//! `__other` always exists (the original only added it when it truncated), so detection always
//! has somewhere to put new values. Values that sanitise to the same name get `_2`, `_3` ...
//!
//! **Gap policy** (empty buckets, and buckets where a field never appears): `alert_count` 0,
//! derived flags and one-hot columns 0 (nothing happened), numeric means and maxima NaN (the
//! gauge was not observed: inventing 0 would fake a drop to zero). The MVAD engine's
//! `fill_na_method` (default `Linear`, then 0 for what remains) fills them, which is the
//! interpolation a gauge needs; every other value is finite.

mod builder;
pub mod derived;
mod matrix;
mod path;
mod schema;
mod spec;
pub mod value;

pub use builder::{BucketGrid, FeatureBuilder, WazuhFeatureBuilder, MAX_BUCKETS};
pub use matrix::{engine_label, label_time, FeatureMatrix, FeatureStats};
pub use path::{FieldResolver, FieldSlot};
pub use schema::{sanitize, CategoricalVocabulary, FeatureSchema, SCHEMA_VERSION};
pub use spec::{
    ceil_to_bucket, floor_to_bucket, BucketWidth, FeaturePlan, FeatureSpec, MAX_BUCKET_MINUTES,
};

/// Name of the alert-count column, always the last column.
pub const ALERT_COUNT_COLUMN: &str = "alert_count";

#[cfg(test)]
mod real_data_tests;
#[cfg(test)]
mod tests;
