//! Alerts from the server: paging raw alerts (point-in-time + `search_after`) and building features
//! in SONAR, against server-side aggregation (one `date_histogram` bucket per grid row;
//! docs/benchmarks.md "Alerts from the server: paging vs aggregation"). Both produce the same
//! feature matrix; the table says how fast.
//!
//! Needs a running OpenSearch-compatible server with nothing in `sonar-bench-alerts`:
//! `bench/server_fetch.sh` starts osmem-server on loopback and runs this. By hand:
//! `cargo run --release -p sonar-eval --example server_fetch_bench -- --url http://127.0.0.1:PORT
//! [--alerts 100000] [--repeat 3] [--page-sizes 1000,10000]`.
//!
//! The alerts are the bundled demo alerts (security and resource files, deterministic),
//! cycled to N and spread evenly over one day, so 5-minute buckets give 288 rows. They are
//! indexed under a Wazuh-like mapping (strings `keyword`; `rule.level` and the usage
//! percentages numeric, so `avg`/`max` can aggregate them).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use sonar::features::{FeatureBuilder, FeatureMatrix, FeatureSchema, FeatureSpec};
use sonar::source::indexer::{IndexerClient, IndexerConnection, IndexerSource, RetryPolicy};
use sonar::source::{Alert, AlertQuery, AlertSource, TimeRange};
use sonar::synthetic::wazuh_timestamp;
use sonar_eval::demo;

const INDEX: &str = "sonar-bench-alerts";
const DAY_START: i64 = 1_733_011_200; // 2024-12-01T00:00:00Z

type Failure = Box<dyn std::error::Error>;

struct Args {
    url: String,
    alerts: usize,
    repeat: usize,
    page_sizes: Vec<usize>,
}

fn args() -> Result<Args, Failure> {
    let mut parsed = Args {
        url: String::new(),
        alerts: 100_000,
        repeat: 3,
        page_sizes: vec![10_000],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => parsed.url = value()?,
            "--alerts" => parsed.alerts = value()?.parse()?,
            "--repeat" => parsed.repeat = value()?.parse::<usize>()?.max(1),
            "--page-sizes" => {
                parsed.page_sizes = value()?
                    .split(',')
                    .map(|p| p.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?
            }
            other => {
                return Err(format!("unknown argument {other}; see the file's doc comment").into())
            }
        }
    }
    if parsed.url.is_empty() {
        return Err(
            "--url http://127.0.0.1:PORT is required (bench/server_fetch.sh sets it)".into(),
        );
    }
    Ok(parsed)
}

/// `n` demo alerts, cycled, re-timed evenly over one day (oldest first).
fn alerts(n: usize) -> Vec<Alert> {
    let pool: Vec<Alert> = demo::generate(demo::DEMO_SEED)
        .files
        .into_iter()
        .flat_map(|f| f.alerts)
        .collect();
    let start = DateTime::<Utc>::from_timestamp(DAY_START, 0).expect("valid start");
    (0..n)
        .map(|i| {
            let mut alert = pool[i % pool.len()].clone();
            let offset = TimeDelta::milliseconds((i as i64 * 86_400_000) / n as i64);
            alert.insert("timestamp".into(), json!(wazuh_timestamp(start + offset)));
            alert
        })
        .collect()
}

