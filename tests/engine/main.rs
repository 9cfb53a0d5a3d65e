//! The read engine without FUSE, over the in-memory mock remote (and its fault-injecting twin).
//! Every assertion is on bytes or on counters (requests, bytes fetched, cache hits).

mod faults;
mod harness;
mod persistence;
mod reads;
mod traffic;
