//! Content-defined chunking (§1): gear hash with the `gearhash` crate's table, MIN 8 KiB, MAX 128 KiB.
// SKELETON: bodies to be written (issue 2).

use std::io::Read;

/// Streaming chunker: feed any buffer sizes, get the same boundaries as one-shot chunking.
#[derive(Debug, Clone, Default)]
pub struct Chunker {
    _private: (),
}

impl Chunker {
    pub fn new() -> Self {
        todo!()
    }

    /// Continues the current chunk with `data`. Returns `Some(n)` when the chunk ends after
    /// `data[..n]` (then the state is reset and the caller continues with `data[n..]`), `None`
    /// when all of `data` belongs to the still-open chunk.
    pub fn next_cut(&mut self, data: &[u8]) -> Option<usize> {
        let _ = data;
        todo!()
    }

    /// Bytes in the open chunk so far (the caller emits them as the last chunk at end of input).
    pub fn pending(&self) -> usize {
        todo!()
    }
}

/// Lengths of the chunks of `data`, in order (empty input → no chunks).
pub fn chunk_lengths(data: &[u8]) -> Vec<usize> {
    let _ = data;
    todo!()
}

/// Chunks a reader with bounded memory (at most a few chunks buffered); yields each chunk's bytes.
pub struct ReaderChunker<R: Read> {
    _reader: R,
}

impl<R: Read> ReaderChunker<R> {
    pub fn new(reader: R) -> Self {
        let _ = reader;
        todo!()
    }
}

impl<R: Read> Iterator for ReaderChunker<R> {
    type Item = std::io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
}