fn mapping() -> Value {
    let float = json!({"type": "float"});
    json!({"mappings": {
        "dynamic_templates": [{"string_as_keyword": {
            "match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
        "properties": {
            "timestamp": {"type": "date", "format": "date_optional_time||epoch_millis"},
            "rule": {"properties": {"level": {"type": "long"}}},
            "data": {"properties": {
                "cpu_usage_%": float, "memory_usage_%": float, "1min_loadAverage": float,
            }},
            "full_log": {"type": "text"},
        }
    }})
}

fn load(url: &str, alerts: &[Alert]) -> Result<Duration, Failure> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let status = http
        .put(format!("{url}/{INDEX}"))
        .json(&mapping())
        .send()?
        .status();
    if !status.is_success() {
        return Err(format!("creating {INDEX}: HTTP {status} (is the server empty?)").into());
    }
    let started = Instant::now();
    for chunk in alerts.chunks(5_000) {
        let mut body = String::new();
        for alert in chunk {
            body.push_str("{\"index\":{}}\n");
            body.push_str(&serde_json::to_string(alert)?);
            body.push('\n');
        }
        let answer: Value = http
            .post(format!("{url}/{INDEX}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()?
            .json()?;
        if answer["errors"] != json!(false) {
            let text: String = answer.to_string().chars().take(500).collect();
            return Err(format!("bulk load failed: {text}").into());
        }
    }
    http.post(format!("{url}/{INDEX}/_refresh")).send()?;
    Ok(started.elapsed())
}

/// The fastest of `repeat` runs of `f` and its last result.
fn best<T>(
    repeat: usize,
    mut f: impl FnMut() -> Result<T, Failure>,
) -> Result<(Duration, T), Failure> {
    let mut fastest = Duration::MAX;
    let mut last = None;
    for _ in 0..repeat {
        let started = Instant::now();
        let out = f()?;
        fastest = fastest.min(started.elapsed());
        last = Some(out);
    }
    Ok((fastest, last.expect("repeat >= 1")))
}

fn max_difference(a: &FeatureMatrix, b: &FeatureMatrix) -> f64 {
    a.values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| {
            if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, f64::max)
}

fn main() -> Result<(), Failure> {
    let args = args()?;
    let alerts = alerts(args.alerts);
    let range = TimeRange {
        start: DateTime::from_timestamp(DAY_START, 0).expect("valid"),
        end: DateTime::from_timestamp(DAY_START + 86_400, 0).expect("valid"),
    };
    let load_time = load(&args.url, &alerts)?;
    eprintln!(
        "loaded {} alerts in {:.1} s",
        alerts.len(),
        load_time.as_secs_f64()
    );

    let spec = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec![
            "rule.level".into(),
            "data.cpu_usage_%".into(),
            "data.memory_usage_%".into(),
        ],
        max_numeric_fields: vec!["rule.level".into(), "data.cpu_usage_%".into()],
        categorical_fields: vec!["rule.groups".into(), "agent.name".into(), "rule.id".into()],
        categorical_top_k: 10,
        derived_features: true,
        timestamp_field: "timestamp".into(),
    };
    let plan = spec.validate()?;
    let mut training = FeatureBuilder::for_training(&plan, range)?;
    training.push_page(&alerts);
    let schema: FeatureSchema = training.finish().schema;
    drop(alerts);

    // osmem answers a 100k-alert aggregation in minutes on a busy 2-core machine: no retries,
    // a long timeout, so the table shows the time rather than a timeout.
    let client = IndexerClient::new(IndexerConnection {
        timeout: Duration::from_secs(900),
        retry: RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
        ..IndexerConnection::new(args.url.clone())
    })?;
    let query = |fields: Vec<String>| AlertQuery {
        range,
        timestamp_field: "timestamp".into(),
        fields,
        alert_filter: None,
    };
    let needed: Vec<String> = [
        "timestamp",
        "rule.level",
        "data.cpu_usage_%",
        "data.memory_usage_%",
        "rule.groups",
        "agent.name",
        "rule.id",
    ]
    .map(String::from)
    .to_vec();

    println!(
        "| method | page size | _source | time (best of {}) | alerts/s | buckets/s | bytes moved per pass |",
        args.repeat
    );
    println!("|---|---|---|---|---|---|---|");
    let row =
        |method: &str, page: &str, source: &str, time: Duration, buckets: usize, bytes: u64| {
            let s = time.as_secs_f64();
            println!(
                "| {method} | {page} | {source} | {:.3} s | {:.0} | {:.0} | {bytes} |",
                s,
                args.alerts as f64 / s,
                buckets as f64 / s
            );
        };

    let mut paged_matrix = None;
    let mut runs: Vec<(usize, Vec<String>, &str)> = args
        .page_sizes
        .iter()
        .map(|&p| (p, needed.clone(), "7 fields"))
        .collect();
    let largest = args.page_sizes.iter().copied().max().unwrap_or(10_000);
    runs.push((largest, Vec::new(), "whole alert"));
    for (page_size, fields, label) in runs {
        let mut source = IndexerSource::new(client.clone(), INDEX).with_page_size(page_size);
        let q = query(fields);
        let before = client.bytes_moved();
        let (time, matrix) = best(args.repeat, || {
            let mut builder = FeatureBuilder::for_detection(&schema, range)?;
            let stats = source.stream(&q, &mut |page| {
                builder.push_page(&page);
                Ok(())
            })?;
            if stats.alerts as usize != args.alerts {
                return Err(
                    format!("paged {} alerts, loaded {}", stats.alerts, args.alerts).into(),
                );
            }
            Ok(builder.finish())
        })?;
        row(
            "page raw alerts (PIT + search_after) + build features",
            &page_size.to_string(),
            label,
            time,
            matrix.rows(),
            (client.bytes_moved() - before) / args.repeat.max(1) as u64,
        );
        paged_matrix = Some(matrix);
    }

    let source = IndexerSource::new(client.clone(), INDEX);
    let before = client.bytes_moved();
    let (time, aggregated) = best(args.repeat, || {
        source
            .aggregate_features(&query(Vec::new()), &schema)?
            .ok_or_else(|| Failure::from("schema not expressible as aggregations"))
    })?;
    row(
        "server-side features (probe + composite date_histogram)",
        "-",
        "-",
        time,
        aggregated.rows(),
        (client.bytes_moved() - before) / args.repeat.max(1) as u64,
    );

    let paged = paged_matrix.expect("at least one paging run");
    eprintln!(
        "{} rows x {} columns; max |aggregated - paged| = {:.2e}",
        paged.rows(),
        paged.cols(),
        max_difference(&aggregated, &paged)
    );
    Ok(())
}
