//! Which files are stored with Xet, mirroring the Hub's defaults: every non-empty file matching
//! the default `.gitattributes` LFS patterns of a new Hub repo, plus every file of 10 MiB or
//! more. Everything else is a regular git file.

/// Files this large are always Xet, whatever their name (the Hub's LFS threshold).
pub const XET_SIZE_THRESHOLD: u64 = 10 * 1024 * 1024;

/// The LFS patterns of the `.gitattributes` the Hub writes into a new model repo.
const MODEL_PATTERNS: &[&str] = &[
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gguf",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
];

/// Added for dataset repos (compressed shards, audio and images).
const DATASET_EXTRA_PATTERNS: &[&str] = &[
    "*.lz4", "*.mds", "*.mp3", "*.ogg", "*.wav", "*.jpg", "*.jpeg", "*.png", "*.webp",
];

/// The LFS rules of one repo: the Hub defaults plus `filter=lfs` lines of its `.gitattributes`.
#[derive(Debug, Clone)]
pub struct XetRules {
    patterns: Vec<String>,
}

impl XetRules {
    pub fn defaults(dataset: bool) -> Self {
        let mut patterns: Vec<String> = MODEL_PATTERNS.iter().map(|s| s.to_string()).collect();
        if dataset {
            patterns.extend(DATASET_EXTRA_PATTERNS.iter().map(|s| s.to_string()));
        }
        XetRules { patterns }
    }

    /// Adds the `filter=lfs` patterns of a `.gitattributes` file.
    pub fn add_gitattributes(&mut self, text: &str) {
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else {
                continue;
            };
            if !pattern.starts_with('#') && words.any(|w| w == "filter=lfs") {
                self.patterns.push(pattern.to_string());
            }
        }
    }

    /// Whether the file at `path` (repo-relative, `/`-separated) is stored with Xet.
    pub fn is_xet(&self, path: &str, size: u64) -> bool {
        size > 0 && (size >= XET_SIZE_THRESHOLD || self.matches(path))
    }

    /// Whether `path` matches an LFS pattern (regardless of size).
    pub fn matches(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.patterns.iter().any(|p| match p.strip_suffix("/**/*") {
            // `dir/**/*`: anything below `dir/` at the repo root.
            Some(dir) => path.starts_with(dir) && path[dir.len()..].starts_with('/'),
            // Without a slash a pattern matches the file name at any depth (gitattributes rule).
            None if !p.contains('/') => wildcard(p.as_bytes(), name.as_bytes()),
            None => wildcard(p.trim_start_matches('/').as_bytes(), path.as_bytes()),
        })
    }
}

/// `*` matches any run of bytes (no `/` in a name anyway), `?` one byte; the rest literally.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_defaults() {
        let r = XetRules::defaults(false);
        assert!(r.is_xet("model.safetensors", 10));
        assert!(r.is_xet("sub/dir/weights.bin", 1));
        assert!(r.is_xet("data.tar.gz", 5));
        assert!(r.is_xet("runs/events.out.tfevents.123.host", 5));
        assert!(r.is_xet("saved_model/variables/x.data", 5));
        assert!(!r.is_xet("other/saved_model/x.txt", 5));
        assert!(
            !r.is_xet("empty.bin", 0),
            "empty files are regular git files"
        );
        assert!(!r.is_xet("config.json", 1000));
        assert!(!r.is_xet("tokenizer.json", XET_SIZE_THRESHOLD - 1));
        assert!(r.is_xet("tokenizer.json", XET_SIZE_THRESHOLD));
        assert!(!r.is_xet("bin", 5));
        assert!(!XetRules::defaults(false).is_xet("a.png", 5));
        assert!(XetRules::defaults(true).is_xet("a.png", 5));
    }

    #[test]
    fn gitattributes_extend_the_rules() {
        let mut r = XetRules::defaults(false);
        r.add_gitattributes("# c\n*.dat filter=lfs diff=lfs merge=lfs -text\n*.txt text\n");
        assert!(r.is_xet("x/y.dat", 1));
        assert!(!r.is_xet("y.txt", 1));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.tar.*", b"a.tar.gz"));
        assert!(!wildcard(b"*.tar.*", b"a.tar"));
        assert!(wildcard(b"*tfevents*", b"tfevents"));
        assert!(wildcard(b"a?c", b"abc"));
        assert!(!wildcard(b"*.bin", b"a.bin.txt"));
    }
}
