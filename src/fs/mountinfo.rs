//! Reading `/proc/self/mountinfo`: which mounts exist, their device numbers and sources.
//! Used to find the mount's bdi (readahead), stale mounts and what `umount` may touch.

use std::io;
use std::path::{Component, Path, PathBuf};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub major: u32,
    pub minor: u32,
    pub mountpoint: PathBuf,
    pub fstype: String,
    pub source: String,
}

impl MountEntry {
    /// A FUSE mount made by xetfs (`fsname=xetfs…`; type `fuse` when mounted directly,
    /// `fuse.xetfs` through fusermount3).
    pub fn is_xetfs(&self) -> bool {
        (self.fstype == "fuse" || self.fstype == "fuse.xetfs") && self.source.starts_with("xetfs")
    }
}

/// All mounts visible to this process.
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The topmost mount at `mountpoint` (an absolute, normalized path).
pub fn find(mountpoint: &Path) -> io::Result<Option<MountEntry>> {
    Ok(mounts()?
        .into_iter()
        .rev()
        .find(|m| m.mountpoint == mountpoint))
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_line(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let mut right = right.split(' ');
    let (major, minor) = left.get(2)?.split_once(':')?;
    Some(MountEntry {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        mountpoint: PathBuf::from(unescape(left.get(4)?)),
        fstype: unescape(right.next()?),
        source: unescape(right.next()?),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash…).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                out.push(v as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An absolute path with symlinks resolved in every component but the last, which is kept
/// as is: a dead FUSE mount cannot be `stat`ed, so `canonicalize` fails on it.
pub fn normalize(path: &Path) -> io::Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut clean = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) => Ok(parent.canonicalize()?.join(name)),
        _ => Ok(clean), // the root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw\n\
                    90 30 0:52 / /tmp/with\\040space rw,nosuid,nodev,relatime shared:5 - fuse xetfs ro,user_id=0\n\
                    91 30 0:53 / /tmp/b rw - fuse.xetfs xetfs-test-1 ro\n\
                    garbage\n";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].major, m[0].minor), (98, 0));
        assert_eq!(m[1].mountpoint, Path::new("/tmp/with space"));
        assert!(m[1].is_xetfs() && m[2].is_xetfs() && !m[0].is_xetfs());
        assert_eq!(m[2].source, "xetfs-test-1");
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
    }

    #[test]
    fn normalizes_without_touching_the_last_component() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        let p = normalize(&dir.path().join("x/../does-not-exist")).unwrap();
        assert_eq!(p, real.join("does-not-exist"));
        assert_eq!(normalize(Path::new("/")).unwrap(), Path::new("/"));
    }
}
