//! Filesystem counters, exposed through `.xetfs-stats`.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $doc:literal,)*) => {
        #[derive(Default)]
        pub struct FsStats {
            $(#[doc = $doc] pub $name: AtomicU64,)*
        }

        impl FsStats {
            pub fn json(&self) -> serde_json::Map<String, serde_json::Value> {
                let mut m = serde_json::Map::new();
                $(m.insert(stringify!($name).into(), self.$name.load(Ordering::Relaxed).into());)*
                m
            }
        }
    };
}

counters! {
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

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
