//! Server-side feature aggregation: when a model's columns can be written as OpenSearch
//! aggregations, fetch one bucket per grid row instead of every alert. The indexer does the
//! heavy lifting and SONAR moves kilobytes instead of gigabytes.
//!
//! Expressible: numeric means (`avg`), `__max` (`max`), categorical one-hot columns
//! (`filters`, one `term` per kept value) and `__other` (a `terms` aggregation's total minus
//! the kept counts), `alert_count` (`doc_count`), all under an epoch-aligned
//! `date_histogram`. Not expressible: the 13 derived flags (rules over several fields and
//! text), so a schema with them returns `None` and the caller streams alerts instead.
//!
//! Where the server and the in-memory builder can differ, by construction: numeric strings
//! in a field mapped as text (the builder parses them; `avg` refuses the field), empty-string
//! categories (the builder ignores them; `terms` counts them), and timestamps inside one
//! millisecond of a bucket edge (a `date` field keeps milliseconds).

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::client::{Method, RequestBody};
use super::search::{encode_path_segment, IndexerSource};
use crate::features::{BucketGrid, BucketWidth, FeatureMatrix, FeatureSchema, FeatureStats};
use crate::source::AlertQuery;
use crate::Error;

impl IndexerSource {
    /// The feature matrix of `schema` over `query.range`, computed by the server; `None` when
    /// the schema holds columns aggregations cannot express (the derived flags).
    /// `query.alert_filter` applies; `query.fields` is ignored.
    ///
    /// Categorical fields mapped as `text` (dynamic mappings) are retried once on their
    /// `.keyword` sub-field.
    pub fn aggregate_features(
        &self,
        query: &AlertQuery,
        schema: &FeatureSchema,
    ) -> Result<Option<FeatureMatrix>, Error> {
        if schema.derived_features {
            tracing::info!(
                index = %self.index_pattern(),
                "derived flags cannot be aggregated by the server; streaming alerts instead"
            );
            return Ok(None);
        }
        let bucket =
            BucketWidth::new(schema.bucket_minutes).ok_or_else(|| Error::IndexerResponse {
                path: self.index_pattern().to_owned(),
                problem: format!(
                    "schema bucket width {} minutes is out of range",
                    schema.bucket_minutes
                ),
            })?;
        let grid = BucketGrid::new(query.range, bucket)?;
        let path = format!("/{}/_search", encode_path_segment(self.index_pattern()));

        let mut keyword_suffix = false;
        let response = loop {
            let body = aggregation_body(query, schema, keyword_suffix);
            match self
                .client()
                .request(Method::POST, &path, Some(&RequestBody::Json(body)))
            {
                Ok(response) => break response,
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
                Err(Error::IndexerHttp { status: 404, .. }) => {
                    return Err(Error::IndexNotFound {
                        pattern: self.index_pattern().to_owned(),
                    })
                }
                Err(other) => return Err(other),
            }
        };
        let answer: Value = response.json()?;
        let buckets = answer
            .pointer("/aggregations/grid/buckets")
            .and_then(|b| b.as_array())
            .ok_or_else(|| Error::IndexerResponse {
                path: path.clone(),
                problem: "no `aggregations.grid.buckets` in the answer".to_owned(),
            })?;
        Ok(Some(matrix(&grid, bucket, schema, buckets, &path)?))
    }
}

