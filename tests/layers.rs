//! The module layering of docs/ARCHITECTURE.md holds: in production code (test modules
//! excluded), each top-level module of `src/` uses only modules listed below it there, and
//! nothing but tests uses `testkit`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The module names of ARCHITECTURE.md's tree, top first (the first word of each unindented
/// line of the first code block).
fn documented_order() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let block = doc
        .split("```")
        .nth(1)
        .expect("a code block with the module tree");
    block
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Production code of a file: nothing from the first `#[cfg(test)]` on, and nothing of files
/// that are test modules themselves.
fn production_code(path: &Path) -> String {
    let is_test_file = path.file_stem().is_some_and(|s| s == "tests")
        || path.components().any(|c| c.as_os_str() == "tests");
    if is_test_file {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Top-level modules named after `crate::` in `code` (also inside `use crate::{a, b::c}`).
fn used_modules(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .map(str::trim)
                .collect(),
            None => vec![rest],
        };
        for n in names {
            let name: String = n
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let order = documented_order();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for (rank, module) in order.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            files.push(file);
        }
        assert!(
            !files.is_empty(),
            "ARCHITECTURE.md lists {module}, src/ has no such module"
        );
        for f in &files {
            for used in used_modules(&production_code(f)) {
                let Some(used_rank) = order.iter().position(|m| *m == used) else {
                    continue; // not a top-level module (a macro, `crate::counters!`…)
                };
                let allowed = used_rank > rank && (used != "testkit" || module == "testkit");
                if !allowed && used != *module {
                    problems.push(format!("{} uses {used}", f.display()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_top_level_module_is_documented() {
    let order = documented_order();
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line.strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(
                order.iter().any(|m| m == name),
                "src/lib.rs has `{name}`, ARCHITECTURE.md's tree does not"
            );
        }
    }
}

#[test]
fn the_scanner_sees_grouped_and_nested_uses() {
    let code =
        "use crate::{hub::RepoId, xet};\nuse crate::read::FileReader;\nlet _ = crate::util::x;";
    let got: Vec<String> = used_modules(code).into_iter().collect();
    assert_eq!(got, ["hub", "read", "util", "xet"]);
}
