//! The mount's namespace: which names at the top levels can be repos, and which repos have been
//! used (what `ls MOUNTPOINT` shows).
//!
//! ```text
//! MOUNTPOINT/<org>/<name>            model repo, branch main
//! MOUNTPOINT/<org>/<name>@<rev>      branch, tag or commit; rev percent-quoted (refs%2Fpr%2F1)
//! MOUNTPOINT/datasets/<org>/<name>   dataset repo (same @<rev> forms)
//! MOUNTPOINT/.xetfs-stats            hidden counters file
//! ```

use std::collections::{BTreeMap, BTreeSet};

use parking_lot::Mutex;
use percent_encoding::percent_decode_str;

use crate::hub::{RepoId, RepoType};

/// Hidden counters file in the mount root (not listed).
pub const STATS_NAME: &str = ".xetfs-stats";
/// The root directory that holds dataset orgs.
pub const DATASETS_DIR: &str = "datasets";
/// Revision of `<org>/<name>` without `@`.
pub const DEFAULT_REV: &str = "main";

/// Names probed by desktops and tools that look like org names but never are.
const PROBES: &[&str] = &[
    "autorun.inf",
    "desktop.ini",
    "thumbs.db",
    "folder.jpg",
    "lost+found",
];

/// A name in the mount root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootName {
    Stats,
    Datasets,
    /// An org of model repos.
    Org(String),
}

/// A repo directory name inside an org directory, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoDirName {
    pub repo: RepoId,
    /// The revision to resolve (`main` when the name has no `@`).
    pub rev: String,
}

/// Classifies a name in the mount root; `None` means ENOENT without asking the Hub.
pub fn parse_root(name: &str) -> Option<RootName> {
    match name {
        STATS_NAME => Some(RootName::Stats),
        DATASETS_DIR => Some(RootName::Datasets),
        _ if is_org_name(name) => Some(RootName::Org(name.to_string())),
        _ => None,
    }
}

/// Whether `name` can be a Hub user or org: the Hub's character set, no leading dot or dash
/// (rules out `.git`, `.Trash-1000`, `.hidden`…), and not a well-known probe.
pub fn is_org_name(name: &str) -> bool {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && name.len() <= 96
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !PROBES.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// Parses `<name>` or `<name>@<quoted rev>` inside org `org`; `None` means ENOENT without
/// asking the Hub.
pub fn parse_repo_dir(kind: RepoType, org: &str, entry: &str) -> Option<RepoDirName> {
    let (name, rev) = match entry.split_once('@') {
        Some((name, quoted)) => {
            let rev = percent_decode_str(quoted).decode_utf8().ok()?;
            let ok = !rev.is_empty()
                && !rev.chars().any(char::is_control)
                && !rev
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..");
            if !ok {
                return None;
            }
            (name, rev.into_owned())
        }
        None => (entry, DEFAULT_REV.to_string()),
    };
    if !is_org_name(name) {
        return None;
    }
    let full = format!("{org}/{name}");
    RepoId::is_valid_name(&full).then_some(RepoDirName {
        repo: RepoId { kind, name: full },
        rev,
    })
}

/// Repos looked up successfully during this mount, by org: what directory listings show.
#[derive(Debug, Default)]
pub struct UsedRepos {
    orgs: Mutex<BTreeMap<(RepoType, String), BTreeSet<String>>>,
}

impl UsedRepos {
    pub fn add(&self, kind: RepoType, org: &str, dir_name: &str) {
        self.orgs
            .lock()
            .entry((kind, org.to_string()))
            .or_default()
            .insert(dir_name.to_string());
    }

    /// Orgs of `kind` with at least one used repo.
    pub fn orgs(&self, kind: RepoType) -> Vec<String> {
        self.orgs
            .lock()
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, org)| org.clone())
            .collect()
    }

    /// Directory names of used repos in `org`.
    pub fn repos(&self, kind: RepoType, org: &str) -> Vec<String> {
        self.orgs
            .lock()
            .get(&(kind, org.to_string()))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entry: &str) -> Option<(String, String)> {
        parse_repo_dir(RepoType::Model, "org", entry).map(|r| (r.repo.name, r.rev))
    }

    #[test]
    fn root_names() {
        assert_eq!(parse_root(".xetfs-stats"), Some(RootName::Stats));
        assert_eq!(parse_root("datasets"), Some(RootName::Datasets));
        assert_eq!(
            parse_root("gpt2-org"),
            Some(RootName::Org("gpt2-org".into()))
        );
        for probe in [
            ".git",
            ".Trash",
            ".Trash-1000",
            ".hidden",
            "autorun.inf",
            "Desktop.ini",
            "-x",
            "",
            "a b",
            "a/b",
        ] {
            assert_eq!(parse_root(probe), None, "{probe:?}");
        }
    }

    #[test]
    fn repo_dir_names() {
        assert_eq!(parse("name"), Some(("org/name".into(), "main".into())));
        assert_eq!(
            parse("model_v1.5@v2.0"),
            Some(("org/model_v1.5".into(), "v2.0".into()))
        );
        assert_eq!(
            parse("name@refs%2Fpr%2F1"),
            Some(("org/name".into(), "refs/pr/1".into()))
        );
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            parse(&format!("name@{sha}")),
            Some(("org/name".into(), sha.into()))
        );
        // A literal slash can never reach us, but a quoted one may not escape either.
        for bad in [
            "name@",
            "name@%2F",
            "name@..%2Fx",
            "name@a%00b",
            "@main",
            ".git",
            ".name",
            "na me",
            "name@%ff",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let ds = parse_repo_dir(RepoType::Dataset, "org", "data").unwrap();
        assert_eq!(ds.repo, RepoId::dataset("org/data"));
    }

    #[test]
    fn used_repos_are_listed_per_org() {
        let used = UsedRepos::default();
        used.add(RepoType::Model, "b", "m@v1");
        used.add(RepoType::Model, "a", "m");
        used.add(RepoType::Model, "b", "m");
        used.add(RepoType::Dataset, "c", "d");
        assert_eq!(used.orgs(RepoType::Model), ["a", "b"]);
        assert_eq!(used.orgs(RepoType::Dataset), ["c"]);
        assert_eq!(used.repos(RepoType::Model, "b"), ["m", "m@v1"]);
        assert!(used.repos(RepoType::Model, "zz").is_empty());
    }
}
