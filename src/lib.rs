//! xetfs: lazy, verified, cached access to Hugging Face Hub repos stored with the Xet protocol.
//!
//! The modules follow the data's way from the wire to the reader:
//! [`xet`] (pure format code) → [`remote`] (Hub and CAS clients) → [`cache`] (memory, disk) →
//! [`read`] (the engine: plan, fetch, prefetch, verify) → [`fs`] (the fuser adapter) → [`cli`].
//! [`serve`] is a local Xet Hub built on [`xet`].

pub mod cache;
pub mod cli;
pub mod fs;
pub mod read;
pub mod remote;
pub mod serve;
pub mod util;
pub mod xet;
