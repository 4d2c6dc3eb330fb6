//! Local alert files for debug mode (the seed's LocalDataProvider).
//!
//! A file may hold a JSON array of alerts, a single alert object, NDJSON (one value per line,
//! as Wazuh's `alerts.json`), or an OpenSearch `_search` response (`hits.hits[]._source`). The
//! format is recognised from the content: `*.ndjson` files are always read line by line; a
//! `*.json` file holding more than one top-level value is read line by line too. A directory
//! loads every `*.json` and `*.ndjson` file in it (not recursively), in file-name order.
//!
//! Unlike the original, the query's time range is applied (`[start, end)` on
//! `query.timestamp_field`). Records that cannot be used are skipped and counted, never logged
//! one by one: values that are not JSON objects, NDJSON lines that are not JSON, and alerts
//! whose timestamp is missing or malformed. The stream ends with one summary event.
//!
//! Ordering: alerts are sorted by timestamp within each file (stably, so equal timestamps keep
//! file order), and files are streamed one after the other in name order. The stream is
//! therefore globally oldest-first when the files cover consecutive periods (one file per day,
//! as Wazuh archives them); when a file starts before the previous one ended, a warning says so
//! once. Memory holds one file's in-range alerts at a time, never every file's.
//!
//! `query.alert_filter` (an OpenSearch query) is evaluated in-process by
//! [`AlertFilter`] on every in-range alert; the alerts it leaves
//! out are counted in [`StreamStats::filtered`]. A clause outside its subset fails the stream
//! before any file is read. Not applied: `query.fields` (whole alerts are returned).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::filter::AlertFilter;
use super::timestamp::parse_timestamp_value;
use super::{Alert, AlertQuery, AlertSource, StreamStats};
use crate::field::FieldPath;
use crate::Error;

/// Alerts handed to the consumer per page unless [`LocalFiles::with_page_size`] says otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 10_000;

/// Alerts read from local JSON files (debug mode).
#[derive(Debug, Clone)]
pub struct LocalFiles {
    files: Vec<PathBuf>,
    page_size: usize,
}

