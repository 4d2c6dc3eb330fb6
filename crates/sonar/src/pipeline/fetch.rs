//! Fetching a run's feature matrix: computed by the indexer (aggregations, the default),
//! else alerts streamed page by page into the builder, or (when synthetic alerts are mixed in)
//! collected first.

use chrono::{DateTime, TimeDelta, Utc};

use super::clock::{Progress, StopFlag};
use super::summary::RunSummary;
use crate::config::Settings;
use crate::features::{BucketGrid, FeatureBuilder, FeatureMatrix};
use crate::field::FieldPath;
use crate::source::timestamp::parse_timestamp_value;
use crate::source::{Alert, AlertQuery, AlertSource, ServerFeatures, StreamStats, TimeRange};
use crate::synthetic::{inject, pad_to_min_buckets, Grid};
use crate::Error;

/// Seed of synthetic alert generation (deterministic runs).
const SYNTHETIC_SEED: u64 = 42;

/// Alerts of one fetch: streamed straight into the builder, or (when synthetic alerts must
/// be mixed in) collected first.
pub(crate) struct Fetched {
    pub matrix: FeatureMatrix,
    pub stats: StreamStats,
    pub synthetic: u64,
}

impl Fetched {
    /// The summary counts the fetch determines (alerts, skips, filter, synthetic, buckets).
    pub(crate) fn summary(&self) -> RunSummary {
        RunSummary {
            alerts_read: self.stats.alerts,
            skipped: self.stats.skipped + self.matrix.stats.skipped,
            filtered: self.stats.filtered,
            synthetic: self.synthetic,
            buckets: self.matrix.rows(),
            ..RunSummary::default()
        }
    }
}

