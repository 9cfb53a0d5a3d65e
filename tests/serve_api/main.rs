//! `xetfs serve` handlers against an in-process server, over real HTTP (reqwest).

mod auth;
mod download;
mod errors;
mod faults;
mod support;
mod upload;
