//! The sonar crate's one integration-test binary (STYLE.md). Tests talk to a real
//! `osmem-server` process on loopback (docs/reliability.md), started per test by [`osmem`], and to
//! small protocol fakes where a fault must be injected; the TLS tests put a real nginx in
//! front of it.

mod alert_filter;
mod config_props;
mod indexer;
mod indexer_aggregate;
mod indexer_faults;
mod nginx;
mod osmem;
mod sink;
mod small_data;
mod state_files;
mod tls;
