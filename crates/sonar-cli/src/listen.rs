//! The metrics and health listener of `sonar serve` (README "Run as a service"): `/metrics`
//! in the Prometheus text format (encoded by `prometheus-client`) and `/health`, on a
//! loopback address of the operator's choice, served by `tiny_http` on its own thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sonar::pipeline::{Clock, StatusBoard, StopFlag};

/// The label of every per-scenario series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScenarioLabel {
    scenario: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The metrics text of `board` at `now`.
pub fn metrics_text(board: &StatusBoard, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    let mut registry = Registry::with_prefix("sonar");
    let counter = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<ScenarioLabel, Counter>::default();
        registry.register(name, help, family.clone());
        family
    };
    let gauge = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<ScenarioLabel, FloatGauge>::default();
        registry.register(name, help, family.clone());
        family
    };
    let polls = counter(&mut registry, "polls", "Polls run, successful or not");
    let failures = counter(
        &mut registry,
        "poll_failures",
        "Failed polls, set-ups and trainings (reading alerts, scoring, writing anomalies)",
    );
    let buckets = counter(&mut registry, "buckets_scored", "Buckets scored");
    let anomalies = counter(&mut registry, "anomalies", "Anomalous buckets written");
    let events = counter(&mut registry, "events", "Anomaly events");
    let last_success = gauge(
        &mut registry,
        "last_success_timestamp_seconds",
        "Unix time of the last successful poll (0: none yet)",
    );
    let duration = gauge(
        &mut registry,
        "poll_duration_seconds",
        "Wall time of the last poll",
    );
    let model_age = gauge(
        &mut registry,
        "model_age_seconds",
        "Age of the model in use (0: none loaded yet)",
    );
    for s in board.snapshot() {
        let label = ScenarioLabel {
            scenario: s.scenario_id.clone(),
        };
        polls.get_or_create(&label).inc_by(s.polls);
        failures.get_or_create(&label).inc_by(s.failures);
        buckets.get_or_create(&label).inc_by(s.buckets_scored);
        anomalies.get_or_create(&label).inc_by(s.anomalies);
        events.get_or_create(&label).inc_by(s.events);
        last_success
            .get_or_create(&label)
            .set(s.last_success.map_or(0.0, |t| t.timestamp() as f64));
        duration.get_or_create(&label).set(s.last_poll_seconds);
        model_age.get_or_create(&label).set(
            s.model_trained
                .map_or(0.0, |t| (now - t).num_seconds().max(0) as f64),
        );
    }
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| anyhow!("cannot encode the metrics: {e}"))?;
    Ok(text)
}

/// Starts the listener on `addr`; returns the address it listens on (port 0 picks one).
pub fn start(
    addr: SocketAddr,
    board: StatusBoard,
    clock: Arc<dyn Clock + Send + Sync>,
    stop: StopFlag,
) -> Result<SocketAddr> {
    let server =
        tiny_http::Server::http(addr).map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow!("{addr} is not an IP address"))?;
    std::thread::spawn(move || {
        while !stop.is_raised() {
            let request = match server.recv_timeout(Duration::from_millis(250)) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: bad request");
                    continue;
                }
            };
            let now = clock.now();
            let (status, body) = match request.url() {
                "/metrics" => match metrics_text(&board, now) {
                    Ok(text) => (200, text),
                    Err(e) => (500, format!("{e}\n")),
                },
                "/health" => match board.unhealthy(now) {
                    None => (200, "ok\n".to_string()),
                    Some(reasons) => (503, reasons.join("\n") + "\n"),
                },
                _ => (404, "not found: try /metrics or /health\n".to_string()),
            };
            let content_type = if status == 200 && request.url() == "/metrics" {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", content_type) {
                response = response.with_header(header);
            }
            if let Err(e) = request.respond(response) {
                tracing::warn!(error = %e, "metrics listener: cannot answer");
            }
        }
    });
    Ok(local)
}
