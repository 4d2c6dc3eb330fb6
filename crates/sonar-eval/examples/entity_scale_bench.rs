//! Per-entity detection at scale (docs/benchmarks.md "Per-entity detection at scale", issue
//! #15 item 8): loads Wazuh-shaped alerts of many hosts over several days into an
//! OpenSearch-compatible server, then measures the bytes one pass over every host's training
//! window moves when SONAR pages the alerts against when the server aggregates them.
//! `bench/entity_scale.sh` starts osmem-server, runs this, then times `sonar train` and one
//! realtime poll over all hosts.
//!
//! By hand: `cargo run --release -p sonar-eval --example entity_scale_bench -- --url URL
//! [--entities 1000] [--days 7] [--rate 0.5] [--load-only | --bytes-only]`.
//!
//! The alerts: host `h` (`host-0000` …) has a rate of `rate · 4^u` alerts per 5-minute bucket
//! on average (`u` uniform in −1..1, so the busiest hosts have 16 times the quietest's), with
//! a daily rhythm (twice as many at 14:00 as at 02:00), drawn from 24 Wazuh rule types
//! (authentication, sshd, web, syscheck, firewall, …). Deterministic: seed 7. They go to
//! `wazuh-alerts-4.x-bench`, under Wazuh's own index template (installed by the script).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use sonar::features::{FeatureBuilder, FeatureSpec};
use sonar::source::indexer::{IndexerClient, IndexerConnection, IndexerSource, RetryPolicy};
use sonar::source::{AlertQuery, AlertSource, EntityFeatures, TimeRange};
use sonar::synthetic::wazuh_timestamp;

const INDEX: &str = "wazuh-alerts-4.x-bench";
/// 2024-06-01T00:00:00Z: the first day of the data.
const FIRST_DAY: i64 = 1_717_200_000;
/// Entities per aggregation pass, as `train` and `detect` ask (pipeline/entity.rs).
const BATCH: usize = 50;

type Failure = Box<dyn std::error::Error>;

struct Args {
    url: String,
    entities: usize,
    days: i64,
    rate: f64,
    load: bool,
    bytes: bool,
}

fn args() -> Result<Args, Failure> {
    let mut parsed = Args {
        url: String::new(),
        entities: 1000,
        days: 7,
        rate: 0.5,
        load: true,
        bytes: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => parsed.url = value()?,
            "--entities" => parsed.entities = value()?.parse()?,
            "--days" => parsed.days = value()?.parse()?,
            "--rate" => parsed.rate = value()?.parse()?,
            "--load-only" => parsed.bytes = false,
            "--bytes-only" => parsed.load = false,
            other => {
                return Err(format!("unknown argument {other}; see the file's doc comment").into())
            }
        }
    }
    if parsed.url.is_empty() {
        return Err(
            "--url http://127.0.0.1:PORT is required (bench/entity_scale.sh sets it)".into(),
        );
    }
    Ok(parsed)
}

