//! Persisted metadata for offline use (tree listings, branch → commit, file chunk maps):
//! small checksummed files written with write-temp + rename.
// SKELETON: to be written (issue 4).
