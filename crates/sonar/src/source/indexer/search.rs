//! Alert search over the indexer: a time range on the timestamp field, sorted oldest first,
//! paged with point-in-time + `search_after` so that no 10,000-hit cap applies and memory
//! holds one page at a time.
//!
//! Invariants: a point-in-time opened here is always closed before `stream` returns (on
//! error too); pages reach the consumer in timestamp order, each alert exactly once. "Order"
//! is the server's: a `date` field sorts at millisecond resolution, so alerts within one
//! millisecond come in index order (Wazuh's microseconds only order under `date_nanos`).

use chrono::SecondsFormat;
use serde_json::{json, Value};

use super::client::{error_reason, IndexerClient, Method, RequestBody};
use crate::source::{Alert, AlertQuery, AlertSource, ServerFeatures, StreamStats};
use crate::Error;

/// Default number of alerts per page.
pub const DEFAULT_PAGE_SIZE: usize = 5000;

/// The index pattern searched for alerts when none is configured.
pub const DEFAULT_ALERTS_INDEX_PATTERN: &str = "wazuh-alerts-*";

/// Default lifetime of the point-in-time between two page requests.
pub const DEFAULT_PIT_KEEP_ALIVE: &str = "5m";

/// The indexer as an [`AlertSource`]: searches `index_pattern` page by page.
#[derive(Debug, Clone)]
pub struct IndexerSource {
    client: IndexerClient,
    index_pattern: String,
    page_size: usize,
    pit_keep_alive: String,
    /// Set once the server refused a point-in-time, so that it is said only once.
    pit_unsupported: bool,
}

impl IndexerSource {
    /// A source over `index_pattern` (e.g. `wazuh-alerts-4.x-*`) with the default page size.
    pub fn new(client: IndexerClient, index_pattern: impl Into<String>) -> Self {
        Self {
            client,
            index_pattern: index_pattern.into(),
            page_size: DEFAULT_PAGE_SIZE,
            pit_keep_alive: DEFAULT_PIT_KEEP_ALIVE.to_owned(),
            pit_unsupported: false,
        }
    }

    /// Sets the number of alerts per request (at least 1; OpenSearch caps it at 10,000 by
    /// default through `index.max_result_window`).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Sets how long the point-in-time stays open between two pages (`1m`, `5m`, ...).
    pub fn with_pit_keep_alive(mut self, keep_alive: impl Into<String>) -> Self {
        self.pit_keep_alive = keep_alive.into();
        self
    }

    /// The index pattern searched.
    pub fn index_pattern(&self) -> &str {
        &self.index_pattern
    }

    /// The client this source searches with.
    pub fn client(&self) -> &IndexerClient {
        &self.client
    }

    /// The index pattern searched, percent-encoded for a URL path.
    fn index_path(&self) -> String {
        encode_path_segment(&self.index_pattern)
    }

    /// Fails with [`Error::IndexNotFound`] when nothing matches the pattern. A search on a
    /// wildcard matching nothing succeeds with zero hits, which would hide a misconfigured
    /// pattern; `_resolve/index` tells the two apart. Servers without that API skip the check.
    pub(super) fn ensure_index_exists(&self) -> Result<(), Error> {
        let path = format!("/_resolve/index/{}", self.index_path());
        let response = match self.client.request(Method::GET, &path, None) {
            Ok(response) => response,
            Err(Error::IndexerHttp { status: 404, .. }) => {
                return Err(Error::IndexNotFound {
                    pattern: self.index_pattern.clone(),
                })
            }
            Err(Error::IndexerHttp {
                status: 400 | 405 | 501,
                ..
            }) => return Ok(()),
            Err(other) => return Err(other),
        };
        let resolved: Value = response.json()?;
        let matched = ["indices", "aliases", "data_streams"].iter().any(|key| {
            resolved
                .get(key)
                .and_then(|v| v.as_array())
                .is_some_and(|v| !v.is_empty())
        });
        if matched {
            Ok(())
        } else {
            Err(Error::IndexNotFound {
                pattern: self.index_pattern.clone(),
            })
        }
    }

