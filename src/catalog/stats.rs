//! Catalog counters, for `.xetfs-stats` (docs/METRICS.md).

use crate::metrics::counters;

counters! {
    /// Catalog counters.
    pub struct CatalogCounters => CatalogCounts {
        resolve_calls: "revision resolutions asked of the Hub",
        tree_calls: "tree listings asked of the Hub (all pages of one listing count once)",
        file_metadata_calls: "resolve HEADs for files whose listing hid the Xet hash",
        served_stale: "lookups answered with the last known commit because the Hub was unreachable",
        negative_hits: "lookups answered by a remembered definite failure (not found, denied)",
        loaded_from_store: "trees loaded from the metadata store instead of the Hub",
    }
}

/// [`CatalogCounts`] plus gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CatalogStats {
    #[serde(flatten)]
    pub counts: CatalogCounts,
    /// Snapshots held in memory now.
    pub snapshots_in_memory: u64,
}
