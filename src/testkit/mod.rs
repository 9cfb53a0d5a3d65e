//! Test doubles of the [`Remote`](crate::remote::Remote): an in-memory Hub and CAS
//! ([`mock::MockRemote`]) and a fault-injecting wrapper ([`faulty::FaultyRemote`]).
//!
//! Compiled only for the crate's own unit tests and with the `testing` feature, which the
//! integration tests and benchmarks get through the crate's dev-dependency on itself
//! (Cargo.toml): the release binary contains none of it (tests/run.sh checks its symbols).

pub mod faulty;
pub mod mock;
