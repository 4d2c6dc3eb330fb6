//! The sonar crate's one integration-test binary (STYLE.md). Tests talk to a real
//! `osmem-server` process on loopback (SPEC.md §10), started per test by [`osmem`], and to
//! small protocol fakes where a fault must be injected.

mod indexer;
mod indexer_aggregate;
mod indexer_faults;
mod osmem;
mod sink;
