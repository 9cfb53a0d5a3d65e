//! The fuser adapter: inode table, namespace of repos that appear on lookup, and the
//! `Filesystem` implementation that hands reads to a [`FileReader`](crate::read::FileReader).
// SKELETON: to be written (issue 4).
