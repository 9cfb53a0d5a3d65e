//! Small helpers shared by the CLI and the library.

pub mod splitmix;
pub mod units;
