//! Server-side features: the indexer computes a scenario's feature matrix with aggregations,
//! so SONAR moves one small bucket per grid row instead of every alert
//! (docs/architecture.md, "Where features are computed").
//!
//! - Rows: a `composite` aggregation over a `date_histogram` source on the bucket grid, paged
//!   by `after_key`.
//! - Columns, inside each row: numeric means (`avg`), `__max` (`max`), the 13 derived flags
//!   (one `filters` aggregation: `terms` on `rule.groups`, `range` on the numbers),
//!   categorical one-hot columns (`filters`, one `term` per kept value), `__other` (a `terms`
//!   aggregation's total minus the kept counts) and `alert_count` (`doc_count`).
//! - Training: each categorical field's vocabulary is chosen first from exact per-value counts
//!   (a `composite` over the field's terms), by the feature builder's rule.
//!
//! Before any of it, one probe request (`max` of every field read as a number, `terms` of
//! every field read as a category) checks the mappings. A field mapped as `text` is retried
//! on its `.keyword` sub-field; a number stored as a `keyword` string (the builder parses it,
//! `avg` and `range` cannot) makes the server refuse, and the caller pages alerts instead after
//! one warning that names the field.
//!
//! Where the server and the in-memory builder can still differ, by construction: empty-string
//! categories (the builder ignores them; `terms` counts them in `__other`), a `rule.groups`
//! held as one comma-separated string (the builder splits it; a `term` query does not), and
//! timestamps inside one millisecond of a bucket edge (a `date` field keeps milliseconds).

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::client::{Method, RequestBody};
use super::search::{encode_path_segment, IndexerSource};
use crate::features::derived::{GROUP_RULES, THRESHOLD_RULES};
use crate::features::{
    BucketGrid, BucketWidth, CategoricalVocabulary, FeatureMatrix, FeaturePlan, FeatureSchema,
    FeatureStats,
};
use crate::source::{AlertQuery, EntityCounts, EntityFeatures, EntityMatrices, ServerFeatures};
use crate::Error;

/// Buckets per page of a `composite` aggregation.
const COMPOSITE_PAGE: usize = 1000;

/// Values per categorical field returned in one (entity, grid row) bucket. An entity whose
/// bucket holds more (`sum_other_doc_count` > 0) is left out of the per-entity pass and
/// computed on its own, exactly.
const ENTITY_TERMS: usize = 200;

/// The field the derived group flags read.
const GROUPS_FIELD: &str = "rule.groups";

impl IndexerSource {
    /// The feature matrix of `features` over `query.range`, computed by the server; `None`
    /// (after one warning naming the server's reason) when the server refuses to aggregate a
    /// field, e.g. a number stored as a `keyword` string: the caller then pages alerts.
    /// `query.alert_filter` applies; `query.fields` is ignored.
    pub fn server_features(
        &self,
        query: &AlertQuery,
        features: ServerFeatures<'_>,
    ) -> Result<Option<FeatureMatrix>, Error> {
        self.declining(|fields| self.compute(query, features, fields))
    }

