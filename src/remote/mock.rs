//! In-memory [`Remote`](super::Remote) for tests and engine benchmarks: repos built from byte
//! buffers with the real chunker and xorb builder, request and byte counters.
// SKELETON: to be written (issue 4).
