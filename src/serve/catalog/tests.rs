use super::*;

fn file(n: u8) -> FileEntry {
    FileEntry {
        size: u64::from(n),
        content: Content::Regular {
            oid: format!("{n:02x}").repeat(20),
        },
    }
}

fn put(path: &str, n: u8) -> Op {
    Op::Put {
        path: path.into(),
        entry: file(n),
    }
}

fn push(summary: &str, ops: Vec<Op>) -> Push {
    Push {
        summary: summary.into(),
        description: String::new(),
        time: 1,
        ops,
    }
}

fn root_snapshot(id: &RepoId) -> Arc<Snapshot> {
    let files = [
        ("a/x.txt".to_string(), file(1)),
        ("b.txt".to_string(), file(2)),
    ]
    .into();
    Arc::new(Snapshot::build(
        id,
        &["main"],
        None,
        "root".into(),
        0,
        files,
    ))
}

#[test]
fn pushes_replay_to_the_same_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let id = RepoId::model("org/m");
    let cat = Catalog::new(tmp.path());
    cat.install(&id, [("main".to_string(), root_snapshot(&id))].into());
    let entry = cat.get(&id).unwrap();
    let first = cat.push(&entry, "main", None, push("add c", vec![put("c.bin", 3)]));
    let second = cat.push(
        &entry,
        "main",
        None,
        push("rm a", vec![Op::DeleteFolder { path: "a".into() }]),
    );
    assert_eq!(second.parent.as_deref(), Some(first.sha.as_str()));
    assert_eq!(second.files.keys().collect::<Vec<_>>(), ["b.txt", "c.bin"]);
    // A pull request forked from main after two pushes.
    cat.push(
        &entry,
        "refs/pr/1",
        Some(BranchBase::Fork {
            branch: "main".into(),
            after_pushes: 2,
        }),
        push("pr", vec![put("d.txt", 4)]),
    );
    let pr_head = entry.state.read().resolve("refs/pr/1").unwrap();
    assert_eq!(pr_head.parent.as_deref(), Some(second.sha.as_str()));

    // Persist, then rebuild as a restart would: same ids, old commits still readable.
    let history = entry.state.read().history.clone();
    let path = cat.history_path(&id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&history).unwrap()).unwrap();
    let cat2 = Catalog::new(tmp.path());
    cat2.install(&id, [("main".to_string(), root_snapshot(&id))].into());
    let st = cat2.get(&id).unwrap().state.read().clone();
    assert_eq!(st.resolve("main").unwrap().sha, second.sha);
    assert_eq!(st.resolve("refs/pr/1").unwrap().sha, pr_head.sha);
    assert!(st.resolve(&first.sha).is_some());
    assert!(st.resolve(&root_snapshot(&id).sha).is_some());
    assert!(st.resolve("nope").is_none());
}

#[test]
fn created_repos_start_empty_and_survive_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let id = RepoId::dataset("org/new");
    let cat = Catalog::new(tmp.path());
    let created = CreatedRepo {
        private: true,
        owner: Some("alice".into()),
        time: 5,
    };
    let entry = cat.create(&id, created.clone()).unwrap();
    assert!(cat.create(&id, created).is_none());
    let head = entry.state.read().resolve("main").unwrap();
    assert!(head.files.is_empty());
    let history = entry.state.read().history.clone();
    let path = cat.history_path(&id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&history).unwrap()).unwrap();

    let cat2 = Catalog::new(tmp.path());
    cat2.load_created(&[]);
    let st = cat2.get(&id).unwrap().state.read().clone();
    assert_eq!(st.status, RepoStatus::Ready);
    assert_eq!(st.resolve("main").unwrap().sha, head.sha);
    assert!(st.created_private().is_some());
}
