//! The streaming accumulator: alerts in, one pass, per-bucket sums and counts; `finish` turns
//! them into a [`FeatureMatrix`].

use std::collections::HashMap;

/// Category maps hash every categorical value of every alert: foldhash is several times faster
/// than SipHash on short strings and still seeded per process, so crafted values cannot be
/// precomputed to collide.
type CategoryMap<K> = HashMap<K, u32, foldhash::fast::RandomState>;

use chrono::{DateTime, Utc};

use super::derived::{DerivedSlots, DERIVED_NAMES};
use super::matrix::{FeatureMatrix, FeatureStats};
use super::path::{FieldResolver, FieldSlot};
use super::schema::FeatureSchema;
use super::spec::{BucketWidth, FeaturePlan};
use super::value::{categories, numeric, Numeric};
use crate::source::timestamp::parse_timestamp_value;
use crate::source::{Alert, TimeRange};
use crate::Error;

/// The most buckets one matrix may have (memory is buckets × columns × 8 bytes).
pub const MAX_BUCKETS: usize = 2_000_000;

const N_DERIVED: usize = DERIVED_NAMES.len();

/// The epoch-aligned grid of buckets covering a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketGrid {
    range: TimeRange,
    first_start: i64,
    width: i64,
    len: usize,
}

impl BucketGrid {
    /// Every bucket that overlaps `[range.start, range.end)`: the first starts at or before
    /// `range.start`, on a multiple of the width since the Unix epoch.
    pub fn new(range: TimeRange, bucket: BucketWidth) -> Result<Self, Error> {
        let fail = |problem: &str| Error::FeatureGrid {
            start: range.start.to_rfc3339(),
            end: range.end.to_rfc3339(),
            bucket_minutes: bucket.minutes(),
            problem: problem.to_owned(),
        };
        if range.end <= range.start {
            return Err(fail("the range is empty: end must be after start"));
        }
        let width = bucket.seconds();
        let first_start = range.start.timestamp().div_euclid(width) * width;
        let end_ceil = range.end.timestamp() + i64::from(range.end.timestamp_subsec_nanos() > 0);
        let len = (end_ceil - first_start + width - 1).div_euclid(width);
        let len = usize::try_from(len).map_err(|_| fail("the range is empty"))?;
        if len > MAX_BUCKETS {
            return Err(fail(&format!(
                "{len} buckets is more than {MAX_BUCKETS}: shorten the range or widen the buckets"
            )));
        }
        Ok(Self {
            range,
            first_start,
            width,
            len,
        })
    }

    /// The number of buckets.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the grid has no bucket (never, for a valid range).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The range the grid covers.
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// The bucket holding `t`, or `None` when `t` is outside the range.
    pub fn index(&self, t: DateTime<Utc>) -> Option<usize> {
        if t < self.range.start || t >= self.range.end {
            return None;
        }
        usize::try_from((t.timestamp() - self.first_start).div_euclid(self.width)).ok()
    }

    /// Start of every bucket, oldest first.
    pub fn starts(&self) -> Vec<DateTime<Utc>> {
        (0..self.len as i64)
            .filter_map(|i| DateTime::from_timestamp(self.first_start + i * self.width, 0))
            .collect()
    }
}

/// Category counts while training: every value seen, with its per-bucket counts, so top-k can
/// be chosen at `finish` in the same single pass.
#[derive(Debug, Default)]
struct TrainingCategories {
    ids: CategoryMap<Box<str>>,
    names: Vec<Box<str>>,
    totals: Vec<u64>,
    /// Per value, `(bucket, count)` runs; consecutive alerts in one bucket extend the last run,
    /// so time-ordered input needs one entry per (value, bucket) pair seen.
    runs: Vec<Vec<(u32, u32)>>,
}