impl LocalFiles {
    /// Opens a file, or a directory of `*.json` / `*.ndjson` files (read in name order).
    /// Fails when the path does not exist or the directory holds no such file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::LocalPathMissing {
                path: path.to_owned(),
            },
            _ => Error::Io {
                action: "reading",
                path: path.to_owned(),
                source: e,
            },
        })?;
        let files = if metadata.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| Error::Io {
                action: "listing",
                path: path.to_owned(),
                source: e,
            })?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| Error::Io {
                    action: "listing",
                    path: path.to_owned(),
                    source: e,
                })?;
                let file = entry.path();
                let is_alert_file = matches!(
                    file.extension().and_then(|e| e.to_str()),
                    Some("json" | "ndjson")
                );
                if is_alert_file && file.is_file() {
                    files.push(file);
                }
            }
            if files.is_empty() {
                return Err(Error::LocalNoFiles {
                    path: path.to_owned(),
                });
            }
            files.sort();
            files
        } else {
            vec![path.to_owned()]
        };
        Ok(Self {
            files,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Sets how many alerts each `on_page` call receives at most (at least 1).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// The files this source reads, in reading order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl AlertSource for LocalFiles {
    fn stream(
        &mut self,
        query: &AlertQuery,
        on_page: &mut dyn FnMut(Vec<Alert>) -> Result<(), Error>,
    ) -> Result<StreamStats, Error> {
        let timestamp_field =
            FieldPath::parse(&query.timestamp_field).ok_or_else(|| Error::FeatureSetting {
                key: "timestamp_field".to_owned(),
                problem: format!("`{}` is not a dotted field path", query.timestamp_field),
            })?;
        let filter = query
            .alert_filter
            .as_ref()
            .map(AlertFilter::parse)
            .transpose()?;

        let mut stats = StreamStats::default();
        let mut out_of_range: u64 = 0;
        let mut previous_end: Option<DateTime<Utc>> = None;
        let mut overlapping_files: u64 = 0;

        for path in &self.files {
            let mut batch: Vec<(DateTime<Utc>, Alert)> = Vec::new();
            let mut keep = |location: Location, record: Result<serde_json::Value, String>| {
                let map = match record {
                    Ok(serde_json::Value::Object(map)) => map,
                    Ok(_) => {
                        skip(&mut stats, || {
                            format!("{}: {location}: not a JSON object", path.display())
                        });
                        return;
                    }
                    Err(problem) => {
                        skip(&mut stats, || {
                            format!("{}: {location}: {problem}", path.display())
                        });
                        return;
                    }
                };
                let Some(value) = timestamp_field.lookup(&map) else {
                    skip(&mut stats, || {
                        format!(
                            "{}: {location}: no `{timestamp_field}` field",
                            path.display()
                        )
                    });
                    return;
                };
                match parse_timestamp_value(value) {
                    Ok(t) if t >= query.range.start && t < query.range.end => {
                        if filter.as_ref().is_none_or(|f| f.matches(&map)) {
                            batch.push((t, map));
                        } else {
                            stats.filtered += 1;
                        }
                    }
                    Ok(_) => out_of_range += 1,
                    Err(problem) => skip(&mut stats, || {
                        format!(
                            "{}: {location}: {problem}: {}",
                            path.display(),
                            excerpt(value)
                        )
                    }),
                }
            };
            read_records(path, &mut keep)?;

            batch.sort_by_key(|(t, _)| *t);
            if let (Some(first), Some(end)) = (batch.first(), previous_end) {
                if first.0 < end {
                    overlapping_files += 1;
                }
            }
            if let Some(last) = batch.last() {
                previous_end = Some(previous_end.map_or(last.0, |end| end.max(last.0)));
            }

            let mut alerts = batch.into_iter().map(|(_, alert)| alert);
            loop {
                let page: Vec<Alert> = alerts.by_ref().take(self.page_size).collect();
                if page.is_empty() {
                    break;
                }
                stats.alerts += page.len() as u64;
                stats.pages += 1;
                on_page(page)?;
            }
        }

        tracing::info!(
            files = self.files.len(),
            alerts = stats.alerts,
            pages = stats.pages,
            out_of_range,
            filtered = stats.filtered,
            skipped = stats.skipped,
            start = %query.range.start,
            end = %query.range.end,
            "local alert files read"
        );
        if let Some(reason) = &stats.first_skip_reason {
            tracing::warn!(skipped = stats.skipped, first = %reason, "records skipped while reading local alert files");
        }
        if overlapping_files > 0 {
            tracing::warn!(
                overlapping_files,
                "local alert files overlap in time; alerts are sorted within each file only"
            );
        }
        Ok(stats)
    }
}

/// Counts a skipped record; the reason is built only for the first one.
fn skip(stats: &mut StreamStats, reason: impl FnOnce() -> String) {
    stats.skipped += 1;
    if stats.first_skip_reason.is_none() {
        stats.first_skip_reason = Some(reason());
    }
}

/// A short rendering of an offending value for a skip reason.
fn excerpt(value: &serde_json::Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Where a record sits in its file, for error and skip messages.
#[derive(Debug, Clone, Copy)]
enum Location {
    /// The file is one JSON document.
    Document,
    /// Element `i` (0-based) of a top-level array.
    Element(usize),
    /// `hits.hits[i]` of a `_search` response.
    Hit(usize),
    /// Line `n` (1-based) of an NDJSON file.
    Line(usize),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Document => f.write_str("document"),
            Self::Element(i) => write!(f, "record {i}"),
            Self::Hit(i) => write!(f, "hits.hits[{i}]"),
            Self::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// Reads one file and hands each record to `keep`; a record that is unusable before even
/// looking at it (an NDJSON line that is not JSON, a hit without `_source`) arrives as `Err`.
/// A `*.json` file whose first value is not valid JSON is an error naming line and column.
fn read_records(
    path: &Path,
    keep: &mut dyn FnMut(Location, Result<serde_json::Value, String>),
) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        action: "reading",
        path: path.to_owned(),
        source: e,
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        tracing::debug!(path = %path.display(), "empty alert file");
        return Ok(());
    }
    let ndjson_by_name = path.extension().and_then(|e| e.to_str()) == Some("ndjson");
    if ndjson_by_name {
        read_lines(bytes, keep);
        return Ok(());
    }

    let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
    let first = match values.next() {
        Some(Ok(value)) => value,
        Some(Err(e)) => {
            return Err(Error::LocalJson {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                problem: e.to_string(),
            })
        }
        None => return Ok(()),
    };
    let rest = &bytes[values.byte_offset()..];
    if !rest.iter().all(u8::is_ascii_whitespace) {
        drop(first);
        read_lines(bytes, keep);
        return Ok(());
    }

    match first {
        serde_json::Value::Array(records) => {
            for (i, record) in records.into_iter().enumerate() {
                keep(Location::Element(i), Ok(record));
            }
        }
        serde_json::Value::Object(mut map) if is_search_response(&map) => {
            let hits = map
                .get_mut("hits")
                .and_then(|h| h.as_object_mut())
                .and_then(|h| h.get_mut("hits"))
                .map(serde_json::Value::take);
            if let Some(serde_json::Value::Array(hits)) = hits {
                for (i, hit) in hits.into_iter().enumerate() {
                    let source = match hit {
                        serde_json::Value::Object(mut hit) => hit
                            .remove("_source")
                            .ok_or_else(|| "hit has no _source".to_owned()),
                        _ => Err("hit is not a JSON object".to_owned()),
                    };
                    keep(Location::Hit(i), source);
                }
            }
        }
        other => keep(Location::Document, Ok(other)),
    }
    Ok(())
}

/// True for an OpenSearch `_search` response: `hits.hits` is an array.
fn is_search_response(map: &Alert) -> bool {
    map.get("hits")
        .and_then(|h| h.as_object())
        .and_then(|h| h.get("hits"))
        .is_some_and(serde_json::Value::is_array)
}

/// NDJSON: one value per non-blank line; a line that is not JSON is a counted skip.
fn read_lines(bytes: &[u8], keep: &mut dyn FnMut(Location, Result<serde_json::Value, String>)) {
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = serde_json::from_slice::<serde_json::Value>(line)
            .map_err(|e| format!("not valid JSON: {e}"));
        keep(Location::Line(i + 1), record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::TimeRange;

    fn range(start: &str, end: &str) -> TimeRange {
        let parse = |s: &str| crate::source::timestamp::parse_timestamp(s).expect("test timestamp");
        TimeRange {
            start: parse(start),
            end: parse(end),
        }
    }

    fn query(range: TimeRange) -> AlertQuery {
        AlertQuery {
            range,
            timestamp_field: "timestamp".to_owned(),
            fields: vec![],
            alert_filter: None,
        }
    }

    fn everything() -> TimeRange {
        range("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    }

    /// Streams `source` over `range` and returns the alerts' `id` fields page by page.
    fn ids(source: &mut LocalFiles, range: TimeRange) -> (Vec<Vec<String>>, StreamStats) {
        let mut pages = Vec::new();
        let stats = source
            .stream(&query(range), &mut |page| {
                pages.push(
                    page.iter()
                        .map(|a| {
                            a.get("id")
                                .and_then(|v| v.as_str())
                                .unwrap_or("?")
                                .to_owned()
                        })
                        .collect(),
                );
                Ok(())
            })
            .expect("stream succeeds");
        (pages, stats)
    }

    /// Writes `files` (name, content) into a fresh directory.
    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).expect("write test file");
        }
        dir
    }

    /// One file with `content` → the ids streamed over everything, flattened, and the stats.
    fn check(
        name: &str,
        content: &str,
        expected_ids: &[&str],
        expected_skipped: u64,
    ) -> StreamStats {
        let dir = dir_with(&[(name, content)]);
        let mut source = LocalFiles::open(dir.path().join(name)).expect("open");
        let (pages, stats) = ids(&mut source, everything());
        let flat: Vec<String> = pages.into_iter().flatten().collect();
        assert_eq!(flat, expected_ids, "{name}: {content}");
        assert_eq!(stats.skipped, expected_skipped, "{name}: {content}");
        assert_eq!(stats.alerts, expected_ids.len() as u64);
        stats
    }

    const A: &str = r#"{"id":"a","timestamp":"2024-12-01T10:00:00Z"}"#;
    const B: &str = r#"{"id":"b","timestamp":"2024-12-01T10:05:00.123456+0000"}"#;
    const C: &str = r#"{"id":"c","timestamp":"2024-12-01T12:00:00+02:00"}"#; // 10:00 UTC

    #[test]
    fn json_array() {
        check("a.json", &format!("[{B},{A}]"), &["a", "b"], 0);
    }

    #[test]
    fn single_object() {
        check("a.json", A, &["a"], 0);
        check("a.json", &format!("\u{feff}  {A}\n"), &["a"], 0);
    }

    #[test]
    fn ndjson_by_extension_and_by_content() {
        check("a.ndjson", &format!("{B}\n{A}\n"), &["a", "b"], 0);
        check("a.json", &format!("{B}\r\n\r\n{A}\r\n"), &["a", "b"], 0);
        check("a.ndjson", A, &["a"], 0);
    }

    #[test]
    fn search_response() {
        let body = format!(
            r#"{{"took":3,"hits":{{"total":{{"value":3}},"hits":[{{"_id":"1","_source":{A}}},{{"_id":"2"}},{{"_id":"3","_source":{B}}},7]}}}}"#
        );
        let stats = check("resp.json", &body, &["a", "b"], 2);
        let reason = stats.first_skip_reason.expect("a reason");
        assert!(
            reason.contains("resp.json: hits.hits[1]: hit has no _source"),
            "{reason}"
        );
    }

    #[test]
    fn equal_timestamps_keep_file_order() {
        check("a.json", &format!("[{C},{A}]"), &["c", "a"], 0);
    }

    #[test]
    fn bad_records_are_counted_once_with_the_first_reason() {
        let content = format!(
            "{A}\n[1,2]\n{{\"id\":\"x\"}}\nnot json\n{{\"id\":\"y\",\"timestamp\":\"yesterday\"}}\n{{\"id\":\"z\",\"timestamp\":17}}\n{B}\n"
        );
        let stats = check("mixed.ndjson", &content, &["a", "b"], 5);
        assert_eq!(
            stats
                .first_skip_reason
                .as_deref()
                .map(|r| r.contains("line 2: not a JSON object")),
            Some(true)
        );

        let stats = check(
            "arr.json",
            r#"[{"id":"x","timestamp":"2024-13-01T00:00:00Z"}]"#,
            &[],
            1,
        );
        let reason = stats.first_skip_reason.expect("a reason");
        assert!(
            reason.contains("arr.json: record 0: timestamp has an impossible date"),
            "{reason}"
        );
        assert!(reason.contains("2024-13-01"), "{reason}");
    }

    #[test]
    fn invalid_json_file_names_file_and_line() {
        let dir = dir_with(&[("bad.json", "[\n{\"id\": \"a\",\n  oops\n]")]);
        let mut source = LocalFiles::open(dir.path()).expect("open");
        let err = source
            .stream(&query(everything()), &mut |_| Ok(()))
            .expect_err("invalid JSON");
        let text = err.to_string();
        assert!(matches!(err, Error::LocalJson { line: 3, .. }), "{text}");
        assert!(text.contains("bad.json: line 3"), "{text}");
    }

    #[test]
    fn empty_file_gives_nothing() {
        check("empty.json", " \n", &[], 0);
    }

    #[test]
    fn time_range_is_half_open() {
        let dir = dir_with(&[("a.json", &format!("[{A},{B},{C}]"))]);
        let mut source = LocalFiles::open(dir.path()).expect("open");
        let (pages, _) = ids(
            &mut source,
            range("2024-12-01T10:00:00Z", "2024-12-01T10:05:00.123456Z"),
        );
        assert_eq!(pages.concat(), ["a", "c"]);
        let (pages, _) = ids(
            &mut source,
            range("2024-12-01T10:00:00.000000001Z", "2024-12-02T00:00:00Z"),
        );
        assert_eq!(pages.concat(), ["b"]);
    }

    #[test]
    fn directory_reads_json_and_ndjson_in_name_order_and_pages() {
        let dir = dir_with(&[
            ("2_second.ndjson", &format!("{B}\n")),
            ("1_first.json", &format!("[{A},{C}]")),
            ("3_ignored.txt", A),
        ]);
        let mut source = LocalFiles::open(dir.path())
            .expect("open")
            .with_page_size(1);
        let names: Vec<_> = source
            .files()
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(names, ["1_first.json", "2_second.ndjson"]);
        let (pages, stats) = ids(&mut source, everything());
        assert_eq!(pages, [vec!["a"], vec!["c"], vec!["b"]]);
        assert_eq!(stats.pages, 3);
    }

    #[test]
    fn missing_path_and_empty_directory_are_errors() {
        let dir = dir_with(&[("notes.txt", "x")]);
        assert!(matches!(
            LocalFiles::open(dir.path().join("nope")),
            Err(Error::LocalPathMissing { .. })
        ));
        assert!(matches!(
            LocalFiles::open(dir.path()),
            Err(Error::LocalNoFiles { .. })
        ));
    }

    #[test]
    fn alert_filter_selects_in_range_alerts_and_counts_the_rest() {
        let dir = dir_with(&[(
            "a.ndjson",
            &format!("{A}\n{B}\n{C}\n{{\"id\":\"x\",\"timestamp\":\"1999-01-01T00:00:00Z\"}}\n"),
        )]);
        let mut source = LocalFiles::open(dir.path()).expect("open");
        let mut filtered = query(everything());
        filtered.alert_filter = Some(serde_json::json!({"terms": {"id": ["a", "c", "x"]}}));
        let mut got = Vec::new();
        let stats = source
            .stream(&filtered, &mut |page| {
                got.extend(page.into_iter().map(|a| a["id"].clone()));
                Ok(())
            })
            .expect("stream succeeds");
        assert_eq!(got, ["a", "c"]);
        // `x` is out of range, not filtered; `b` is filtered.
        assert_eq!((stats.alerts, stats.filtered, stats.skipped), (2, 1, 0));
    }

    #[test]
    fn unsupported_alert_filter_fails_before_reading() {
        let dir = dir_with(&[("a.json", A)]);
        let mut source = LocalFiles::open(dir.path()).expect("open");
        let mut bad = query(everything());
        bad.alert_filter = Some(serde_json::json!({"query_string": {"query": "sshd"}}));
        let mut pages = 0;
        let err = source
            .stream(&bad, &mut |_| {
                pages += 1;
                Ok(())
            })
            .expect_err("refused");
        assert!(matches!(err, Error::AlertFilter { .. }), "{err}");
        assert!(
            err.to_string().contains("`alert_filter.query_string`"),
            "{err}"
        );
        assert_eq!(pages, 0);
    }

    #[test]
    fn consumer_errors_stop_the_stream() {
        let dir = dir_with(&[("a.json", &format!("[{A},{B}]"))]);
        let mut source = LocalFiles::open(dir.path())
            .expect("open")
            .with_page_size(1);
        let mut calls = 0;
        let result = source.stream(&query(everything()), &mut |_| {
            calls += 1;
            Err(Error::LocalNoFiles {
                path: PathBuf::from("stop"),
            })
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
