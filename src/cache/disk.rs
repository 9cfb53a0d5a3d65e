//! Persistent chunk cache on disk: content-addressed, bounded in bytes with LRU eviction,
//! write-temp + rename, a checksum on every entry checked on every read.
// SKELETON: to be written (issue 4).
