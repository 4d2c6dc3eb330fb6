//! The Wazuh indexer (OpenSearch REST) as an alert source, and the HTTP client the anomaly
//! sinks build on.
//!
//! - [`connection`]: what to connect to (URL, credentials, TLS, timeouts, retry policy);
//! - [`client`]: [`IndexerClient`] (the seed's `WazuhIndexerClient`): requests with retries,
//!   and the write hook for dry runs and payload dumps;
//! - [`check`]: the step-by-step connection check;
//! - [`search`]: [`IndexerSource`], paged alert search with point-in-time + `search_after`;
//! - `aggregate`: [`IndexerSource::aggregate_features`], the feature matrix computed by the
//!   server (`date_histogram` + column aggregations) when the schema allows it.
//!
//! Only this module and the sinks know OpenSearch paths and index names.

mod aggregate;
pub mod check;
pub mod client;
pub mod connection;
pub mod search;

pub use check::{CheckStep, ClusterCheck};
pub use client::{
    IndexerClient, IndexerResponse, Method, RequestBody, Sleeper, ThreadSleeper,
    WazuhIndexerClient, WriteDecision, WriteObserver, WriteRequest,
};
pub use connection::{IndexerConnection, Password, RetryPolicy};
pub use search::{
    IndexerSource, DEFAULT_ALERTS_INDEX_PATTERN, DEFAULT_PAGE_SIZE, DEFAULT_PIT_KEEP_ALIVE,
};
