//! A full disk: writes fail with an error and a counter, reads keep working.

use std::path::PathBuf;
use std::process::Command;

use crate::*;

/// A tiny tmpfs mounted for one test, unmounted on drop (also when the test fails).
struct TinyFs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl TinyFs {
    fn mount(size: &str) -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = parent.path().join("fs");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(TinyFs {
            path,
            _parent: parent,
        })
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

#[test]
fn a_full_disk_fails_puts_and_keeps_reads_working() {
    let fs = match TinyFs::mount("256k") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk_fails_puts_and_keeps_reads_working: {why}");
            return;
        }
    };
    let dir = fs.path.join("cache");
    // The budget is far above what the filesystem holds: only ENOSPC can stop the writes.
    let cache = open(&dir, 64 * MIB);
    let mut stored = Vec::new();
    let mut failed = None;
    for x in 0..40 {
        let chunks = [(0, chunk(&key(x, 0), 20 * KIB))];
        match cache.put(&xorb(x), &chunks) {
            Ok(()) => stored.push(x),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let err = failed.expect("a 256 KiB filesystem fills up");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert!(!stored.is_empty());
    assert_eq!(cache.stats().write_errors, 1);
    assert_eq!(
        count_files(&dir.join("tmp")),
        0,
        "the failed temp file is gone"
    );
    for &x in &stored {
        assert!(
            holds(&cache, x, 0, 20 * KIB),
            "stored before the disk filled: {x}"
        );
    }
    assert_eq!(cache.usage_bytes(), dir_usage(&dir));
    // Blobs fail the same way and do not disturb the chunks.
    assert!(cache.put_blob("big", &vec![3u8; 200 * KIB]).is_err());
    assert_eq!(cache.stats().write_errors, 2);
    // Freeing space (a purge) makes writes work again.
    for &x in &stored {
        cache.remove(&key(x, 0));
    }
    put(&cache, 99, &[0], 20 * KIB);
    assert!(holds(&cache, 99, 0, 20 * KIB));
    drop(cache);
}
