//! Several alert sources read one after the other as one (debug-mode detection reads the
//! training file for the model's context, then the detection file).

use crate::source::{Alert, AlertQuery, AlertSource, StreamStats};
use crate::Error;

/// Streams each source in turn with the same query; the stats are summed.
pub struct ChainedSource {
    sources: Vec<Box<dyn AlertSource>>,
}

impl ChainedSource {
    /// Chains `sources`, read in this order.
    pub fn new(sources: Vec<Box<dyn AlertSource>>) -> Self {
        Self { sources }
    }
}

impl std::fmt::Debug for ChainedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainedSource")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl AlertSource for ChainedSource {
    fn stream(
        &mut self,
        query: &AlertQuery,
        on_page: &mut dyn FnMut(Vec<Alert>) -> Result<(), Error>,
    ) -> Result<StreamStats, Error> {
        let mut total = StreamStats::default();
        for source in &mut self.sources {
            let stats = source.stream(query, on_page)?;
            total.alerts += stats.alerts;
            total.pages += stats.pages;
            total.skipped += stats.skipped;
            total.filtered += stats.filtered;
            if total.first_skip_reason.is_none() {
                total.first_skip_reason = stats.first_skip_reason;
            }
        }
        Ok(total)
    }
}