/// The request: range filter, optional `alert_filter`, and one `date_histogram` bucket per
/// non-empty grid row with the column aggregations inside.
fn aggregation_body(query: &AlertQuery, schema: &FeatureSchema, keyword_suffix: bool) -> Value {
    let category_field = |field: &str| {
        if keyword_suffix {
            format!("{field}.keyword")
        } else {
            field.to_owned()
        }
    };
    let mut columns = Map::new();
    for (i, field) in schema.numeric_fields.iter().enumerate() {
        columns.insert(format!("n{i}"), json!({ "avg": { "field": field } }));
    }
    for (i, field) in schema.max_numeric_fields.iter().enumerate() {
        columns.insert(format!("x{i}"), json!({ "max": { "field": field } }));
    }
    for (i, vocabulary) in schema.categorical.iter().enumerate() {
        let field = category_field(&vocabulary.field);
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
    let mut query = query.clone();
    query.timestamp_field = schema.timestamp_field.clone();
    query.fields.clear();
    let mut body = super::search::search_body(&query, 0, false);
    if let Some(object) = body.as_object_mut() {
        object.remove("sort");
    }
    body["aggs"] = json!({ "grid": {
        "date_histogram": {
            "field": schema.timestamp_field,
            "fixed_interval": format!("{}m", schema.bucket_minutes),
            "min_doc_count": 1,
        },
        "aggs": columns,
    }});
    body
}

/// Lays the server's buckets onto the grid; rows without a bucket are empty (gap policy:
/// counts 0, means and maxima NaN).
fn matrix(
    grid: &BucketGrid,
    bucket: BucketWidth,
    schema: &FeatureSchema,
    buckets: &[Value],
    path: &str,
) -> Result<FeatureMatrix, Error> {
    let starts = grid.starts();
    let width = schema.columns.len();
    let n = starts.len();
    let first = starts.first().map_or(0, DateTime::timestamp);
    let mut values = vec![0.0; n * width];
    let mut alert_counts = vec![0u64; n];
    let n_numeric = schema.numeric_fields.len() + schema.max_numeric_fields.len();
    for row in 0..n {
        for col in 0..n_numeric {
            values[row * width + col] = f64::NAN;
        }
    }
    let bad = |problem: String| Error::IndexerResponse {
        path: path.to_owned(),
        problem,
    };
    let number = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(f64::NAN);
    let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    for b in buckets {
        let key_ms = b
            .get("key")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("a histogram bucket has no numeric `key`".to_owned()))?;
        let offset = key_ms.div_euclid(1000) - first;
        if offset < 0 || offset % bucket.seconds() != 0 {
            return Err(bad(format!(
                "bucket key {key_ms} is not on the {}-minute grid",
                bucket.minutes()
            )));
        }
        let Some(row) = usize::try_from(offset / bucket.seconds())
            .ok()
            .filter(|&r| r < n)
        else {
            continue;
        };
        let docs = count(b.get("doc_count"));
        alert_counts[row] = docs;
        let fraction = |c: u64| {
            if docs == 0 {
                0.0
            } else {
                c as f64 / docs as f64
            }
        };
        let cells = &mut values[row * width..(row + 1) * width];
        let mut col = 0;
        for i in 0..schema.numeric_fields.len() {
            cells[col] = number(b.pointer(&format!("/n{i}/value")));
            col += 1;
        }
        for i in 0..schema.max_numeric_fields.len() {
            cells[col] = number(b.pointer(&format!("/x{i}/value")));
            col += 1;
        }
        for (i, vocabulary) in schema.categorical.iter().enumerate() {
            let mut kept = 0;
            for v in 0..vocabulary.values.len() {
                let c = count(b.pointer(&format!("/k{i}/buckets/v{v}/doc_count")));
                kept += c;
                cells[col] = fraction(c);
                col += 1;
            }
            let terms = b.get(format!("t{i}").as_str());
            let returned: u64 = terms
                .and_then(|t| t.get("buckets"))
                .and_then(Value::as_array)
                .map_or(0, |bs| bs.iter().map(|x| count(x.get("doc_count"))).sum());
            let total = returned + count(terms.and_then(|t| t.get("sum_other_doc_count")));
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
    }
    let alerts = alert_counts.iter().sum();
    tracing::info!(
        buckets = n,
        columns = width,
        alerts,
        "feature matrix aggregated by the indexer"
    );
    Ok(FeatureMatrix {
        bucket_starts: starts,
        columns: schema.columns.clone(),
        values,
        alert_counts,
        stats: FeatureStats {
            alerts,
            ..FeatureStats::default()
        },
        schema: schema.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;
    use crate::source::TimeRange;
    use chrono::Utc;

    #[test]
    fn body_has_histogram_and_column_aggregations() {
        let spec = FeatureSpec {
            bucket_minutes: 10,
            numeric_fields: vec!["rule.level".to_owned()],
            max_numeric_fields: vec!["rule.level".to_owned()],
            categorical_fields: vec!["agent.name".to_owned()],
            derived_features: false,
            ..FeatureSpec::default()
        };
        let plan = spec.validate().expect("valid spec");
        let schema = FeatureSchema::new(&plan, vec![vec!["web".to_owned()]]);
        let start = DateTime::<Utc>::from_timestamp(0, 0).expect("epoch");
        let query = AlertQuery {
            range: TimeRange {
                start,
                end: start + chrono::Duration::hours(1),
            },
            timestamp_field: "timestamp".to_owned(),
            fields: Vec::new(),
            alert_filter: None,
        };
        let body = aggregation_body(&query, &schema, true);
        assert_eq!(body["size"], json!(0));
        assert!(body.get("sort").is_none());
        let grid = &body["aggs"]["grid"];
        assert_eq!(grid["date_histogram"]["fixed_interval"], json!("10m"));
        assert_eq!(grid["aggs"]["n0"], json!({"avg": {"field": "rule.level"}}));
        assert_eq!(grid["aggs"]["x0"], json!({"max": {"field": "rule.level"}}));
        assert_eq!(
            grid["aggs"]["k0"]["filters"]["filters"]["v0"],
            json!({"term": {"agent.name.keyword": "web"}})
        );
        assert_eq!(
            grid["aggs"]["t0"],
            json!({"terms": {"field": "agent.name.keyword", "size": 1}})
        );
    }
}
