//! `xetfs serve`: a local Xet-enabled Hub (Hub API + CAS + transfer URLs) over a directory tree,
//! which the official `huggingface_hub` / `hf_xet` clients pull from and push to unmodified.
//!
//! The Hub listens on `--listen` (what `HF_ENDPOINT` points at); the CAS and the presigned
//! transfer URLs live on a second port (Xet resolve redirects must leave the Hub origin).
//! See `docs/SERVE.md` for the layout of ROOT, the state directory, faults and metrics.

mod access;
pub mod auth;
mod cas_api;
mod cas_upload;
pub mod catalog;
pub mod classify;
mod commit;
pub mod config;
mod decode;
pub mod errors;
pub mod faults;
pub mod git;
mod hub_api;
pub mod ingest;
pub mod layout;
pub mod metrics;
mod range;
mod resolve;
pub mod sample;
mod server;
mod shared;
pub mod signing;
pub mod store;
mod stream;
pub mod time;
mod tokens;
mod transfer;
mod upload;
mod verify;

pub use auth::{AuthConfig, RepoPolicy, TokenGrant};
pub use config::ServeConfig;
pub use faults::{FaultConfig, FaultKind, FaultRule};
pub use metrics::{EndpointStats, MetricsSnapshot};
pub use server::{default_state_dir, start, RunningServer, ServeOptions};
