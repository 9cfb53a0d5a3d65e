//! The one place where failures become errno values (their text goes to the log).

use fuser::Errno;

use crate::read::ReadError;
use crate::remote::RemoteError;

/// A failed lookup, listing or open (a catalog answer).
pub fn for_lookup(e: &RemoteError) -> Errno {
    match e {
        // Offline, the namespace is what the metadata cache knows.
        RemoteError::NotFound(_) | RemoteError::Offline(_) => Errno::ENOENT,
        RemoteError::Unauthorized(_) | RemoteError::Forbidden(_) => Errno::EACCES,
        _ => Errno::EIO,
    }
}

/// A failed read. Always EIO: by the time a file is open its name exists and access was
/// granted, so whatever went wrong (network, integrity, deadline, offline) is an I/O error to
/// the reader; ENOENT or EACCES here would make tools believe the file vanished.
pub fn for_read(e: &ReadError) -> Errno {
    match e {
        ReadError::Remote(_)
        | ReadError::Integrity(_)
        | ReadError::Deadline(_)
        | ReadError::NotCached(_)
        | ReadError::Internal(_) => Errno::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_reads_map_as_documented() {
        let lookup = |e: RemoteError| for_lookup(&e);
        assert_eq!(lookup(RemoteError::NotFound("x".into())), Errno::ENOENT);
        assert_eq!(lookup(RemoteError::Offline("x".into())), Errno::ENOENT);
        assert_eq!(lookup(RemoteError::Forbidden("x".into())), Errno::EACCES);
        assert_eq!(lookup(RemoteError::Unauthorized("x".into())), Errno::EACCES);
        assert_eq!(lookup(RemoteError::Transient("x".into())), Errno::EIO);
        let not_found = ReadError::Remote(RemoteError::NotFound("xorb".into()));
        assert_eq!(for_read(&not_found), Errno::EIO);
        assert_eq!(for_read(&ReadError::Integrity("x".into())), Errno::EIO);
    }
}