/// A Wazuh rule: id, level, groups, description.
type Rule = (&'static str, u64, &'static [&'static str], &'static str);

const RULES: [Rule; 24] = [
    (
        "5710",
        5,
        &["syslog", "sshd", "authentication_failed", "invalid_login"],
        "sshd: Attempt to login using a non-existent user",
    ),
    (
        "5715",
        3,
        &["syslog", "sshd", "authentication_success"],
        "sshd: authentication success.",
    ),
    (
        "5716",
        5,
        &["syslog", "sshd", "authentication_failed"],
        "sshd: authentication failed.",
    ),
    (
        "5501",
        3,
        &["pam", "syslog", "authentication_success"],
        "PAM: Login session opened.",
    ),
    ("5502", 3, &["pam", "syslog"], "PAM: Login session closed."),
    (
        "5402",
        3,
        &["syslog", "sudo"],
        "Successful sudo to ROOT executed.",
    ),
    (
        "60106",
        3,
        &["windows", "windows_security", "authentication_success"],
        "Windows logon success.",
    ),
    (
        "60122",
        5,
        &[
            "windows",
            "windows_security",
            "win_authentication_failed",
            "authentication_failed",
        ],
        "Logon failure - Unknown user or bad password.",
    ),
    (
        "31101",
        5,
        &["web", "accesslog", "attack"],
        "Web server 400 error code.",
    ),
    (
        "31108",
        0,
        &["web", "accesslog"],
        "Ignored URLs (simple queries).",
    ),
    (
        "31151",
        10,
        &["web", "accesslog", "web_scan", "recon"],
        "Multiple web server 400 error codes from same source ip.",
    ),
    (
        "550",
        7,
        &[
            "ossec",
            "syscheck",
            "syscheck_entry_modified",
            "syscheck_file",
        ],
        "Integrity checksum changed.",
    ),
    (
        "554",
        5,
        &["ossec", "syscheck", "syscheck_entry_added", "syscheck_file"],
        "File added to the system.",
    ),
    (
        "510",
        7,
        &["ossec", "rootcheck"],
        "Host-based anomaly detection event (rootcheck).",
    ),
    ("502", 3, &["ossec"], "Wazuh server started."),
    ("530", 0, &["ossec"], "Wazuh process monitoring: df -P."),
    ("4101", 5, &["firewall"], "Firewall drop event."),
    (
        "4151",
        10,
        &["firewall", "multiple_drops"],
        "Multiple Firewall drop events from same source.",
    ),
    (
        "86601",
        3,
        &["ids", "suricata"],
        "Suricata: Alert - ET POLICY",
    ),
    (
        "2902",
        7,
        &["syslog", "dpkg", "config_changed"],
        "New dpkg (Debian Package) installed.",
    ),
    (
        "40704",
        3,
        &["systemd", "service_availability"],
        "Systemd: Service exited due to a failure.",
    ),
    (
        "18152",
        5,
        &["windows", "windows_security", "policy_changed"],
        "Windows audit policy changed.",
    ),
    ("19007", 7, &["sca"], "CIS benchmark: check failed."),
    (
        "92652",
        6,
        &["sysmon", "windows"],
        "Sysmon: process creation.",
    ),
];

/// Relative frequency of each rule (same order as [`RULES`]).
const WEIGHTS: [u32; 24] = [
    6, 10, 5, 12, 12, 4, 6, 3, 6, 10, 1, 4, 2, 1, 1, 8, 6, 1, 3, 1, 2, 1, 2, 4,
];

/// A Poisson draw (Knuth's method; means here stay below 30).
fn poisson(mean: f64, rng: &mut ChaCha8Rng) -> u32 {
    let limit = (-mean).exp();
    let (mut k, mut p) = (0u32, 1.0f64);
    loop {
        p *= rng.gen::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

fn rule(rng: &mut ChaCha8Rng) -> Rule {
    let total: u32 = WEIGHTS.iter().sum();
    let mut pick = rng.gen_range(0..total);
    for (r, w) in RULES.iter().zip(WEIGHTS) {
        if pick < w {
            return *r;
        }
        pick -= w;
    }
    RULES[0]
}

/// One bucket's alerts of host `h` starting at `start`, appended to `out` as bulk lines.
fn host_bucket(
    h: usize,
    mean: f64,
    start: DateTime<Utc>,
    rng: &mut ChaCha8Rng,
    serial: &mut u64,
    out: &mut String,
) -> usize {
    let n = poisson(mean, rng);
    for _ in 0..n {
        let (id, level, groups, description) = rule(rng);
        let at = start + TimeDelta::milliseconds(rng.gen_range(0..300_000));
        *serial += 1;
        let alert = json!({
            "timestamp": wazuh_timestamp(at),
            "id": format!("{}.{}", at.timestamp(), serial),
            "agent": {"id": format!("{:04}", h + 1), "name": format!("host-{h:04}"), "ip": format!("10.{}.{}.{}", h / 65536, h / 256 % 256, h % 256)},
            "manager": {"name": "wazuh-manager"},
            "rule": {"id": id, "level": level, "groups": groups, "description": description,
                     "firedtimes": rng.gen_range(1..50u32), "mail": false},
            "decoder": {"name": groups[0]},
            "data": {"srcip": format!("192.0.2.{}", rng.gen_range(1..255u32)),
                     "srcuser": format!("user{}", rng.gen_range(0..40u32))},
            "location": "/var/log/auth.log",
            "full_log": format!("{} host-{h:04} {description}", at.format("%b %e %H:%M:%S")),
        });
        out.push_str("{\"index\":{}}\n");
        out.push_str(&alert.to_string());
        out.push('\n');
    }
    n as usize
}

fn load(args: &Args, http: &reqwest::blocking::Client) -> Result<usize, Failure> {
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let means: Vec<f64> = (0..args.entities)
        .map(|_| args.rate * 4f64.powf(rng.gen_range(-1.0..1.0)))
        .collect();
    let (mut total, mut serial, mut body) = (0usize, 0u64, String::new());
    let send = |body: &mut String| -> Result<(), Failure> {
        if body.is_empty() {
            return Ok(());
        }
        let answer: Value = http
            .post(format!("{}/{INDEX}/_bulk", args.url))
            .header("content-type", "application/x-ndjson")
            .body(std::mem::take(body))
            .send()?
            .json()?;
        if answer["errors"] != json!(false) {
            let text: String = answer.to_string().chars().take(500).collect();
            return Err(format!("bulk load failed: {text}").into());
        }
        Ok(())
    };
    let buckets = args.days * 288;
    for b in 0..buckets {
        let start = DateTime::from_timestamp(FIRST_DAY + b * 300, 0).expect("valid time");
        let hour = (b % 288) as f64 / 12.0;
        // Twice as many alerts at 14:00 as at 02:00.
        let rhythm = 1.0 + (std::f64::consts::PI * (hour - 8.0) / 12.0).sin() / 3.0;
        for (h, mean) in means.iter().enumerate() {
            total += host_bucket(h, mean * rhythm, start, &mut rng, &mut serial, &mut body);
        }
        if body.len() > 8 << 20 {
            send(&mut body)?;
        }
        if b % 288 == 287 {
            eprintln!(
                "day {} loaded: {total} alerts in {:.0} s",
                b / 288 + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    send(&mut body)?;
    http.post(format!("{}/{INDEX}/_refresh", args.url)).send()?;
    Ok(total)
}

/// Bytes one pass over every host's features moves: paging the alerts (the fields the
/// features read) against the entity census and the batched aggregations `train` sends.
fn bytes(args: &Args) -> Result<(), Failure> {
    let client = IndexerClient::new(IndexerConnection {
        timeout: Duration::from_secs(3600),
        retry: RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
        ..IndexerConnection::new(args.url.clone())
    })?;
    let range = TimeRange {
        start: DateTime::from_timestamp(FIRST_DAY, 0).expect("valid"),
        end: DateTime::from_timestamp(FIRST_DAY + args.days * 86_400, 0).expect("valid"),
    };
    // The features of bench/entity_scale.yaml.
    let spec = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec!["rule.level".into()],
        max_numeric_fields: vec!["rule.level".into()],
        categorical_fields: vec!["rule.groups".into()],
        categorical_top_k: 15,
        derived_features: true,
        timestamp_field: "timestamp".into(),
    };
    let plan = spec.validate()?;
    let fields = vec!["agent.name".to_owned()];
    let query = |names: Vec<String>, filter: Option<Value>| AlertQuery {
        range,
        timestamp_field: "timestamp".into(),
        fields: names,
        alert_filter: filter,
    };
    let mut source = IndexerSource::new(client.clone(), "wazuh-alerts-*").with_page_size(10_000);

    let before = client.bytes_moved();
    let started = Instant::now();
    let mut builder = FeatureBuilder::for_training(&plan, range)?;
    let needed = [
        "timestamp",
        "rule.level",
        "rule.groups",
        "agent.name",
        "rule.id",
        "data.srcip",
        "data.srcuser",
        "decoder.name",
        "location",
    ]
    .map(String::from)
    .to_vec();
    let stats = source.stream(&query(needed, None), &mut |page| {
        builder.push_page(&page);
        Ok(())
    })?;
    let paged = client.bytes_moved() - before;
    println!(
        "| page the alerts (fields the features read) | {} alerts | {:.1} s | {paged} |",
        stats.alerts,
        started.elapsed().as_secs_f64()
    );

    let before = client.bytes_moved();
    let started = Instant::now();
    let census = source
        .count_entities(&query(Vec::new(), None), &fields)?
        .ok_or("the server cannot count the entities")?;
    let mut keys: Vec<Vec<String>> = census.counts.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    let (mut rows, mut entities) = (0usize, 0usize);
    for batch in keys.chunks(BATCH) {
        let filter = json!({"terms": {"agent.name": batch.iter().map(|k| k[0].clone()).collect::<Vec<_>>()}});
        let matrices = source
            .entity_features(
                &query(Vec::new(), Some(filter)),
                &fields,
                EntityFeatures::Training {
                    plan: &plan,
                    entities: batch,
                },
            )?
            .ok_or("the server declined the entity aggregation")?;
        entities += matrices.len();
        rows += matrices.values().map(|m| m.rows()).sum::<usize>();
    }
    let aggregated = client.bytes_moved() - before;
    println!(
        "| census + entity aggregations ({BATCH} hosts a pass) | {entities} hosts, {rows} rows | {:.1} s | {aggregated} |",
        started.elapsed().as_secs_f64()
    );
    println!(
        "paging moves {:.1}× the bytes of aggregating",
        paged as f64 / aggregated.max(1) as f64
    );
    Ok(())
}

fn main() -> Result<(), Failure> {
    let args = args()?;
    if args.load {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3600))
            .build()?;
        let started = Instant::now();
        let total = load(&args, &http)?;
        println!(
            "loaded {total} alerts of {} hosts over {} days in {:.0} s",
            args.entities,
            args.days,
            started.elapsed().as_secs_f64()
        );
    }
    if args.bytes {
        bytes(&args)?;
    }
    Ok(())
}