impl TrainingCategories {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(value.into(), id);
        self.names.push(value.into());
        self.totals.push(0);
        self.runs.push(Vec::new());
        id
    }

    fn add(&mut self, id: u32, bucket: u32) {
        let i = id as usize;
        self.totals[i] += 1;
        let runs = &mut self.runs[i];
        match runs.last_mut() {
            Some((b, count)) if *b == bucket => *count += 1,
            _ => runs.push((bucket, 1)),
        }
    }

    /// The kept values in column order: with `top_k` and more values than that, the most
    /// frequent first (ties alphabetical); otherwise every value, alphabetical (the original).
    fn choose(&self, top_k: Option<usize>) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.names.len() as u32).collect();
        match top_k {
            Some(k) if ids.len() > k => {
                ids.sort_by(|&a, &b| {
                    self.totals[b as usize]
                        .cmp(&self.totals[a as usize])
                        .then_with(|| self.names[a as usize].cmp(&self.names[b as usize]))
                });
                ids.truncate(k);
            }
            _ => ids.sort_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize])),
        }
        ids
    }
}

/// How categorical values become columns.
#[derive(Debug)]
enum Categorical {
    /// Vocabulary still open: counts every value, top-k chosen at `finish`.
    Training {
        fields: Vec<TrainingCategories>,
        /// Distinct values per alert summed per bucket, `[bucket * n_fields + field]`.
        indicators: Vec<u32>,
    },
    /// Vocabulary frozen by a schema: known values count in their column, others in `__other`.
    Detection {
        schema: FeatureSchema,
        /// Per field: value → column offset within the categorical block.
        lookup: Vec<CategoryMap<String>>,
        /// Per field: the `__other` column offset within the categorical block.
        other: Vec<u32>,
        /// Counts `[bucket * block_width + offset]`.
        counts: Vec<u32>,
        block_width: usize,
    },
}

/// The items of a list holding only strings and nulls (what Wazuh's list fields hold).
fn string_list(value: &serde_json::Value) -> Option<&[serde_json::Value]> {
    match value {
        serde_json::Value::Array(items)
            if items
                .iter()
                .all(|v| matches!(v, serde_json::Value::String(_) | serde_json::Value::Null)) =>
        {
            Some(items)
        }
        _ => None,
    }
}

/// Per resolver slot, the number read from it for the current alert: one value is often read
/// several times (a mean, a `__max`, a derived flag), and parsing a numeric string is the
/// costly part.
#[derive(Debug)]
struct NumberMemo {
    /// Increases with every alert; an entry is valid for the alert it is tagged with.
    alert: u64,
    entries: Vec<(u64, Numeric)>,
}

impl NumberMemo {
    fn new(slots: usize) -> Self {
        Self {
            alert: 1,
            entries: vec![(0, Numeric::Absent); slots],
        }
    }

    fn next_alert(&mut self) {
        self.alert += 1;
    }

    /// `numeric(slot.get(values))`, parsed at most once per slot and alert.
    fn read(&mut self, slot: FieldSlot, values: &[Option<&serde_json::Value>]) -> Numeric {
        let Some(i) = slot.found_in(values) else {
            return Numeric::Absent;
        };
        let (alert, number) = &mut self.entries[i];
        if *alert != self.alert {
            *alert = self.alert;
            *number = numeric(values[i]);
        }
        *number
    }
}

/// Counts a skipped alert; the reason is built only for the first one.
fn skip(stats: &mut FeatureStats, reason: impl FnOnce() -> String) {
    stats.skipped += 1;
    if stats.first_skip_reason.is_none() {
        stats.first_skip_reason = Some(reason());
    }
}

/// The seed's name for [`FeatureBuilder`].
pub type WazuhFeatureBuilder = FeatureBuilder;

/// Turns alerts into a feature matrix on a regular grid (the seed's WazuhFeatureBuilder),
/// one alert at a time. Memory is O(buckets × columns), plus while training one count per
/// (categorical value, bucket) pair seen.
#[derive(Debug)]
pub struct FeatureBuilder {
    plan: FeaturePlan,
    grid: BucketGrid,
    alerts: Vec<u64>,
    numeric_sum: Vec<f64>,
    numeric_count: Vec<u32>,
    max: Vec<f64>,
    flags: Vec<u32>,
    resolver: FieldResolver,
    timestamp_slot: FieldSlot,
    numeric_slots: Vec<FieldSlot>,
    max_slots: Vec<FieldSlot>,
    categorical_slots: Vec<FieldSlot>,
    derived_slots: Option<DerivedSlots>,
    numbers: NumberMemo,
    categorical: Categorical,
    stats: FeatureStats,
    scratch: String,
    ids: Vec<u32>,
    owned: Vec<String>,
}

