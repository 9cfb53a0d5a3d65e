//! Git object ids the Hub exposes: blob ids of regular files, of LFS pointers, tree and commit ids.

use sha1::{Digest, Sha1};

/// Git blob id (`sha1("blob <len>\0" + data)`) of `data`.
pub fn blob_oid(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finalize())
}

/// The LFS pointer file git stores for an LFS/Xet file.
pub fn lfs_pointer(sha256: &str, size: u64) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n")
}

/// A stable 40-hex id over `parts` (commits and directories: deterministic from content).
pub fn content_id(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha1::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Whether `s` looks like a full commit id.
pub fn is_commit_id(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids() {
        // `git hash-object` of an empty file and of "hello\n".
        assert_eq!(blob_oid(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(
            blob_oid(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        let p = lfs_pointer(&"a".repeat(64), 10);
        assert!(p.starts_with("version https://git-lfs.github.com/spec/v1\noid sha256:aaa"));
        assert!(is_commit_id(&content_id("commit", &["x"])));
        assert!(!is_commit_id("main"));
    }
}
