//! Access-pattern detection and the sequential prefetch window.
//!
//! Streams are tracked per file, not per handle: loaders that fork workers sharing one fd (or the
//! kernel's out-of-order readahead) interleave several sequential streams on one file, and each
//! must still look sequential. A read continues a stream when it starts near where that stream
//! left off; a stream that has continued twice is sequential and gets a prefetch window that
//! doubles every time it is issued, up to a cap. Random readers never get prefetch: with several
//! streams remembered per file, a random read lands near one of them now and then, and one such
//! coincidence must not buy a window (two in a row on the same stream are rare).
//!
//! What is fetched ahead of a stream never exceeds the bytes the stream has read so far (or the
//! initial window; a forward skip within the slack does not count as read): a reader that stops — a loader done with one tensor of a large file — leaves
//! at most about as much unread prefetch behind as it read, while a long scan still ramps up to
//! the cap.

use std::ops::Range;

/// Continuing reads before a stream counts as sequential.
const MIN_HITS: u32 = 2;

/// Prefetch tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefetchConfig {
    /// First window of a newly sequential stream.
    pub initial_window: u64,
    /// Largest window (bounded by the memory budget by the caller).
    pub max_window: u64,
    /// A read starting this far behind or ahead of a stream's end still continues it (kernel
    /// readahead arrives somewhat out of order; small forward skips are common).
    pub slack: u64,
    /// Streams remembered per file.
    pub max_streams: usize,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        PrefetchConfig {
            initial_window: 8 << 20,
            max_window: 256 << 20,
            // Kernel readahead (`read_ahead_kb`, 4 MiB by default) arrives at most about one
            // window out of order; a wider slack makes random readers look sequential.
            slack: 4 << 20,
            max_streams: 8,
        }
    }
}

#[derive(Debug, Clone)]
struct Stream {
    /// Bytes read by the stream so far (its reads may skip ahead: this is not `end - start`).
    read: u64,
    /// End of the furthest read so far.
    end: u64,
    /// Consecutive continuing reads.
    hits: u32,
    window: u64,
    /// Everything below this was already handed to the prefetcher.
    prefetched_to: u64,
    last_used: u64,
}

/// Streams of one file.
#[derive(Debug, Clone, Default)]
pub struct AccessTracker {
    streams: Vec<Stream>,
    tick: u64,
}