impl FeatureBuilder {
    /// A builder for training: the categorical vocabulary is chosen from the data (top-k by
    /// count) and frozen into the matrix's schema at `finish`.
    pub fn for_training(plan: &FeaturePlan, range: TimeRange) -> Result<Self, Error> {
        let grid = BucketGrid::new(range, plan.bucket)?;
        let n_fields = plan.categorical.len();
        let categorical = Categorical::Training {
            fields: (0..n_fields)
                .map(|_| TrainingCategories::default())
                .collect(),
            indicators: vec![0; grid.len() * n_fields],
        };
        Ok(Self::with(plan.clone(), grid, categorical))
    }

    /// A builder for detection: exactly the columns of `schema` (a trained model's), values
    /// unseen at training counted in `<field>__other`.
    pub fn for_detection(schema: &FeatureSchema, range: TimeRange) -> Result<Self, Error> {
        let plan = schema.plan()?;
        let grid = BucketGrid::new(range, plan.bucket)?;
        let mut lookup = Vec::with_capacity(schema.categorical.len());
        let mut other = Vec::with_capacity(schema.categorical.len());
        let mut offset = 0u32;
        for vocabulary in &schema.categorical {
            let mut map =
                CategoryMap::with_capacity_and_hasher(vocabulary.values.len(), Default::default());
            for value in &vocabulary.values {
                map.insert(value.clone(), offset);
                offset += 1;
            }
            lookup.push(map);
            other.push(offset);
            offset += 1;
        }
        let block_width = offset as usize;
        let categorical = Categorical::Detection {
            schema: schema.clone(),
            lookup,
            other,
            counts: vec![0; grid.len() * block_width],
            block_width,
        };
        Ok(Self::with(plan, grid, categorical))
    }

    fn with(plan: FeaturePlan, grid: BucketGrid, categorical: Categorical) -> Self {
        let n = grid.len();
        let mut resolver = FieldResolver::default();
        let timestamp_slot = resolver.add(&plan.timestamp);
        let numeric_slots = plan.numeric.iter().map(|p| resolver.add(p)).collect();
        let max_slots = plan.max.iter().map(|p| resolver.add(p)).collect();
        let categorical_slots = plan.categorical.iter().map(|p| resolver.add(p)).collect();
        let derived_slots = plan.derived.then(|| DerivedSlots::register(&mut resolver));
        let numbers = NumberMemo::new(resolver.slots());
        Self {
            alerts: vec![0; n],
            numeric_sum: vec![0.0; n * plan.numeric.len()],
            numeric_count: vec![0; n * plan.numeric.len()],
            max: vec![f64::NAN; n * plan.max.len()],
            flags: vec![0; if plan.derived { n * N_DERIVED } else { 0 }],
            resolver,
            timestamp_slot,
            numeric_slots,
            max_slots,
            categorical_slots,
            derived_slots,
            numbers,
            categorical,
            stats: FeatureStats::default(),
            scratch: String::new(),
            ids: Vec::new(),
            owned: Vec::new(),
            grid,
            plan,
        }
    }

    /// The grid this builder fills.
    pub fn grid(&self) -> &BucketGrid {
        &self.grid
    }

    /// Adds every alert of a page (the fast path: field slots are allocated once per page).
    pub fn push_page(&mut self, alerts: &[Alert]) {
        let mut values = vec![None; self.resolver.slots()];
        for alert in alerts {
            self.resolver.resolve(alert, &mut values);
            self.push_resolved(&values);
        }
    }

    /// Adds one alert. Alerts without a usable timestamp are counted as skipped; alerts outside
    /// the range are counted as out of range.
    pub fn push(&mut self, alert: &Alert) {
        self.push_page(std::slice::from_ref(alert));
    }

