//! xetfs: lazy, verified, cached access to Hugging Face Hub repos stored with the Xet protocol.
//!
//! Modules, each using only those listed before it (docs/ARCHITECTURE.md):
//! [`xet`] (pure format code), [`util`], [`hub`] (repo ids, tree entries, file descriptions),
//! [`remote`] (the Hub and CAS client), [`metrics`] (counters), [`cache`] (memory, disk,
//! metadata), [`catalog`] (revision → commit → tree), [`read`] (the engine: plan, fetch,
//! prefetch, verify), [`stack`] (builds all of these from one `Settings`), [`fs`] (the fuser
//! adapter), [`serve`] (a local Xet Hub built on [`xet`]), [`cli`].
//! `testkit` (test doubles of the remote) exists only in tests and with the `testing` feature.

pub mod cache;
pub mod catalog;
pub mod cli;
pub mod fs;
pub mod hub;
pub mod metrics;
pub mod read;
pub mod remote;
pub mod serve;
pub mod stack;
#[cfg(any(test, feature = "testing"))]
pub mod testkit;
pub mod util;
pub mod xet;
