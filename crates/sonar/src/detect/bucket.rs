//! The detector's output: scored buckets with their per-variable contributions, and the
//! grouping of consecutive anomalous buckets into events with deterministic ids.
//!
//! Invariant: an event's id ([`event_id`]) depends only on the scenario id and the event's
//! start, so re-running detection over the same buckets yields the same events. Turning
//! buckets into documents is the sink's business (`crate::sink::document`).

use chrono::{DateTime, Utc};

/// One variable's share of a bucket's anomaly, as the engine interprets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The feature column's name.
    pub variable: String,
    /// The variable's share of the bucket's error (the shares sum to 1 over variables); with
    /// the default scoring each variable's error is measured in its own forecast standard
    /// errors, so the first contributor is the variable that moved most against its forecast.
    pub contribution: f64,
    /// The value the bucket actually had (in the column's own units).
    pub observed: f64,
    /// The model's forecast for the bucket, de-normalised to the column's own units.
    pub expected: f64,
    /// Changes of this variable's attention weights versus their recent average:
    /// `(other variable, change)`, largest |change| first.
    pub correlation_changes: Vec<(String, f64)>,
}

impl Contribution {
    /// Which way the bucket moved against the forecast: `above`, `below` or `as_expected`.
    pub fn direction(&self) -> &'static str {
        if self.observed > self.expected {
            "above"
        } else if self.observed < self.expected {
            "below"
        } else {
            "as_expected"
        }
    }
}

/// The event a bucket belongs to: a run of consecutive anomalous buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyEvent {
    /// Deterministic id, from the scenario id and the event start ([`event_id`]).
    pub id: String,
    /// Start of the event's first bucket.
    pub start: DateTime<Utc>,
    /// End of the event's last bucket (exclusive).
    pub end: DateTime<Utc>,
    /// How many buckets the event spans.
    pub bucket_count: usize,
}

/// One scored time bucket, as the detector hands it to the document builder.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredBucket {
    /// Bucket start (UTC); the document's `@timestamp`.
    pub start: DateTime<Utc>,
    /// Bucket end (UTC, exclusive).
    pub end: DateTime<Utc>,
    /// The detector's anomaly score in `[0, 1]`, the value compared to the threshold.
    pub anomaly_score: f64,
    /// The detector's final decision (threshold and `min_consecutive` applied).
    pub is_anomaly: bool,
    /// The engine's raw MVAD score (range about `[0, e − 1]` with the default scoring;
    /// unbounded with standardised errors).
    pub mvad_score: f64,
    /// The engine's severity for anomalies, else 0 (`sonar_mvad::RowResult::severity`).
    pub mvad_severity: f64,
    /// Per-variable contributions; any order (the builder sorts them, largest first).
    pub contributions: Vec<Contribution>,
    /// Raw alerts that fell in the bucket.
    pub alert_count: u64,
    /// The event the bucket belongs to, when it is anomalous ([`assign_events`] fills it).
    pub event: Option<AnomalyEvent>,
}

/// A compact UTC stamp used inside ids: `20251230T101000Z`.
pub(crate) fn id_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The id of the event starting at `event_start`: scenario id + event start.
pub fn event_id(scenario_id: &str, event_start: DateTime<Utc>) -> String {
    format!("{scenario_id}-event-{}", id_stamp(event_start))
}

/// Groups anomalous buckets into events. Buckets must be in time order; an anomalous bucket
/// whose start equals the previous anomalous bucket's end extends that event, anything else
/// (a gap, or a normal bucket in between) starts a new one.
pub fn group_events(scenario_id: &str, buckets: &[ScoredBucket]) -> Vec<AnomalyEvent> {
    group_events_after(scenario_id, None, buckets)
}

/// Like [`group_events`], for a run that continues an earlier one (realtime mode): when the
/// first bucket is anomalous and starts exactly where `open` (the last event of the previous
/// run) ended, it extends `open`, keeping its id and start, so an event spanning several
/// polling runs has one id. The extended event is the first one returned.
pub fn group_events_after(
    scenario_id: &str,
    open: Option<&AnomalyEvent>,
    buckets: &[ScoredBucket],
) -> Vec<AnomalyEvent> {
    let mut events: Vec<AnomalyEvent> = Vec::new();
    let mut previous_anomalous = false;
    if let (Some(open), Some(first)) = (open, buckets.first()) {
        if first.is_anomaly && first.start == open.end {
            events.push(open.clone());
            previous_anomalous = true;
        }
    }
    for bucket in buckets {
        if !bucket.is_anomaly {
            previous_anomalous = false;
            continue;
        }
        match events.last_mut() {
            Some(event) if previous_anomalous && event.end == bucket.start => {
                event.end = bucket.end;
                event.bucket_count += 1;
            }
            _ => events.push(AnomalyEvent {
                id: event_id(scenario_id, bucket.start),
                start: bucket.start,
                end: bucket.end,
                bucket_count: 1,
            }),
        }
        previous_anomalous = true;
    }
    events
}