    /// Adds one alert whose fields the resolver has placed in `values`.
    fn push_resolved(&mut self, values: &[Option<&serde_json::Value>]) {
        let t = match self.timestamp_slot.get(values).map(parse_timestamp_value) {
            Some(Ok(t)) => t,
            Some(Err(problem)) => {
                skip(&mut self.stats, || problem.describe().to_owned());
                return;
            }
            None => {
                skip(&mut self.stats, || {
                    format!("no `{}` field", self.plan.timestamp)
                });
                return;
            }
        };
        let Some(b) = self.grid.index(t) else {
            self.stats.out_of_range += 1;
            return;
        };
        self.stats.alerts += 1;
        self.alerts[b] += 1;

        self.numbers.next_alert();
        let n_numeric = self.plan.numeric.len();
        for (j, slot) in self.numeric_slots.iter().enumerate() {
            match self.numbers.read(*slot, values) {
                Numeric::Value(x) => {
                    self.numeric_sum[b * n_numeric + j] += x;
                    self.numeric_count[b * n_numeric + j] += 1;
                }
                Numeric::Absent => {}
                Numeric::NonFinite => self.stats.non_finite_values += 1,
                Numeric::NotNumeric => self.stats.non_numeric_values += 1,
            }
        }
        let n_max = self.plan.max.len();
        for (j, slot) in self.max_slots.iter().enumerate() {
            // Odd values were already counted when the same field is also averaged.
            if let Numeric::Value(x) = self.numbers.read(*slot, values) {
                let slot = &mut self.max[b * n_max + j];
                *slot = slot.max(x);
            }
        }
        if let Some(derived) = &self.derived_slots {
            let numbers = &mut self.numbers;
            let mut flags = derived.flags(values, |slot| numbers.read(slot, values));
            let row = &mut self.flags[b * N_DERIVED..(b + 1) * N_DERIVED];
            while flags != 0 {
                let k = flags.trailing_zeros() as usize;
                row[k] += 1;
                flags &= flags - 1;
            }
        }
        if !self.categorical_slots.is_empty() {
            self.push_categories(values, b);
        }
    }

    fn push_categories(&mut self, values: &[Option<&serde_json::Value>], b: usize) {
        let n_fields = self.categorical_slots.len();
        for (f, slot) in self.categorical_slots.iter().enumerate() {
            let value = slot.get(values);
            // A list may repeat a value; an alert counts once per distinct value.
            let is_list = matches!(value, Some(serde_json::Value::Array(_)));
            match &mut self.categorical {
                Categorical::Training { fields, indicators } => {
                    let counts = &mut fields[f];
                    self.ids.clear();
                    let ids = &mut self.ids;
                    categories(value, &mut self.scratch, &mut |c| ids.push(counts.id(c)));
                    if is_list {
                        ids.sort_unstable();
                        ids.dedup();
                    }
                    for &id in ids.iter() {
                        counts.add(id, b as u32);
                    }
                    indicators[b * n_fields + f] += ids.len() as u32;
                }
                Categorical::Detection {
                    lookup,
                    other,
                    counts,
                    block_width,
                    ..
                } => {
                    let row = &mut counts[b * *block_width..(b + 1) * *block_width];
                    let known = &lookup[f];
                    let other = other[f] as usize;
                    if let Some(items) = value.and_then(string_list) {
                        // The common list (strings, maybe nulls): distinct values counted
                        // once, by comparing with the earlier items, without allocating.
                        for (i, item) in items.iter().enumerate() {
                            let Some(c) = item.as_str().filter(|c| !c.is_empty()) else {
                                continue;
                            };
                            if !items[..i].iter().any(|p| p.as_str() == Some(c)) {
                                row[known.get(c).map_or(other, |&o| o as usize)] += 1;
                            }
                        }
                    } else if is_list {
                        let owned = &mut self.owned;
                        owned.clear();
                        categories(value, &mut self.scratch, &mut |c| owned.push(c.to_owned()));
                        owned.sort_unstable();
                        owned.dedup();
                        for c in owned.iter() {
                            row[known.get(c.as_str()).map_or(other, |&o| o as usize)] += 1;
                        }
                    } else {
                        categories(value, &mut self.scratch, &mut |c| {
                            row[known.get(c).map_or(other, |&o| o as usize)] += 1;
                        });
                    }
                }
            }
        }
    }