    /// Opens a point-in-time; `None` when the server does not support it.
    fn open_pit(&mut self) -> Result<Option<String>, Error> {
        let path = format!(
            "/{}/_search/point_in_time?keep_alive={}",
            self.index_path(),
            self.pit_keep_alive
        );
        match self.client.request(Method::POST, &path, None) {
            Ok(response) => {
                let body: Value = response.json()?;
                let id = body.get("pit_id").and_then(|v| v.as_str()).ok_or_else(|| {
                    Error::IndexerResponse {
                        path: path.clone(),
                        problem: "no `pit_id` in the point-in-time response".to_owned(),
                    }
                })?;
                Ok(Some(id.to_owned()))
            }
            Err(Error::IndexerHttp {
                status: 404,
                reason,
                ..
            }) if reason.contains("index_not_found") => Err(Error::IndexNotFound {
                pattern: self.index_pattern.clone(),
            }),
            // The request has no body, so these statuses mean "unknown endpoint": an
            // OpenSearch before 2.4, or a proxy that does not pass it on.
            Err(Error::IndexerHttp {
                status: status @ (400 | 404 | 405 | 501),
                reason,
                ..
            }) => {
                if !self.pit_unsupported {
                    tracing::warn!(
                        index = %self.index_pattern, status, reason = %reason,
                        "the indexer refused a point-in-time; paging with search_after alone \
                         (alerts indexed during the read may shift pages)"
                    );
                    self.pit_unsupported = true;
                }
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    fn close_pit(&self, pit_id: &str) {
        let body = RequestBody::Json(json!({ "pit_id": [pit_id] }));
        match self
            .client
            .request(Method::DELETE, "/_search/point_in_time", Some(&body))
        {
            Ok(_) => tracing::debug!(index = %self.index_pattern, "point-in-time closed"),
            // Not fatal: the server drops it after keep_alive anyway.
            Err(error) => tracing::warn!(
                index = %self.index_pattern, error = %error,
                keep_alive = %self.pit_keep_alive,
                "could not close the point-in-time; it expires on its own"
            ),
        }
    }

    /// Reads every page, with `pit_id` when given.
    fn pages(
        &self,
        query: &AlertQuery,
        pit_id: Option<&str>,
        on_page: &mut dyn FnMut(Vec<Alert>) -> Result<(), Error>,
    ) -> Result<StreamStats, Error> {
        let mut stats = StreamStats::default();
        let mut body = search_body(query, self.page_size, pit_id.is_some());
        let mut pit_id = pit_id.map(str::to_owned);
        let path = match pit_id {
            Some(_) => "/_search".to_owned(),
            None => format!("/{}/_search", self.index_path()),
        };
        loop {
            if let Some(id) = &pit_id {
                body["pit"] = json!({ "id": id, "keep_alive": self.pit_keep_alive });
            }
            let response =
                self.client
                    .request(Method::POST, &path, Some(&RequestBody::Json(body.clone())))?;
            let mut page: Value = response.json()?;
            stats.pages += 1;
            // The server may hand out a new id for the same point-in-time.
            if let Some(id) = page.get("pit_id").and_then(|v| v.as_str()) {
                pit_id = Some(id.to_owned());
            }
            // Taken, not cloned: the page's documents move straight to the consumer.
            let hits = match page.pointer_mut("/hits/hits").map(Value::take) {
                Some(Value::Array(hits)) => hits,
                _ => {
                    return Err(Error::IndexerResponse {
                        path: path.clone(),
                        problem: format!(
                            "no `hits.hits` array in the search response: {}",
                            error_reason(&response.body)
                        ),
                    })
                }
            };
            drop(page);
            drop(response);
            let full_page = hits.len() >= self.page_size;
            let last_sort = match hits.last() {
                Some(hit) => {
                    Some(
                        hit.get("sort")
                            .cloned()
                            .ok_or_else(|| Error::IndexerResponse {
                                path: path.clone(),
                                problem: "a hit has no `sort` values".to_owned(),
                            })?,
                    )
                }
                None => None,
            };
            let mut alerts = Vec::with_capacity(hits.len());
            for hit in hits {
                let Value::Object(mut hit) = hit else {
                    stats.skipped += 1;
                    continue;
                };
                match hit.remove("_source") {
                    Some(Value::Object(source)) => alerts.push(source),
                    other => {
                        stats.skipped += 1;
                        if stats.first_skip_reason.is_none() {
                            let id = hit.get("_id").and_then(|v| v.as_str()).unwrap_or("?");
                            stats.first_skip_reason = Some(format!(
                                "document {id}: `_source` is not a JSON object ({})",
                                other.as_ref().map_or("absent".to_owned(), kind_of)
                            ));
                        }
                    }
                }
            }
            if !alerts.is_empty() {
                stats.alerts += alerts.len() as u64;
                on_page(alerts)?;
            }
            match last_sort {
                Some(sort) if full_page => body["search_after"] = sort,
                _ => break,
            }
        }
        Ok(stats)
    }
}

impl AlertSource for IndexerSource {
    fn stream(
        &mut self,
        query: &AlertQuery,
        on_page: &mut dyn FnMut(Vec<Alert>) -> Result<(), Error>,
    ) -> Result<StreamStats, Error> {
        self.ensure_index_exists()?;
        let pit_id = if self.pit_unsupported {
            None
        } else {
            self.open_pit()?
        };
        let result = self.pages(query, pit_id.as_deref(), on_page);
        if let Some(id) = &pit_id {
            self.close_pit(id);
        }
        let stats = result?;
        tracing::info!(
            index = %self.index_pattern, alerts = stats.alerts, pages = stats.pages,
            skipped = stats.skipped, point_in_time = pit_id.is_some(),
            "alert search finished"
        );
        Ok(stats)
    }

    fn aggregate(
        &mut self,
        query: &AlertQuery,
        features: ServerFeatures<'_>,
    ) -> Result<Option<crate::features::FeatureMatrix>, Error> {
        self.server_features(query, features)
    }

    fn count_entities(
        &mut self,
        query: &AlertQuery,
        fields: &[String],
    ) -> Result<Option<crate::source::EntityCounts>, Error> {
        self.entity_counts(query, fields)
    }

    fn entity_features(
        &mut self,
        query: &AlertQuery,
        fields: &[String],
        features: crate::source::EntityFeatures<'_>,
    ) -> Result<Option<crate::source::EntityMatrices>, Error> {
        self.server_entity_features(query, fields, features)
    }
}

/// The first search body: range filter, optional `alert_filter` in `bool.must`, sort with a
/// tiebreaker, `_source` filtering. `search_after` and `pit` are added per page.
///
/// The tiebreaker makes the order total so `search_after` never skips or repeats an alert
/// sharing a timestamp: `_shard_doc` inside a point-in-time, `_id` without one.
pub fn search_body(query: &AlertQuery, page_size: usize, with_pit: bool) -> Value {
    let field = &query.timestamp_field;
    let range = json!({ "range": { field.as_str(): {
        "gte": query.range.start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "lt": query.range.end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }}});
    let mut bool_query = json!({ "filter": [range] });
    match &query.alert_filter {
        None | Some(Value::Null) => {}
        Some(Value::Array(clauses)) => bool_query["must"] = Value::Array(clauses.clone()),
        Some(clause) => bool_query["must"] = json!([clause]),
    }
    let tiebreaker = if with_pit {
        json!({ "_shard_doc": "asc" })
    } else {
        json!({ "_id": "asc" })
    };
    let mut body = json!({
        "size": page_size,
        "track_total_hits": false,
        "query": { "bool": bool_query },
        "sort": [ { field.as_str(): { "order": "asc" } }, tiebreaker ],
    });
    if !query.fields.is_empty() {
        let mut fields = query.fields.clone();
        if !fields.contains(field) {
            fields.push(field.clone());
        }
        body["_source"] = json!(fields);
    }
    body
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .to_owned()
}

/// Percent-encodes what may not appear raw in a path segment; keeps the characters index
/// patterns use (`*`, `,`, `-`, `.`, `_`, `+`, `:`).
pub(crate) fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"*,-._+:".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::TimeRange;
    use chrono::{TimeZone, Utc};

    fn query(fields: &[&str], filter: Option<Value>) -> AlertQuery {
        AlertQuery {
            range: TimeRange {
                start: Utc
                    .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                    .single()
                    .expect("date"),
                end: Utc
                    .with_ymd_and_hms(2024, 1, 2, 0, 0, 0)
                    .single()
                    .expect("date"),
            },
            timestamp_field: "timestamp".to_owned(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            alert_filter: filter,
        }
    }

    #[test]
    fn body_with_filter_fields_and_pit() {
        let body = search_body(
            &query(&["rule.level"], Some(json!({"term": {"agent.id": "001"}}))),
            1000,
            true,
        );
        assert_eq!(
            body,
            json!({
                "size": 1000,
                "track_total_hits": false,
                "query": {"bool": {
                    "filter": [{"range": {"timestamp": {
                        "gte": "2024-01-01T00:00:00Z", "lt": "2024-01-02T00:00:00Z"}}}],
                    "must": [{"term": {"agent.id": "001"}}],
                }},
                "sort": [{"timestamp": {"order": "asc"}}, {"_shard_doc": "asc"}],
                "_source": ["rule.level", "timestamp"],
            })
        );
    }

    #[test]
    fn body_without_filter_has_no_must_and_all_fields() {
        let body = search_body(&query(&[], None), 10, false);
        assert!(body["query"]["bool"].get("must").is_none());
        assert!(body.get("_source").is_none());
        assert_eq!(body["sort"][1], json!({"_id": "asc"}));
    }

    #[test]
    fn path_encoding() {
        assert_eq!(
            encode_path_segment("wazuh-alerts-4.x-*,other"),
            "wazuh-alerts-4.x-*,other"
        );
        assert_eq!(encode_path_segment("a b/#?"), "a%20b%2F%23%3F");
    }
}