/// Sets `event` on every anomalous bucket (and clears it on the others), using
/// [`group_events`]. Returns the events.
pub fn assign_events(scenario_id: &str, buckets: &mut [ScoredBucket]) -> Vec<AnomalyEvent> {
    assign_events_after(scenario_id, None, buckets)
}

/// Like [`assign_events`], continuing the previous run's last event `open` (see
/// [`group_events_after`]).
pub fn assign_events_after(
    scenario_id: &str,
    open: Option<&AnomalyEvent>,
    buckets: &mut [ScoredBucket],
) -> Vec<AnomalyEvent> {
    let events = group_events_after(scenario_id, open, buckets);
    for bucket in buckets.iter_mut() {
        bucket.event = if bucket.is_anomaly {
            events
                .iter()
                .find(|e| e.start <= bucket.start && bucket.start < e.end)
                .cloned()
        } else {
            None
        };
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 12, 30, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn bucket(start: DateTime<Utc>, is_anomaly: bool) -> ScoredBucket {
        ScoredBucket {
            start,
            end: start + chrono::Duration::minutes(5),
            anomaly_score: 0.75,
            is_anomaly,
            mvad_score: 1.25,
            mvad_severity: 0.5,
            contributions: Vec::new(),
            alert_count: 120,
            event: None,
        }
    }

    fn check_events(pattern: &[(u32, bool)], expected: &[(&str, u32, u32, usize)]) {
        let buckets: Vec<ScoredBucket> =
            pattern.iter().map(|&(m, a)| bucket(t(10, m), a)).collect();
        let events = group_events("bf01", &buckets);
        let got: Vec<(String, DateTime<Utc>, DateTime<Utc>, usize)> = events
            .into_iter()
            .map(|e| (e.id, e.start, e.end, e.bucket_count))
            .collect();
        let want: Vec<(String, DateTime<Utc>, DateTime<Utc>, usize)> = expected
            .iter()
            .map(|&(id, s, e, n)| (id.to_string(), t(10, s), t(10, e), n))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn consecutive_anomalous_buckets_form_one_event() {
        check_events(
            &[(0, true), (5, true), (10, false), (15, true)],
            &[
                ("bf01-event-20251230T100000Z", 0, 10, 2),
                ("bf01-event-20251230T101500Z", 15, 20, 1),
            ],
        );
    }

    #[test]
    fn a_gap_in_the_grid_splits_events() {
        check_events(
            &[(0, true), (10, true), (15, true)],
            &[
                ("bf01-event-20251230T100000Z", 0, 5, 1),
                ("bf01-event-20251230T101000Z", 10, 20, 2),
            ],
        );
    }

    #[test]
    fn an_event_open_at_the_end_of_the_last_run_continues_with_its_id() {
        let open = AnomalyEvent {
            id: event_id("bf01", t(9, 50)),
            start: t(9, 50),
            end: t(10, 0),
            bucket_count: 2,
        };
        let mut buckets = vec![
            bucket(t(10, 0), true),
            bucket(t(10, 5), false),
            bucket(t(10, 10), true),
        ];
        let events = assign_events_after("bf01", Some(&open), &mut buckets);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            AnomalyEvent {
                id: "bf01-event-20251230T095000Z".into(),
                start: t(9, 50),
                end: t(10, 5),
                bucket_count: 3
            }
        );
        assert_eq!(
            buckets[0].event.as_ref().map(|e| e.id.as_str()),
            Some("bf01-event-20251230T095000Z")
        );
        assert_eq!(events[1].id, "bf01-event-20251230T101000Z");
        // A gap between the runs: the open event is not continued.
        let later = [bucket(t(10, 5), true)];
        let events = group_events_after("bf01", Some(&open), &later);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, "bf01-event-20251230T100500Z");
    }

    #[test]
    fn no_anomaly_no_event() {
        check_events(&[(0, false), (5, false)], &[]);
    }
}