    /// Computes the matrix. Training freezes the vocabulary into the returned schema.
    pub fn finish(self) -> FeatureMatrix {
        let n = self.grid.len();
        let plan = &self.plan;
        let (schema, block): (FeatureSchema, Vec<f64>) = match self.categorical {
            Categorical::Training { fields, indicators } => {
                let n_fields = fields.len();
                let mut vocabularies = Vec::with_capacity(n_fields);
                let mut blocks: Vec<Vec<f64>> = Vec::with_capacity(n_fields);
                for (f, counts) in fields.iter().enumerate() {
                    if counts.names.is_empty() {
                        tracing::warn!(
                            field = %plan.categorical[f],
                            "categorical field has no value in any alert; only its __other column (all 0) is kept"
                        );
                    }
                    let kept = counts.choose(plan.top_k);
                    let width = kept.len() + 1;
                    let mut dense = vec![0.0; n * width];
                    for (col, &id) in kept.iter().enumerate() {
                        for &(bucket, count) in &counts.runs[id as usize] {
                            dense[bucket as usize * width + col] += f64::from(count);
                        }
                    }
                    for bucket in 0..n {
                        let row = &mut dense[bucket * width..(bucket + 1) * width];
                        let kept_sum: f64 = row[..width - 1].iter().sum();
                        row[width - 1] = f64::from(indicators[bucket * n_fields + f]) - kept_sum;
                    }
                    tracing::debug!(
                        field = %plan.categorical[f],
                        values = counts.names.len(),
                        kept = kept.len(),
                        "categorical vocabulary chosen"
                    );
                    vocabularies.push(
                        kept.iter()
                            .map(|&id| counts.names[id as usize].to_string())
                            .collect(),
                    );
                    blocks.push(dense);
                }
                let schema = FeatureSchema::new(plan, vocabularies);
                // Interleave the per-field blocks into one bucket-major block.
                let block_width: usize = blocks.iter().map(|b| b.len() / n.max(1)).sum();
                let mut block = Vec::with_capacity(n * block_width);
                for bucket in 0..n {
                    for dense in &blocks {
                        let width = dense.len() / n.max(1);
                        block.extend_from_slice(&dense[bucket * width..(bucket + 1) * width]);
                    }
                }
                (schema, block)
            }
            Categorical::Detection { schema, counts, .. } => {
                (schema, counts.into_iter().map(f64::from).collect())
            }
        };

        let width = schema.width();
        let n_numeric = plan.numeric.len();
        let n_max = plan.max.len();
        let block_width = block.len() / n.max(1);
        let mut values = Vec::with_capacity(n * width);
        for b in 0..n {
            let alerts = self.alerts[b];
            let fraction = |count: f64| {
                if alerts == 0 {
                    0.0
                } else {
                    count / alerts as f64
                }
            };
            for j in 0..n_numeric {
                let count = self.numeric_count[b * n_numeric + j];
                values.push(if count == 0 {
                    f64::NAN
                } else {
                    self.numeric_sum[b * n_numeric + j] / f64::from(count)
                });
            }
            values.extend_from_slice(&self.max[b * n_max..(b + 1) * n_max]);
            if plan.derived {
                for &count in &self.flags[b * N_DERIVED..(b + 1) * N_DERIVED] {
                    values.push(fraction(f64::from(count)));
                }
            }
            for &count in &block[b * block_width..(b + 1) * block_width] {
                values.push(fraction(count));
            }
            values.push(alerts as f64);
        }
        debug_assert_eq!(values.len(), n * width);

        let stats = self.stats;
        for (j, path) in plan.numeric.iter().enumerate() {
            if (0..n).all(|b| self.numeric_count[b * n_numeric + j] == 0) {
                tracing::warn!(field = %path, alerts = stats.alerts, "numeric field has no numeric value in any alert in range; its column is all NaN");
            }
        }
        tracing::info!(
            buckets = n,
            columns = width,
            alerts = stats.alerts,
            out_of_range = stats.out_of_range,
            skipped = stats.skipped,
            non_numeric_values = stats.non_numeric_values,
            non_finite_values = stats.non_finite_values,
            "feature matrix built"
        );
        if let Some(reason) = &stats.first_skip_reason {
            tracing::warn!(skipped = stats.skipped, first = %reason, "alerts without a usable timestamp were skipped");
        }

        FeatureMatrix {
            bucket_starts: self.grid.starts(),
            columns: schema.columns.clone(),
            values,
            alert_counts: self.alerts,
            stats,
            schema,
        }
    }
}