/// Streams `query` from `source` into `builder` page by page (memory bounded by buckets).
pub(crate) fn stream_into(
    source: &mut dyn AlertSource,
    query: &AlertQuery,
    mut builder: FeatureBuilder,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<Fetched, Error> {
    let mut seen = 0u64;
    let stats = source.stream(query, &mut |page| {
        if stop.is_raised() {
            return Err(Error::Stopped {
                during: "fetching alerts",
            });
        }
        seen += page.len() as u64;
        builder.push_page(&page);
        progress.fetched(seen);
        Ok(())
    })?;
    progress.done();
    Ok(Fetched {
        matrix: builder.finish(),
        stats,
        synthetic: 0,
    })
}

/// Collects every alert of `query` (only when synthetic alerts must be mixed in).
pub(crate) fn collect(
    source: &mut dyn AlertSource,
    query: &AlertQuery,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<(Vec<Alert>, StreamStats), Error> {
    let mut alerts = Vec::new();
    let stats = source.stream(query, &mut |page| {
        if stop.is_raised() {
            return Err(Error::Stopped {
                during: "fetching alerts",
            });
        }
        alerts.extend(page);
        progress.fetched(alerts.len() as u64);
        Ok(())
    })?;
    progress.done();
    Ok((alerts, stats))
}

/// Earliest and latest timestamps of `alerts`.
pub(crate) fn alerts_extent(alerts: &[Alert], field: &str) -> Option<TimeRange> {
    let path = FieldPath::parse(field)?;
    let mut out: Option<TimeRange> = None;
    for t in alerts
        .iter()
        .filter_map(|a| path.lookup(a).and_then(|v| parse_timestamp_value(v).ok()))
    {
        out = Some(match out {
            None => TimeRange { start: t, end: t },
            Some(r) => TimeRange {
                start: r.start.min(t),
                end: r.end.max(t),
            },
        });
    }
    out
}

/// Builds the features of `range`. The source computes them when it can (the indexer's
/// aggregations, `wazuh.server_features`) and nothing synthetic is mixed in; otherwise alerts
/// go through the builder, with synthetic alerts when asked: the `--synthetic-count`
/// injection, and padding up to `min_rows` buckets when `fill` is set. The range grows to
/// cover injected alerts.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_features(
    settings: &Settings,
    source: &mut dyn crate::source::AlertSource,
    mut query: AlertQuery,
    features: ServerFeatures<'_>,
    fill: bool,
    min_rows: usize,
    now: DateTime<Utc>,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<Fetched, Error> {
    let make = |range: TimeRange| match features {
        ServerFeatures::Training(plan) => FeatureBuilder::for_training(plan, range),
        ServerFeatures::Detection(schema) => FeatureBuilder::for_detection(schema, range),
    };
    // Padding needs the alerts themselves; the grid has as many rows either way.
    let bucket = match features {
        ServerFeatures::Training(plan) => Some(plan.bucket),
        ServerFeatures::Detection(schema) => schema.bucket(),
    };
    let rows = bucket
        .and_then(|b| BucketGrid::new(query.range, b).ok())
        .map_or(0, |grid| grid.len());
    if settings.injection.is_none() && settings.wazuh.server_features && (!fill || rows >= min_rows)
    {
        if let Some(matrix) = source.aggregate(&query, features)? {
            progress.fetched(matrix.stats.alerts);
            progress.done();
            return Ok(Fetched {
                stats: StreamStats {
                    alerts: matrix.stats.alerts,
                    ..StreamStats::default()
                },
                matrix,
                synthetic: 0,
            });
        }
    }
    if settings.injection.is_none() && !fill {
        let builder = make(query.range)?;
        return stream_into(source, &query, builder, progress, stop);
    }
    let (mut alerts, stats) = collect(source, &query, progress, stop)?;
    let bucket = settings.features.bucket()?;
    let field = settings.features.timestamp_field.clone();
    let mut synthetic = 0u64;
    let mut range = query.range;
    if let Some(injection) = &settings.injection {
        synthetic += inject(
            &mut alerts,
            injection,
            bucket.duration(),
            now,
            SYNTHETIC_SEED,
        ) as u64;
        if let Some(extent) = alerts_extent(&alerts, &field) {
            range = TimeRange {
                start: range.start.min(bucket.floor(extent.start)),
                end: range
                    .end
                    .max(bucket.ceil(extent.end + TimeDelta::seconds(1))),
            };
        }
    }
    let build = |range: TimeRange, alerts: &[Alert]| -> Result<_, Error> {
        let mut builder = make(range)?;
        builder.push_page(alerts);
        Ok(builder.finish())
    };
    let mut matrix = build(range, &alerts)?;
    if fill && matrix.rows() < min_rows {
        let padding = pad_to_min_buckets(
            &alerts,
            &settings.training.synthetic,
            Grid {
                bucket: bucket.duration(),
                first_bucket: Some(range.start),
                buckets: matrix.rows(),
            },
            min_rows,
            now,
            SYNTHETIC_SEED,
        );
        if let Some(start) = padding.start {
            synthetic += padding.alerts.len() as u64;
            range.start = bucket.floor(start);
            let mut padded = padding.alerts;
            padded.extend(alerts);
            alerts = padded;
            matrix = build(range, &alerts)?;
        }
    }
    query.range = range;
    Ok(Fetched {
        matrix,
        stats,
        synthetic,
    })
}

/// A per-entity run's source: its features computed beforehand with every other entity's in
/// one pass (`AlertSource::entity_features`), handed out once when the run asks for the
/// same features over a range inside them; anything else goes to the entity's own source,
/// opened only then.
pub(crate) struct Prefetched<'a> {
    settings: &'a Settings,
    phase: super::Phase,
    inner: Option<Box<dyn AlertSource>>,
    matrix: Option<FeatureMatrix>,
}

impl<'a> Prefetched<'a> {
    /// `settings` and `phase` open the entity's own source when needed.
    pub(crate) fn new(
        settings: &'a Settings,
        phase: super::Phase,
        matrix: Option<FeatureMatrix>,
    ) -> Self {
        Self {
            settings,
            phase,
            inner: None,
            matrix,
        }
    }

    fn inner(&mut self) -> Result<&mut Box<dyn AlertSource>, Error> {
        if self.inner.is_none() {
            self.inner = Some(super::open_source(self.settings, self.phase)?);
        }
        Ok(self.inner.as_mut().expect("just opened"))
    }
}

impl AlertSource for Prefetched<'_> {
    fn stream(
        &mut self,
        query: &AlertQuery,
        on_page: &mut dyn FnMut(Vec<Alert>) -> Result<(), Error>,
    ) -> Result<StreamStats, Error> {
        self.inner()?.stream(query, on_page)
    }

    fn aggregate(
        &mut self,
        query: &AlertQuery,
        features: ServerFeatures<'_>,
    ) -> Result<Option<FeatureMatrix>, Error> {
        if let Some(matrix) = self.matrix.take() {
            if let Some(rows) = fitting(&matrix, query.range, features) {
                return Ok(Some(rows));
            }
            tracing::debug!("the prefetched features do not fit this run; asking the source");
        }
        self.inner()?.aggregate(query, features)
    }
}

/// The rows of `matrix` over `range` when it holds the same features and the whole range.
fn fitting(
    matrix: &FeatureMatrix,
    range: TimeRange,
    features: ServerFeatures<'_>,
) -> Option<FeatureMatrix> {
    let same = match features {
        ServerFeatures::Training(plan) => {
            let vocabularies = matrix
                .schema
                .categorical
                .iter()
                .map(|c| c.values.clone())
                .collect();
            plan.categorical.len() == matrix.schema.categorical.len()
                && crate::features::FeatureSchema::new(plan, vocabularies) == matrix.schema
        }
        ServerFeatures::Detection(schema) => *schema == matrix.schema,
    };
    if !same {
        return None;
    }
    let starts = BucketGrid::new(range, matrix.schema.bucket()?)
        .ok()?
        .starts();
    let first = matrix
        .bucket_starts
        .iter()
        .position(|t| Some(t) == starts.first())?;
    let end = first + starts.len();
    if matrix.bucket_starts.get(first..end)? != starts.as_slice() {
        return None;
    }
    let width = matrix.cols();
    let alert_counts = matrix.alert_counts[first..end].to_vec();
    Some(FeatureMatrix {
        bucket_starts: starts,
        columns: matrix.columns.clone(),
        values: matrix.values[first * width..end * width].to_vec(),
        stats: crate::features::FeatureStats {
            alerts: alert_counts.iter().sum(),
            ..Default::default()
        },
        alert_counts,
        schema: matrix.schema.clone(),
    })
}
