//! Counters. One macro, `counters!`, declares a struct of atomic counters and its typed
//! snapshot (plain `u64`s, `serde`), with each counter's description kept next to it; the
//! snapshots are what `.xetfs-stats`, tests and benchmarks read. docs/METRICS.md lists every
//! counter (a test below checks the list against the declarations).

use std::sync::atomic::{AtomicU64, Ordering};

/// Declares a counter struct (`AtomicU64` fields, `Default`) and its snapshot struct:
///
/// ```ignore
/// counters! {
///     /// What these count.
///     pub struct FsCounters => FsCounts {
///         lookups: "LOOKUP requests",
///     }
/// }
/// ```
///
/// `FsCounters::snapshot()` copies every counter (relaxed loads: each value is exact, the set is not
/// one atomic instant); `FsCounts::DOCS` lists `(name, description)` in declaration order;
/// `later.since(&earlier)` is what each counter gained in between.
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident => $snap:ident {
            $($field:ident: $doc:literal),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $(#[doc = $doc] pub $field: ::std::sync::atomic::AtomicU64,)*
        }

        #[doc = concat!("A point-in-time copy of [`", stringify!($name), "`].")]
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize,
        )]
        $vis struct $snap {
            $(#[doc = $doc] pub $field: u64,)*
        }

        impl $name {
            /// Copies every counter.
            pub fn snapshot(&self) -> $snap {
                $snap {
                    $($field: self.$field.load(::std::sync::atomic::Ordering::Relaxed),)*
                }
            }
        }

        impl $snap {
            /// `(name, description)` of every counter, in declaration order.
            pub const DOCS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($field), $doc),)*];

            /// What each counter gained since `earlier` (a gauge that fell shows 0).
            pub fn since(&self, earlier: &Self) -> Self {
                $snap {
                    $($field: self.$field.saturating_sub(earlier.$field),)*
                }
            }
        }
    };
}
pub(crate) use counters;

/// Adds one to a counter.
pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    counters! {
        /// Two counters for the test.
        struct Pair => PairSnapshot {
            first: "the first",
            second: "the second",
        }
    }

    #[test]
    fn snapshot_copies_every_counter() {
        let p = Pair::default();
        inc(&p.first);
        add(&p.second, 41);
        inc(&p.second);
        assert_eq!(
            p.snapshot(),
            PairSnapshot {
                first: 1,
                second: 42
            }
        );
        assert_eq!(
            serde_json::to_value(p.snapshot()).unwrap(),
            serde_json::json!({"first": 1, "second": 42})
        );
        assert_eq!(
            PairSnapshot::DOCS,
            &[("first", "the first"), ("second", "the second")]
        );
        let before = p.snapshot();
        add(&p.first, 5);
        assert_eq!(
            p.snapshot().since(&before),
            PairSnapshot {
                first: 5,
                second: 0
            }
        );
        assert_eq!(before.since(&p.snapshot()).first, 0, "saturates");
    }
}
