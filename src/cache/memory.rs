//! Decoded chunks in memory: moka, bounded in bytes, TinyLFU admission so one big scan does not
//! flush hot chunks.
// SKELETON: to be written (issue 4).