impl AccessTracker {
    /// Records a read of `[start, end)` of a file of `size` bytes and returns the range the
    /// prefetcher should fetch now, if any.
    pub fn on_read(
        &mut self,
        cfg: &PrefetchConfig,
        start: u64,
        end: u64,
        size: u64,
    ) -> Option<Range<u64>> {
        self.tick += 1;
        let tick = self.tick;
        let found = self
            .streams
            .iter_mut()
            .find(|s| start + cfg.slack >= s.end && start <= s.end + cfg.slack);
        let stream = match found {
            Some(s) => {
                // Only a read that extends the stream counts: re-reads and the out-of-order
                // arrivals of kernel readahead behind the stream's end do not make it sequential.
                if end > s.end {
                    s.hits += 1;
                    s.end = end;
                }
                s.read += end - start;
                s.last_used = tick;
                s
            }
            None => {
                if self.streams.len() >= cfg.max_streams.max(1) {
                    let oldest = (0..self.streams.len())
                        .min_by_key(|&i| self.streams[i].last_used)
                        .expect("streams is not empty");
                    self.streams.swap_remove(oldest);
                }
                // Not even a read at offset 0 counts yet: loaders read a safetensors header there
                // and then jump; a real scan shows itself with its second read.
                self.streams.push(Stream {
                    read: end - start,
                    end,
                    hits: 0,
                    window: cfg.initial_window,
                    prefetched_to: end,
                    last_used: tick,
                });
                self.streams.last_mut().expect("just pushed")
            }
        };
        if stream.hits < MIN_HITS || stream.end >= size {
            return None;
        }
        // Never further ahead than the stream has read so far.
        let window = stream.window.min(stream.read.max(cfg.initial_window));
        // Issue the next window once the reader is within half a window of what was prefetched.
        let ahead = stream.prefetched_to.saturating_sub(stream.end);
        if ahead > window / 2 {
            return None;
        }
        // The window is measured from the reader, so what lies prefetched ahead of it never
        // exceeds the window either.
        let from = stream.prefetched_to.max(stream.end);
        let to = (stream.end + window).min(size);
        if from >= to {
            return None;
        }
        stream.prefetched_to = to;
        stream.window = (stream.window * 2).min(cfg.max_window.max(cfg.initial_window));
        (from < to).then_some(from..to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn cfg() -> PrefetchConfig {
        PrefetchConfig {
            initial_window: 4 * MIB,
            max_window: 32 * MIB,
            slack: 2 * MIB,
            max_streams: 4,
        }
    }

    #[test]
    fn sequential_reader_gets_growing_windows() {
        let mut t = AccessTracker::default();
        let c = cfg();
        let size = 1 << 30;
        // (reader's end when issued, range issued)
        let mut issued = Vec::new();
        for i in 0..64 {
            if let Some(r) = t.on_read(&c, i * MIB, (i + 1) * MIB, size) {
                issued.push(((i + 1) * MIB, r));
            }
        }
        assert!(!issued.is_empty());
        // Windows are contiguous and never overlap; how far ahead of the reader they reach
        // grows up to the cap and never past it.
        for w in issued.windows(2) {
            assert_eq!(w[0].1.end, w[1].1.start);
            assert!(w[1].1.end - w[1].0 >= w[0].1.end - w[0].0);
        }
        assert!(issued.iter().all(|(at, r)| r.end - at <= 32 * MIB));
        let (at, last) = issued.last().unwrap();
        assert_eq!(last.end - at, 32 * MIB);
        // The prefetcher stays ahead of the reader.
        assert!(last.end > 64 * MIB);
    }

    #[test]
    fn random_reader_gets_nothing() {
        let mut t = AccessTracker::default();
        let c = cfg();
        let offsets = [700, 13, 401, 77, 250, 999, 500, 123, 850, 333];
        for o in offsets {
            assert_eq!(t.on_read(&c, o * MIB, o * MIB + 4096, 1 << 30), None);
        }
    }

    #[test]
    fn sparse_random_reads_of_a_large_file_buy_almost_no_prefetch() {
        // 256 reads of 256 KiB at distinct random block offsets of a 1 GiB file, default tuning
        // (8 streams remembered): now and then a read lands near a stream, which must not be
        // enough for a window.
        let c = PrefetchConfig::default();
        let mut t = AccessTracker::default();
        let block = 256 << 10;
        let mut rng = crate::util::splitmix::SplitMix64::new(1);
        let mut prefetched = 0;
        for _ in 0..256 {
            let at = rng.next_u64() % 4096 * block;
            if let Some(r) = t.on_read(&c, at, at + block, 1 << 30) {
                prefetched += r.end - r.start;
            }
        }
        assert!(
            prefetched <= c.initial_window,
            "{} MiB prefetched for 64 MiB of random reads",
            prefetched >> 20
        );
    }

    #[test]
    fn interleaved_workers_each_look_sequential() {
        // Two workers sharing one fd, each scanning its own half.
        let mut t = AccessTracker::default();
        let c = cfg();
        let size = 1 << 30;
        let (mut a, mut b) = (0, 0);
        for i in 0..32u64 {
            a += t
                .on_read(&c, 100 * MIB + i * MIB, 100 * MIB + (i + 1) * MIB, size)
                .is_some() as u32;
            b += t
                .on_read(&c, 600 * MIB + i * MIB, 600 * MIB + (i + 1) * MIB, size)
                .is_some() as u32;
        }
        assert!(a > 0 && b > 0, "both streams must prefetch: {a} {b}");
    }

    #[test]
    fn a_header_read_at_offset_zero_prefetches_nothing() {
        let mut t = AccessTracker::default();
        assert_eq!(t.on_read(&cfg(), 0, 4096, 1 << 30), None);
        assert_eq!(t.on_read(&cfg(), 700 * MIB, 708 * MIB, 1 << 30), None);
    }

    #[test]
    fn concurrent_readers_of_one_spot_are_not_a_stream() {
        let mut t = AccessTracker::default();
        let c = cfg();
        for _ in 0..16 {
            assert_eq!(t.on_read(&c, 100 * MIB, 101 * MIB, 1 << 30), None);
        }
    }

    #[test]
    fn a_stream_that_stops_leaves_little_prefetch_behind() {
        // A loader reads one tensor of 1, 16 or 64 MiB in 1 MiB reads, then stops.
        for tensor in [1, 16, 64] {
            let mut t = AccessTracker::default();
            let c = cfg();
            let start = 300 * MIB;
            let mut furthest = start + tensor * MIB;
            for i in 0..tensor {
                let at = start + i * MIB;
                if let Some(r) = t.on_read(&c, at, at + MIB, 1 << 30) {
                    furthest = furthest.max(r.end);
                }
            }
            let behind = furthest - (start + tensor * MIB);
            assert!(
                behind <= (tensor * MIB).max(c.initial_window),
                "{tensor} MiB read, {} MiB prefetched past it",
                behind / MIB
            );
        }
    }

    #[test]
    fn a_forward_skip_does_not_count_as_read() {
        // Kernel readahead of an mmap can ask for the end of a region before its middle.
        let c = PrefetchConfig {
            slack: 16 * MIB,
            ..cfg()
        };
        let mut t = AccessTracker::default();
        let s = 300 * MIB;
        let mut furthest = 0;
        for at in [s, s + MIB, s + 14 * MIB, s + 15 * MIB] {
            if let Some(r) = t.on_read(&c, at, at + MIB, 1 << 30) {
                furthest = furthest.max(r.end);
            }
        }
        assert!(
            furthest <= s + 16 * MIB + c.initial_window,
            "{} MiB past the last read",
            (furthest - s - 16 * MIB) / MIB
        );
    }

    #[test]
    fn prefetch_stops_at_eof() {
        let mut t = AccessTracker::default();
        let c = cfg();
        let size = 5 * MIB;
        let mut got = Vec::new();
        for i in 0..5 {
            if let Some(r) = t.on_read(&c, i * MIB, (i + 1) * MIB, size) {
                got.push(r);
            }
        }
        assert!(got.iter().all(|r| r.end <= size));
        assert_eq!(got.iter().map(|r| r.end).max(), Some(size));
    }
}