    /// Runs `f` with the fields as mapped, again on their `.keyword` sub-fields when the index
    /// maps them as `text`; `None` (after one warning quoting the server) when the server
    /// refuses to aggregate a field. An index pattern that matches nothing is
    /// [`Error::IndexNotFound`], as when paging: aggregations over it would succeed empty and
    /// hide the misconfiguration.
    fn declining<T>(&self, f: impl Fn(Fields) -> Result<T, Error>) -> Result<Option<T>, Error> {
        self.ensure_index_exists()?;
        let mut keyword_suffix = false;
        loop {
            match f(Fields { keyword_suffix }) {
                Ok(value) => return Ok(Some(value)),
                Err(Error::IndexerHttp {
                    status: 400,
                    reason,
                    ..
                }) if !keyword_suffix && reason.contains("Text fields") => {
                    tracing::debug!(
                        index = %self.index_pattern(),
                        "categorical fields are text; aggregating on their .keyword sub-fields"
                    );
                    keyword_suffix = true;
                }
                Err(Error::IndexerHttp {
                    status: 400,
                    reason,
                    ..
                }) => {
                    tracing::warn!(
                        index = %self.index_pattern(),
                        "the indexer cannot compute these features ({reason}); reading alerts \
                         and computing them here instead"
                    );
                    return Ok(None);
                }
                Err(Error::IndexerHttp { status: 404, .. }) => {
                    return Err(Error::IndexNotFound {
                        pattern: self.index_pattern().to_owned(),
                    })
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The feature matrix of a frozen `schema` (detection), as [`Self::server_features`].
    pub fn aggregate_features(
        &self,
        query: &AlertQuery,
        schema: &FeatureSchema,
    ) -> Result<Option<FeatureMatrix>, Error> {
        self.server_features(query, ServerFeatures::Detection(schema))
    }

    fn compute(
        &self,
        query: &AlertQuery,
        features: ServerFeatures<'_>,
        fields: Fields,
    ) -> Result<FeatureMatrix, Error> {
        let plan_owned;
        let plan = match features {
            ServerFeatures::Training(plan) => plan,
            ServerFeatures::Detection(schema) => {
                plan_owned = schema.plan()?;
                &plan_owned
            }
        };
        let mut query = query.clone();
        query.timestamp_field = plan.timestamp.as_str().to_owned();
        query.fields.clear();
        self.search(&probe_body(&query, plan, fields))?;
        let schema = match features {
            ServerFeatures::Detection(schema) => schema.clone(),
            ServerFeatures::Training(plan) => {
                let mut vocabularies = Vec::with_capacity(plan.categorical.len());
                for field in &plan.categorical {
                    vocabularies.push(self.vocabulary(
                        &query,
                        field.as_str(),
                        plan.top_k,
                        fields,
                    )?);
                }
                FeatureSchema::new(plan, vocabularies)
            }
        };
        let bucket =
            BucketWidth::new(schema.bucket_minutes).ok_or_else(|| Error::IndexerResponse {
                path: self.index_pattern().to_owned(),
                problem: format!(
                    "schema bucket width {} minutes is out of range",
                    schema.bucket_minutes
                ),
            })?;
        let grid = BucketGrid::new(query.range, bucket)?;
        let sources = json!([{ "t": { "date_histogram": {
            "field": schema.timestamp_field,
            "fixed_interval": format!("{}m", schema.bucket_minutes),
        }}}]);
        let mut rows = Rows::new(&grid, bucket, &schema);
        let path = self.search_path();
        self.composite(&query, sources, Some(columns(&schema, fields)), &mut |b| {
            rows.add(b, &path, &mut filtered_counts)
        })?;
        let matrix = rows.finish();
        tracing::info!(
            buckets = matrix.rows(),
            columns = matrix.cols(),
            alerts = matrix.stats.alerts,
            "feature matrix computed by the indexer"
        );
        Ok(matrix)
    }

    /// The alerts of each value combination of `entity_fields` over `query.range` (a
    /// `composite` of their terms; blank values belong to no entity) and all alerts in it;
    /// `None` when the server cannot aggregate the fields.
    pub fn entity_counts(
        &self,
        query: &AlertQuery,
        entity_fields: &[String],
    ) -> Result<Option<EntityCounts>, Error> {
        self.declining(|fields| {
            let path = self.search_path();
            let mut counts = Vec::new();
            self.composite(
                query,
                entity_sources(entity_fields, fields, None),
                None,
                &mut |b| {
                    if let Some(key) = entity_key(b, entity_fields.len()) {
                        counts.push((key, doc_count(b.get("doc_count"))));
                    }
                    Ok(())
                },
            )?;
            let mut body = size_zero(query);
            body["track_total_hits"] = json!(true);
            let alerts = self
                .search(&body)?
                .pointer("/hits/total/value")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::IndexerResponse {
                    path,
                    problem: "no `hits.total.value` in a counting search's answer".to_owned(),
                })?;
            Ok(EntityCounts { counts, alerts })
        })
    }

    /// The feature matrices of many entities over `query.range` in one pass: at training,
    /// each entity's vocabularies from exact per-entity counts (one `composite` per
    /// categorical field); then one `composite` of the entity terms × the bucket grid, paged by
    /// `after_key`, with the value columns and one `terms` per categorical field inside. An
    /// entity with more than `ENTITY_TERMS` (200) values of a field in one bucket, or (at
    /// detection) a schema with other fields than the first, is left out of the answer for the
    /// caller to compute on its own. `None` when the server cannot aggregate the fields.
    pub fn server_entity_features(
        &self,
        query: &AlertQuery,
        entity_fields: &[String],
        features: EntityFeatures<'_>,
    ) -> Result<Option<EntityMatrices>, Error> {
        self.declining(|fields| self.compute_entities(query, entity_fields, features, fields))
    }

    fn compute_entities(
        &self,
        query: &AlertQuery,
        entity_fields: &[String],
        features: EntityFeatures<'_>,
        fields: Fields,
    ) -> Result<EntityMatrices, Error> {
        let plan = match features {
            EntityFeatures::Training { plan, .. } => plan.clone(),
            EntityFeatures::Detection { schemas } => match schemas.first() {
                Some((_, schema)) => schema.plan()?,
                None => return Ok(EntityMatrices::new()),
            },
        };
        let mut query = query.clone();
        query.timestamp_field = plan.timestamp.as_str().to_owned();
        query.fields.clear();
        self.search(&probe_body(&query, &plan, fields))?;
        let n = entity_fields.len();
        let path = self.search_path();
        let schemas: std::collections::BTreeMap<Vec<String>, FeatureSchema> = match features {
            EntityFeatures::Training { plan, entities } => {
                let wanted: std::collections::BTreeSet<&Vec<String>> = entities.iter().collect();
                let mut per_field = Vec::with_capacity(plan.categorical.len());
                for field in &plan.categorical {
                    let mut counts: std::collections::BTreeMap<Vec<String>, Vec<(String, u64)>> =
                        std::collections::BTreeMap::new();
                    let value =
                        json!({ "v": { "terms": { "field": fields.category(field.as_str()) } } });
                    let sources = entity_sources(entity_fields, fields, Some(value));
                    self.composite(&query, sources, None, &mut |b| {
                        let Some(key) = entity_key(b, n).filter(|k| wanted.contains(k)) else {
                            return Ok(());
                        };
                        let value = b.pointer("/key/v").map(key_text).unwrap_or_default();
                        if !value.is_empty() {
                            counts
                                .entry(key)
                                .or_default()
                                .push((value, doc_count(b.get("doc_count"))));
                        }
                        Ok(())
                    })?;
                    per_field.push(counts);
                }
                entities
                    .iter()
                    .map(|entity| {
                        let vocabularies = per_field
                            .iter_mut()
                            .zip(&plan.categorical)
                            .map(|(counts, field)| {
                                choose(
                                    field.as_str(),
                                    counts.remove(entity).unwrap_or_default(),
                                    plan.top_k,
                                )
                            })
                            .collect();
                        (entity.clone(), FeatureSchema::new(plan, vocabularies))
                    })
                    .collect()
            }
            EntityFeatures::Detection { schemas } => {
                let first = &schemas[0].1;
                schemas
                    .iter()
                    .filter(|(_, s)| same_fields(s, first))
                    .map(|(entity, s)| (entity.clone(), (*s).clone()))
                    .collect()
            }
        };
        let Some(any) = schemas.values().next() else {
            return Ok(EntityMatrices::new());
        };
        let grid = BucketGrid::new(query.range, plan.bucket)?;
        let mut rows: std::collections::BTreeMap<&Vec<String>, Rows<'_>> = schemas
            .iter()
            .map(|(entity, schema)| (entity, Rows::new(&grid, plan.bucket, schema)))
            .collect();
        let time = json!({ "t": { "date_histogram": {
            "field": any.timestamp_field,
            "fixed_interval": format!("{}m", any.bucket_minutes),
        }}});
        let sources = entity_sources(entity_fields, fields, Some(time));
        let mut cut: std::collections::BTreeSet<Vec<String>> = std::collections::BTreeSet::new();
        self.composite(
            &query,
            sources,
            Some(entity_columns(any, fields)),
            &mut |b| {
                let Some(key) = entity_key(b, n) else {
                    return Ok(());
                };
                let Some(entity_rows) = rows.get_mut(&key) else {
                    return Ok(());
                };
                let mut truncated = false;
                entity_rows.add(b, &path, &mut |b, i, vocabulary| {
                    let terms = b.get(format!("c{i}").as_str());
                    truncated |= doc_count(terms.and_then(|t| t.get("sum_other_doc_count"))) > 0;
                    let mut by_value = std::collections::HashMap::new();
                    for bucket in terms
                        .and_then(|t| t.get("buckets"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(key) = bucket.get("key") {
                            by_value.insert(key_text(key), doc_count(bucket.get("doc_count")));
                        }
                    }
                    let counts = vocabulary
                        .values
                        .iter()
                        .map(|v| by_value.get(v).copied().unwrap_or(0))
                        .collect();
                    Ok((counts, terms_total(terms)))
                })?;
                if truncated {
                    cut.insert(key);
                }
                Ok(())
            },
        )?;
        if !cut.is_empty() {
            tracing::info!(
                entities = cut.len(),
                "entities with more than {ENTITY_TERMS} values of a field in one bucket are computed one by one"
            );
        }
        let matrices: EntityMatrices = rows
            .into_iter()
            .filter(|(entity, _)| !cut.contains(*entity))
            .map(|(entity, rows)| (entity.clone(), rows.finish()))
            .collect();
        tracing::info!(
            entities = matrices.len(),
            buckets = grid.len(),
            "feature matrices computed by the indexer, all entities in one pass"
        );
        Ok(matrices)
    }

    /// The values of `field` kept as columns: exact alert counts per value over the range (a
    /// `composite` of its terms), then the feature builder's rule (features/builder.rs
    /// `TrainingCategories::choose`): with `top_k` and more values, the most frequent first
    /// (ties alphabetical), else every value alphabetically. Empty strings are not values.
    fn vocabulary(
        &self,
        query: &AlertQuery,
        field: &str,
        top_k: Option<usize>,
        fields: Fields,
    ) -> Result<Vec<String>, Error> {
        let sources = json!([{ "v": { "terms": { "field": fields.category(field) } } }]);
        let mut counts: Vec<(String, u64)> = Vec::new();
        let path = self.search_path();
        self.composite(query, sources, None, &mut |b| {
            let key = b.pointer("/key/v").ok_or_else(|| Error::IndexerResponse {
                path: path.clone(),
                problem: format!("a terms bucket of `{field}` has no key"),
            })?;
            let value = key_text(key);
            if !value.is_empty() {
                counts.push((
                    value,
                    b.get("doc_count").and_then(Value::as_u64).unwrap_or(0),
                ));
            }
            Ok(())
        })?;
        Ok(choose(field, counts, top_k))
    }

    /// Pages a `composite` aggregation over `query` by `after_key`, handing every bucket to
    /// `each` in key order.
    fn composite(
        &self,
        query: &AlertQuery,
        sources: Value,
        sub_aggregations: Option<Value>,
        each: &mut dyn FnMut(&Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let path = self.search_path();
        let mut after: Option<Value> = None;
        loop {
            let mut composite = json!({ "size": COMPOSITE_PAGE, "sources": sources });
            if let Some(after) = &after {
                composite["after"] = after.clone();
            }
            let mut aggregation = json!({ "composite": composite });
            if let Some(sub) = &sub_aggregations {
                aggregation["aggs"] = sub.clone();
            }
            let mut body = size_zero(query);
            body["aggs"] = json!({ "c": aggregation });
            let answer = self.search(&body)?;
            let buckets = answer
                .pointer("/aggregations/c/buckets")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::IndexerResponse {
                    path: path.clone(),
                    problem: "no `aggregations.c.buckets` in a composite aggregation's answer"
                        .to_owned(),
                })?;
            for bucket in buckets {
                each(bucket)?;
            }
            match answer.pointer("/aggregations/c/after_key") {
                Some(key) if buckets.len() == COMPOSITE_PAGE => after = Some(key.clone()),
                _ => return Ok(()),
            }
        }
    }

    fn search_path(&self) -> String {
        format!("/{}/_search", encode_path_segment(self.index_pattern()))
    }

    fn search(&self, body: &Value) -> Result<Value, Error> {
        self.client()
            .request(
                Method::POST,
                &self.search_path(),
                Some(&RequestBody::Json(body.clone())),
            )?
            .json()
    }
}

/// The kept values among `counts` (value, alerts) by the feature builder's rule
/// (features/builder.rs `TrainingCategories::choose`): with `top_k` and more values, the most
/// frequent first (ties alphabetical), else every value alphabetically.
fn choose(field: &str, mut counts: Vec<(String, u64)>, top_k: Option<usize>) -> Vec<String> {
    if counts.is_empty() {
        tracing::warn!(
            field,
            "categorical field has no value in any alert; only its __other column (all 0) is kept"
        );
    }
    match top_k {
        Some(k) if counts.len() > k => {
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            counts.truncate(k);
        }
        _ => counts.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    counts.into_iter().map(|(value, _)| value).collect()
}

/// Composite sources: one `terms` per entity field (`e0`, `e1`), then `last`.
fn entity_sources(entity_fields: &[String], fields: Fields, last: Option<Value>) -> Value {
    let mut sources: Vec<Value> = entity_fields
        .iter()
        .enumerate()
        .map(|(j, field)| json!({ format!("e{j}"): { "terms": { "field": fields.category(field) } } }))
        .collect();
    sources.extend(last);
    Value::Array(sources)
}

/// A composite bucket's entity values (`key.e0`, …), as the census reads them
/// (detect/entity.rs `value_text`): `None` when one is blank.
fn entity_key(b: &Value, n: usize) -> Option<Vec<String>> {
    (0..n)
        .map(|j| {
            b.pointer(&format!("/key/e{j}"))
                .map(key_text)
                .filter(|v| !v.trim().is_empty())
        })
        .collect()
}

/// Whether two schemas read the same fields the same way (their vocabularies may differ).
fn same_fields(a: &FeatureSchema, b: &FeatureSchema) -> bool {
    a.bucket_minutes == b.bucket_minutes
        && a.timestamp_field == b.timestamp_field
        && a.numeric_fields == b.numeric_fields
        && a.max_numeric_fields == b.max_numeric_fields
        && a.derived_features == b.derived_features
        && a.categorical.len() == b.categorical.len()
        && a.categorical
            .iter()
            .zip(&b.categorical)
            .all(|(x, y)| x.field == y.field)
}

/// A bucket key as the feature builder writes a category (features/value.rs `categories`).
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// How categorical fields are named in aggregations: as mapped, or (when the index maps them
/// as `text`, dynamic mappings) their `.keyword` sub-field.
#[derive(Debug, Clone, Copy)]
struct Fields {
    keyword_suffix: bool,
}

impl Fields {
    fn category(self, field: &str) -> String {
        if self.keyword_suffix {
            format!("{field}.keyword")
        } else {
            field.to_owned()
        }
    }
}

/// A search for `query`'s alerts that returns no hits, only aggregations.
fn size_zero(query: &AlertQuery) -> Value {
    let mut body = super::search::search_body(query, 0, false);
    if let Some(object) = body.as_object_mut() {
        object.remove("sort");
    }
    body
}

/// One request that fails when a field cannot be aggregated as the features need it: `max` of
/// each field read as a number (a `keyword` string is refused, naming the field; `range`
/// would compare it as text), `terms` of each field read as a category (`text` is refused).
fn probe_body(query: &AlertQuery, plan: &FeaturePlan, fields: Fields) -> Value {
    let mut probes = Map::new();
    let mut numbers: Vec<&str> = plan.numeric.iter().map(|p| p.as_str()).collect();
    numbers.extend(plan.max.iter().map(|p| p.as_str()));
    let mut categories: Vec<&str> = plan.categorical.iter().map(|p| p.as_str()).collect();
    if plan.derived {
        numbers.extend(THRESHOLD_RULES.iter().map(|(_, field, _)| *field));
        categories.push(GROUPS_FIELD);
    }
    numbers.sort_unstable();
    numbers.dedup();
    categories.sort_unstable();
    categories.dedup();
    for (i, field) in numbers.iter().enumerate() {
        probes.insert(format!("n{i}"), json!({ "max": { "field": field } }));
    }
    for (i, field) in categories.iter().enumerate() {
        probes.insert(
            format!("c{i}"),
            json!({ "terms": { "field": fields.category(field), "size": 1 } }),
        );
    }
    let mut body = size_zero(query);
    body["aggs"] = Value::Object(probes);
    body
}

/// The column aggregations inside one grid row of a single series: the value columns, then
/// per categorical field one `filters` bucket per kept value and a `terms` for the total.
fn columns(schema: &FeatureSchema, fields: Fields) -> Value {
    let mut columns = value_columns(schema, fields);
    for (i, vocabulary) in schema.categorical.iter().enumerate() {
        let field = fields.category(&vocabulary.field);
        if !vocabulary.values.is_empty() {
            let filters: Map<String, Value> = vocabulary
                .values
                .iter()
                .enumerate()
                .map(|(v, value)| {
                    (
                        format!("v{v}"),
                        json!({ "term": { field.as_str(): value } }),
                    )
                })
                .collect();
            columns.insert(
                format!("k{i}"),
                json!({ "filters": { "filters": filters } }),
            );
        }
        // Returned bucket + `sum_other_doc_count` = every (alert, distinct value) pair.
        columns.insert(
            format!("t{i}"),
            json!({ "terms": { "field": field, "size": 1 } }),
        );
    }
    Value::Object(columns)
}

/// The column aggregations inside one (entity, grid row) bucket: the value columns, then per
/// categorical field a `terms` of up to [`ENTITY_TERMS`] values, each entity reading the
/// counts of its own vocabulary.
fn entity_columns(schema: &FeatureSchema, fields: Fields) -> Value {
    let mut columns = value_columns(schema, fields);
    for (i, vocabulary) in schema.categorical.iter().enumerate() {
        columns.insert(
            format!("c{i}"),
            json!({ "terms": { "field": fields.category(&vocabulary.field), "size": ENTITY_TERMS } }),
        );
    }
    Value::Object(columns)
}

/// Numeric means, `__max` and the derived flags.
fn value_columns(schema: &FeatureSchema, fields: Fields) -> Map<String, Value> {
    let mut columns = Map::new();
    for (i, field) in schema.numeric_fields.iter().enumerate() {
        columns.insert(format!("n{i}"), json!({ "avg": { "field": field } }));
    }
    for (i, field) in schema.max_numeric_fields.iter().enumerate() {
        columns.insert(format!("x{i}"), json!({ "max": { "field": field } }));
    }
    if schema.derived_features {
        let groups = fields.category(GROUPS_FIELD);
        let mut flags = Map::new();
        for (flag, values) in GROUP_RULES {
            flags.insert(
                format!("f{flag}"),
                json!({ "terms": { groups.as_str(): values } }),
            );
        }
        for (flag, field, at_least) in THRESHOLD_RULES {
            flags.insert(
                format!("f{flag}"),
                json!({ "range": { field: { "gte": at_least } } }),
            );
        }
        columns.insert("d".to_owned(), json!({ "filters": { "filters": flags } }));
    }
    columns
}

/// Reads, from one grid bucket, categorical field `i`'s alerts of each kept value and its
/// (alert, distinct value) pairs of all values.
type CategoryCounts<'a> =
    dyn FnMut(&Value, usize, &CategoricalVocabulary) -> Result<(Vec<u64>, u64), Error> + 'a;

fn doc_count(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(0)
}

/// A `terms` aggregation's (alert, distinct value) pairs: its buckets plus the rest.
fn terms_total(terms: Option<&Value>) -> u64 {
    let returned: u64 = terms
        .and_then(|t| t.get("buckets"))
        .and_then(Value::as_array)
        .map_or(0, |bs| {
            bs.iter().map(|x| doc_count(x.get("doc_count"))).sum()
        });
    returned + doc_count(terms.and_then(|t| t.get("sum_other_doc_count")))
}

/// Categorical counts of a single-series grid bucket: one `filters` bucket per kept value
/// (`k<i>`), the total from a `terms` aggregation (`t<i>`).
fn filtered_counts(
    b: &Value,
    i: usize,
    vocabulary: &CategoricalVocabulary,
) -> Result<(Vec<u64>, u64), Error> {
    let counts = (0..vocabulary.values.len())
        .map(|v| doc_count(b.pointer(&format!("/k{i}/buckets/v{v}/doc_count"))))
        .collect();
    Ok((counts, terms_total(b.get(format!("t{i}").as_str()))))
}

/// The matrix being filled from the server's grid buckets; rows without a bucket stay empty
/// (gap policy: counts 0, means and maxima NaN).
struct Rows<'a> {
    schema: &'a FeatureSchema,
    bucket: BucketWidth,
    starts: Vec<chrono::DateTime<chrono::Utc>>,
    first: i64,
    values: Vec<f64>,
    alert_counts: Vec<u64>,
}

impl<'a> Rows<'a> {
    fn new(grid: &BucketGrid, bucket: BucketWidth, schema: &'a FeatureSchema) -> Self {
        let starts = grid.starts();
        let width = schema.columns.len();
        let n = starts.len();
        let n_numeric = schema.numeric_fields.len() + schema.max_numeric_fields.len();
        let mut values = vec![0.0; n * width];
        for row in values.chunks_exact_mut(width.max(1)) {
            row[..n_numeric].fill(f64::NAN);
        }
        Self {
            schema,
            bucket,
            first: starts.first().map_or(0, DateTime::timestamp),
            starts,
            values,
            alert_counts: vec![0; n],
        }
    }

    /// Lays one composite bucket (key `t`, the row's start in milliseconds) onto its row;
    /// `categories` reads, for one categorical field, the alerts of each kept value and the
    /// (alert, distinct value) pairs of all values.
    fn add(
        &mut self,
        b: &Value,
        path: &str,
        categories: &mut CategoryCounts<'_>,
    ) -> Result<(), Error> {
        let bad = |problem: String| Error::IndexerResponse {
            path: path.to_owned(),
            problem,
        };
        let key_ms = b
            .pointer("/key/t")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("a grid bucket has no numeric `key.t`".to_owned()))?;
        let offset = key_ms.div_euclid(1000) - self.first;
        if offset < 0 || offset % self.bucket.seconds() != 0 {
            return Err(bad(format!(
                "bucket key {key_ms} is not on the {}-minute grid",
                self.bucket.minutes()
            )));
        }
        let Some(row) = usize::try_from(offset / self.bucket.seconds())
            .ok()
            .filter(|&r| r < self.starts.len())
        else {
            return Ok(());
        };
        let schema = self.schema;
        let width = schema.columns.len();
        let number = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(f64::NAN);
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        let docs = count(b.get("doc_count"));
        self.alert_counts[row] = docs;
        let fraction = |c: u64| {
            if docs == 0 {
                0.0
            } else {
                c as f64 / docs as f64
            }
        };
        let cells = &mut self.values[row * width..(row + 1) * width];
        let mut col = 0;
        for i in 0..schema.numeric_fields.len() {
            cells[col] = number(b.pointer(&format!("/n{i}/value")));
            col += 1;
        }
        for i in 0..schema.max_numeric_fields.len() {
            cells[col] = number(b.pointer(&format!("/x{i}/value")));
            col += 1;
        }
        if schema.derived_features {
            for flag in 0..crate::features::derived::DERIVED_NAMES.len() {
                cells[col] = fraction(count(b.pointer(&format!("/d/buckets/f{flag}/doc_count"))));
                col += 1;
            }
        }
        for (i, vocabulary) in schema.categorical.iter().enumerate() {
            let (counts, total) = categories(b, i, vocabulary)?;
            let mut kept = 0;
            for c in counts {
                kept += c;
                cells[col] = fraction(c);
                col += 1;
            }
            cells[col] = fraction(total.saturating_sub(kept));
            col += 1;
        }
        if col + 1 != width {
            return Err(bad(format!(
                "schema has {width} columns but aggregations fill {}",
                col + 1
            )));
        }
        cells[col] = docs as f64;
        Ok(())
    }

    fn finish(self) -> FeatureMatrix {
        let alerts = self.alert_counts.iter().sum();
        FeatureMatrix {
            bucket_starts: self.starts,
            columns: self.schema.columns.clone(),
            values: self.values,
            alert_counts: self.alert_counts,
            stats: FeatureStats {
                alerts,
                ..FeatureStats::default()
            },
            schema: self.schema.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;
    use crate::source::TimeRange;
    use chrono::Utc;

    fn query() -> AlertQuery {
        let start = DateTime::<Utc>::from_timestamp(0, 0).expect("epoch");
        AlertQuery {
            range: TimeRange {
                start,
                end: start + chrono::Duration::hours(1),
            },
            timestamp_field: "timestamp".to_owned(),
            fields: Vec::new(),
            alert_filter: None,
        }
    }

    #[test]
    fn columns_hold_every_feature_and_the_probe_every_field() {
        let spec = FeatureSpec {
            bucket_minutes: 10,
            numeric_fields: vec!["rule.level".to_owned()],
            max_numeric_fields: vec!["rule.level".to_owned()],
            categorical_fields: vec!["agent.name".to_owned()],
            derived_features: true,
            ..FeatureSpec::default()
        };
        let plan = spec.validate().expect("valid spec");
        let schema = FeatureSchema::new(&plan, vec![vec!["web".to_owned()]]);
        let fields = Fields {
            keyword_suffix: true,
        };
        let columns = columns(&schema, fields);
        assert_eq!(columns["n0"], json!({"avg": {"field": "rule.level"}}));
        assert_eq!(columns["x0"], json!({"max": {"field": "rule.level"}}));
        assert_eq!(
            columns["k0"]["filters"]["filters"]["v0"],
            json!({"term": {"agent.name.keyword": "web"}})
        );
        assert_eq!(
            columns["t0"],
            json!({"terms": {"field": "agent.name.keyword", "size": 1}})
        );
        let flags = columns["d"]["filters"]["filters"]
            .as_object()
            .expect("flag filters");
        assert_eq!(flags.len(), 13);
        assert_eq!(flags["f4"], json!({"range": {"rule.level": {"gte": 10.0}}}));
        assert_eq!(
            flags["f2"],
            json!({"terms": {"rule.groups.keyword": ["brute_force"]}})
        );

        let probe = probe_body(&query(), &plan, fields);
        assert_eq!(probe["size"], json!(0));
        assert!(probe.get("sort").is_none());
        let probes = probe["aggs"].as_object().expect("probes");
        let named = |kind: &str| -> Vec<String> {
            probes
                .values()
                .filter_map(|p| p.get(kind)?.get("field")?.as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(
            named("max"),
            [
                "data.1min_loadAverage",
                "data.cpu_usage_%",
                "data.memory_usage_%",
                "rule.level"
            ]
        );
        assert_eq!(
            named("terms"),
            ["agent.name.keyword", "rule.groups.keyword"]
        );
    }
}
