//! HttpRemote against in-process HTTP servers.

mod cas;
mod hub;
mod support;
mod transfer;
