//! Content-defined chunking (§1): gear hash with the `gearhash` crate's table, MIN 8 KiB, MAX 128 KiB.

use std::io::{self, Read};

use super::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, TARGET_CHUNK_SIZE};

/// The high 16 bits: `(TARGET - 1)` shifted left until its top bit is bit 63 (§1.1).
pub const GEAR_MASK: u64 =
    ((TARGET_CHUNK_SIZE - 1) as u64) << (TARGET_CHUNK_SIZE - 1).leading_zeros();

/// The gear hash only depends on the last 64 bytes it saw.
const HASH_WINDOW: usize = 64;

/// Streaming chunker: feed any buffer sizes, get the same boundaries as one-shot chunking.
#[derive(Debug, Clone, Default)]
pub struct Chunker {
    hasher: gearhash::Hasher<'static>,
    /// Bytes of the open chunk seen so far.
    pending: usize,
}

impl Chunker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues the current chunk with `data`. Returns `Some(n)` when the chunk ends after
    /// `data[..n]` (then the state is reset and the caller continues with `data[n..]`), `None`
    /// when all of `data` belongs to the still-open chunk.
    pub fn next_cut(&mut self, data: &[u8]) -> Option<usize> {
        let prev = self.pending;
        // No cut can happen before MIN, and the hash at MIN only depends on the 64 bytes before
        // it: skip hashing the first MIN - 64 - 1 bytes of every chunk (§1.4). Starting from a
        // reset hash there gives exactly the byte-by-byte rule's boundaries.
        let mut at = if prev + HASH_WINDOW < MIN_CHUNK_SIZE {
            (MIN_CHUNK_SIZE - prev - HASH_WINDOW - 1).min(data.len())
        } else {
            0
        };
        // Never look past the forced cut at MAX.
        let end = data.len().min(MAX_CHUNK_SIZE - prev);
        while at < end {
            match self.hasher.next_match(&data[at..end], GEAR_MASK) {
                Some(k) => {
                    at += k;
                    // A match before MIN is ignored; keep scanning with the same hash (§1.4).
                    if prev + at >= MIN_CHUNK_SIZE {
                        return Some(self.cut(at));
                    }
                }
                None => at = end,
            }
        }
        if prev + end == MAX_CHUNK_SIZE {
            return Some(self.cut(end));
        }
        self.pending += data.len();
        None
    }

    fn cut(&mut self, n: usize) -> usize {
        self.hasher.set_hash(0);
        self.pending = 0;
        n
    }

    /// Bytes in the open chunk so far (the caller emits them as the last chunk at end of input).
    pub fn pending(&self) -> usize {
        self.pending
    }
}

/// Lengths of the chunks of `data`, in order (empty input → no chunks).
pub fn chunk_lengths(data: &[u8]) -> Vec<usize> {
    let mut chunker = Chunker::new();
    let mut out = Vec::with_capacity(data.len() / TARGET_CHUNK_SIZE + 1);
    let mut rest = data;
    while let Some(n) = chunker.next_cut(rest) {
        out.push(n);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        out.push(rest.len());
    }
    out
}

/// Read buffer of [`ReaderChunker`]: room for the open chunk plus large reads.
const READ_BUFFER: usize = 4 * MAX_CHUNK_SIZE;

/// Chunks a reader with bounded memory (at most a few chunks buffered); yields each chunk's bytes.
pub struct ReaderChunker<R: Read> {
    reader: R,
    chunker: Chunker,
    buf: Box<[u8]>,
    /// Start of the open chunk in `buf`.
    start: usize,
    /// `buf[start..scanned]` has been fed to the chunker.
    scanned: usize,
    /// `buf[..filled]` holds data.
    filled: usize,
    eof: bool,
    failed: bool,
}

impl<R: Read> ReaderChunker<R> {
    pub fn new(reader: R) -> Self {
        ReaderChunker {
            reader,
            chunker: Chunker::new(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            scanned: 0,
            filled: 0,
            eof: false,
            failed: false,
        }
    }

    /// Moves the open chunk to the front and reads more; returns false at end of input.
    fn refill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.filled, 0);
        self.scanned -= self.start;
        self.filled -= self.start;
        self.start = 0;
        // The open chunk is < MAX, so at least 3 × MAX bytes are free.
        loop {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Iterator for ReaderChunker<R> {
    type Item = std::io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.scanned < self.filled {
                match self.chunker.next_cut(&self.buf[self.scanned..self.filled]) {
                    Some(n) => {
                        let end = self.scanned + n;
                        let chunk = self.buf[self.start..end].to_vec();
                        self.start = end;
                        self.scanned = end;
                        return Some(Ok(chunk));
                    }
                    None => self.scanned = self.filled,
                }
            }
            match self.refill() {
                Ok(true) => {}
                Ok(false) => {
                    if self.start == self.filled {
                        return None;
                    }
                    let chunk = self.buf[self.start..self.filled].to_vec();
                    self.start = self.filled;
                    self.scanned = self.filled;
                    self.chunker = Chunker::new();
                    return Some(Ok(chunk));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    /// §1.3 byte by byte, no skipping, no SIMD.
    fn naive(data: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let (mut h, mut start) = (0u64, 0);
        for (i, &b) in data.iter().enumerate() {
            h = (h << 1).wrapping_add(gearhash::DEFAULT_TABLE[b as usize]);
            let len = i + 1 - start;
            if len >= MIN_CHUNK_SIZE && (len == MAX_CHUNK_SIZE || h & GEAR_MASK == 0) {
                out.push(len);
                start = i + 1;
                h = 0;
            }
        }
        if start < data.len() {
            out.push(data.len() - start);
        }
        out
    }

    #[test]
    fn mask_is_top_16_bits() {
        assert_eq!(GEAR_MASK, 0xFFFF_0000_0000_0000);
    }

    #[test]
    fn matches_naive_rule_and_any_feeding_pattern() {
        let mut data = pseudo_random(1 << 20, 7);
        data.extend(vec![0u8; 300_000]);
        data.extend(pseudo_random(50_000, 8));
        let expected = naive(&data);
        assert_eq!(chunk_lengths(&data), expected);
        for piece in [1, 63, 64, 65, 8127, 8128, 7777, 131072, 131073] {
            let mut chunker = Chunker::new();
            let mut got = Vec::new();
            let mut chunk_start = 0;
            let mut pos = 0;
            for part in data.chunks(piece) {
                let mut rest = part;
                while let Some(n) = chunker.next_cut(rest) {
                    pos += n;
                    got.push(pos - chunk_start);
                    chunk_start = pos;
                    rest = &rest[n..];
                }
                pos += rest.len();
            }
            assert_eq!(chunker.pending(), pos - chunk_start);
            if chunker.pending() > 0 {
                got.push(chunker.pending());
            }
            assert_eq!(got, expected, "piece size {piece}");
        }
    }

    #[test]
    fn reader_chunker_yields_the_same_chunks() {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let data = pseudo_random(700_000, 3);
        let lens = chunk_lengths(&data);
        for step in [1000, 100_000, usize::MAX] {
            let chunks: Vec<Vec<u8>> = ReaderChunker::new(Trickle(&data, step))
                .collect::<io::Result<_>>()
                .unwrap();
            assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), lens);
            assert_eq!(chunks.concat(), data);
        }
        assert_eq!(ReaderChunker::new(&[][..]).count(), 0);
    }
}
