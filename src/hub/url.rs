//! The URL forms of revisions and paths (PROTOCOL.md §5).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Encodes a revision for a URL path segment: nothing is safe (`refs/pr/1` → `refs%2Fpr%2F1`).
pub fn encode_revision(rev: &str) -> String {
    utf8_percent_encode(rev, NON_ALPHANUMERIC_EXCEPT_UNRESERVED).to_string()
}

/// Encodes a file path for a URL, keeping `/`.
pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH_SET).to_string()
}

const NON_ALPHANUMERIC_EXCEPT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH_SET: &AsciiSet = &NON_ALPHANUMERIC_EXCEPT_UNRESERVED.remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(encode_revision("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(
            encode_path("dir with space/tiny #1.bin"),
            "dir%20with%20space/tiny%20%231.bin"
        );
    }
}
