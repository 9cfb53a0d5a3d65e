//! Filesystem counters, and `.xetfs-stats`: every layer's counters in one JSON document.

use serde::Serialize;

use crate::catalog::CatalogStats;
use crate::metrics::counters;
use crate::read::StatsSnapshot;

counters! {
    /// Filesystem counters.
    pub struct FsCounters => FsCounts {
        lookups: "LOOKUP requests",
        fast_enoent: "lookups refused by name, without a Hub call",
        hub_lookups: "lookups and listings that had to wait for the catalog",
        lookup_errors: "lookups, opens and listings that failed for a Hub reason",
        opens: "files opened",
        reads: "READ requests passed to the engine",
        read_bytes: "bytes returned by those reads",
        read_errors: "reads answered with EIO because the engine failed",
        read_timeouts: "reads answered with EIO because the filesystem deadline passed",
        short_reads: "reads where the engine returned the wrong length (EIO)",
        invalidations: "inodes whose page cache was dropped on the engine's request",
        poisoned_reads: "reads refused (EIO) on a handle that had been served bytes later proven wrong",
    }
}

/// [`FsCounts`] plus gauges.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FsStats {
    #[serde(flatten)]
    pub counts: FsCounts,
    /// Inodes the kernel holds now.
    pub inodes: u64,
    /// Open file and directory handles now.
    pub open_handles: u64,
}

/// The content of `.xetfs-stats`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StatsReport {
    pub pid: u32,
    pub fs: FsStats,
    pub catalog: CatalogStats,
    pub reader: StatsSnapshot,
}

impl StatsReport {
    /// Pretty JSON with a final newline (what `cat .xetfs-stats` shows).
    pub fn to_json(&self) -> String {
        let text = serde_json::to_string_pretty(self).expect("counters serialize");
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogCounts;

    /// docs/METRICS.md names every counter `.xetfs-stats` shows, in its section, with the
    /// description the code gives.
    #[test]
    fn every_counter_is_documented() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/METRICS.md"));
        let sections = [
            ("fs", FsCounts::DOCS),
            ("catalog", CatalogCounts::DOCS),
            ("reader", StatsSnapshot::DOCS),
        ];
        for (section, docs) in sections {
            let heading = format!("## `{section}`");
            let start = doc
                .find(&heading)
                .unwrap_or_else(|| panic!("METRICS.md has no {heading} section"));
            let body = &doc[start + heading.len()..];
            let body = &body[..body.find("\n## ").unwrap_or(body.len())];
            for (name, what) in docs {
                let row = format!("| `{name}` | {what} |");
                assert!(
                    body.contains(&row),
                    "METRICS.md section {section} lacks the row {row}"
                );
            }
        }
    }
}
