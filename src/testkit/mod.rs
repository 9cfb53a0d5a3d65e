//! Test doubles of the [`Remote`](crate::remote::Remote): an in-memory Hub and CAS
//! ([`mock::MockRemote`]) and a fault-injecting wrapper ([`faulty::FaultyRemote`]).
//!
//! Compiled only for the crate's own unit tests and with the `testing` feature, which the
//! integration tests and benchmarks get through the crate's dev-dependency on itself
//! (Cargo.toml): the release binary contains none of it (tests/run.sh checks its symbols).

pub mod faulty;
pub mod mock;

/// A two-worker tokio runtime with I/O and time, as a mount or a front end runs in. Tests that
/// build more than one stack give each its own: shutting a runtime down stops the engine's
/// background tasks, which release the disk cache for the next one.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
}
