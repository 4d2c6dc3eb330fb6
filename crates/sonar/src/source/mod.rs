//! Alert sources: where alerts come from. The Wazuh indexer (OpenSearch REST, paged with
//! point-in-time + `search_after`) in production, local JSON files in debug mode. Both hand
//! alerts to the consumer page by page, so memory does not grow with the number of alerts.

pub mod indexer;

pub mod filter;
pub mod local;
pub mod secret;
pub mod settings;
pub mod timestamp;

pub use secret::{Secret, SecretOrigin};
pub use settings::{DebugSettings, Tls, WazuhSettings};

use chrono::{DateTime, Utc};

/// One alert: the JSON object Wazuh stores as a document's `_source`.
pub type Alert = serde_json::Map<String, serde_json::Value>;

/// A half-open time range `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First instant included.
    pub start: DateTime<Utc>,
    /// First instant excluded.
    pub end: DateTime<Utc>,
}

/// What to fetch: a time range on a timestamp field, the fields a scenario needs, and an
/// optional OpenSearch query fragment that every alert must match.
#[derive(Debug, Clone)]
pub struct AlertQuery {
    /// The time range to read.
    pub range: TimeRange,
    /// The alert field holding the event time (Wazuh 4.x: `timestamp`).
    pub timestamp_field: String,
    /// Dotted field paths to fetch (`_source` filtering); empty means every field.
    pub fields: Vec<String>,
    /// Optional query fragment placed in `bool.must` (the scenario's `alert_filter`); local
    /// files evaluate it in-process ([`filter::AlertFilter`]).
    pub alert_filter: Option<serde_json::Value>,
}

/// Counts a source reports once a stream ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Alerts handed to the consumer.
    pub alerts: u64,
    /// Pages (requests or files) read.
    pub pages: u64,
    /// Records that were not alerts (not a JSON object, unparsable line) and were skipped.
    pub skipped: u64,
    /// Alerts in range that `alert_filter` left out. Local files only: the indexer applies
    /// the filter itself and never sends them.
    pub filtered: u64,
    /// The first skipped record's problem, for the run's one summary line.
    pub first_skip_reason: Option<String>,
}

/// A producer of alerts for a query, streamed page by page in time order.
pub trait AlertSource {
    /// Calls `on_page` with each page of alerts in `query.range`, oldest first.
    fn stream(
        &mut self,
        query: &AlertQuery,
        on_page: &mut dyn FnMut(Vec<Alert>) -> Result<(), crate::Error>,
    ) -> Result<StreamStats, crate::Error>;

    /// The feature matrix of `features` over `query.range`, computed by the source itself (the
    /// indexer's aggregations), or `None` when the caller must stream alerts into the feature
    /// builder instead: files, or features the server cannot compute (the source has said
    /// why). `query.fields` is ignored.
    fn aggregate(
        &mut self,
        _query: &AlertQuery,
        _features: ServerFeatures<'_>,
    ) -> Result<Option<crate::features::FeatureMatrix>, crate::Error> {
        Ok(None)
    }

    /// The alerts of each value combination of `fields` over `query.range`, computed by the
    /// source (a `composite` of the fields' terms), or `None` when the caller must count
    /// streamed alerts.
    fn count_entities(
        &mut self,
        _query: &AlertQuery,
        _fields: &[String],
    ) -> Result<Option<EntityCounts>, crate::Error> {
        Ok(None)
    }

    /// The feature matrices of many entities over `query.range` in one pass (a `composite`
    /// of the entity fields' terms × the bucket grid), keyed by the entities' values in
    /// `fields` order, or `None` when the caller must compute each entity on its own. An
    /// entity missing from the answer is computed on its own too.
    fn entity_features(
        &mut self,
        _query: &AlertQuery,
        _fields: &[String],
        _features: EntityFeatures<'_>,
    ) -> Result<Option<EntityMatrices>, crate::Error> {
        Ok(None)
    }
}

/// Feature matrices by entity values ([`AlertSource::entity_features`]).
pub type EntityMatrices = std::collections::BTreeMap<Vec<String>, crate::features::FeatureMatrix>;

/// Alerts by entity ([`AlertSource::count_entities`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityCounts {
    /// Each value combination with a non-blank value in every field, and its alerts.
    pub counts: Vec<(Vec<String>, u64)>,
    /// All alerts in the range, with or without values.
    pub alerts: u64,
}

/// The per-entity features a source is asked to compute ([`AlertSource::entity_features`]).
#[derive(Debug, Clone, Copy)]
pub enum EntityFeatures<'a> {
    /// Training: each entity's vocabularies are chosen from its own alerts, by the builder's
    /// rule.
    Training {
        /// The scenario's features.
        plan: &'a crate::features::FeaturePlan,
        /// The entities wanted.
        entities: &'a [Vec<String>],
    },
    /// Detection: each entity's model schema.
    Detection {
        /// The entities wanted, with their schemas.
        schemas: &'a [(Vec<String>, &'a crate::features::FeatureSchema)],
    },
}

/// The features a source is asked to compute ([`AlertSource::aggregate`]).
#[derive(Debug, Clone, Copy)]
pub enum ServerFeatures<'a> {
    /// Training: each categorical field's vocabulary is chosen first, by the builder's rule
    /// (the `top_k` most frequent values in the range, ties alphabetical).
    Training(&'a crate::features::FeaturePlan),
    /// Detection: a model's frozen schema.
    Detection(&'a crate::features::FeatureSchema),
}
