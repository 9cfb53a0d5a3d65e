//! The fuser adapter: inode table, namespace of repos that appear on lookup, and the
//! `Filesystem` implementation that hands reads to a [`FileReader`](crate::read::FileReader).
//! No protocol or cache logic lives here.

pub mod attr;
mod dir_ops;
mod errno;
mod file_ops;
pub mod fuse;
mod handles;
pub mod inode;
mod lookup;
pub mod mount;
pub mod mountinfo;
pub mod namespace;
mod ops;
pub mod stats;

pub use fuse::{FsConfig, FsControl, XetFs};
pub use mount::{mount, unmount, Access, MountConfig, Mounted};
