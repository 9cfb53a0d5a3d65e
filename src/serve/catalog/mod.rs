//! The repos being served: their status, branches, tags and every commit that was ever served
//! (so old commit ids stay readable), built from ROOT revisions plus API history.

pub mod history;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::hub::RepoId;
use crate::serve::git;
use crate::xet::MerkleHash;
pub use history::{BranchBase, BranchHistory, CreatedRepo, Op, Push, RepoHistory};
pub use snapshot::{Content, FileEntry, Snapshot, TreeItem};

/// Whether a repo can be served yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoStatus {
    /// ROOT content still being ingested.
    Pending,
    Ready,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct RepoState {
    pub status: RepoStatus,
    /// Branches and tags → commit id.
    pub refs: BTreeMap<String, String>,
    pub commits: HashMap<String, Arc<Snapshot>>,
    /// The ROOT revisions this run ingested (branch → snapshot), the base of replays.
    pub roots: BTreeMap<String, Arc<Snapshot>>,
    pub history: RepoHistory,
}

impl RepoState {
    fn pending() -> Self {
        RepoState {
            status: RepoStatus::Pending,
            refs: BTreeMap::new(),
            commits: HashMap::new(),
            roots: BTreeMap::new(),
            history: RepoHistory::default(),
        }
    }

    /// Branch, tag or full commit id → the commit.
    pub fn resolve(&self, rev: &str) -> Option<Arc<Snapshot>> {
        let sha = match self.refs.get(rev) {
            Some(sha) => sha.as_str(),
            None if git::is_commit_id(rev) => rev,
            None => return None,
        };
        self.commits.get(sha).cloned()
    }

    /// Whether the repo was created private through the API.
    pub fn created_private(&self) -> Option<&CreatedRepo> {
        self.history.created.as_ref().filter(|c| c.private)
    }

    fn add_commit(&mut self, s: Arc<Snapshot>) {
        self.commits.insert(s.sha.clone(), s);
    }

    /// Rebuilds every branch from the ROOT snapshots and the history.
    fn rebuild(&mut self, repo: &RepoId) {
        self.refs.clear();
        let roots = self.roots.clone();
        for (rev, s) in &roots {
            self.add_commit(s.clone());
            self.refs.insert(rev.clone(), s.sha.clone());
        }
        let branches = self.history.branches.clone();
        // Root-based branches first: forks start from them.
        let mut chains: BTreeMap<String, Vec<Arc<Snapshot>>> = roots
            .iter()
            .map(|(rev, s)| (rev.clone(), vec![s.clone()]))
            .collect();
        let ordered = branches
            .iter()
            .filter(|(_, b)| b.base == BranchBase::Root)
            .chain(branches.iter().filter(|(_, b)| b.base != BranchBase::Root));
        for (name, branch) in ordered {
            let base = match &branch.base {
                BranchBase::Root => match roots.get(name) {
                    Some(s) => s.clone(),
                    None => Arc::new(empty_snapshot(repo, self.history.created.as_ref())),
                },
                BranchBase::Fork {
                    branch: from,
                    after_pushes,
                } => match chains.get(from).and_then(|c| c.get(*after_pushes)) {
                    Some(s) => s.clone(),
                    None => {
                        tracing::warn!("{repo}: dropping branch {name}: its base {from} is gone");
                        continue;
                    }
                },
            };
            let mut chain = vec![base.clone()];
            let mut head = base;
            for push in &branch.pushes {
                head = Arc::new(apply_push(repo, &head, push));
                chain.push(head.clone());
            }
            for s in &chain {
                self.add_commit(s.clone());
            }
            self.refs.insert(name.clone(), head.sha.clone());
            chains.insert(name.clone(), chain);
        }
    }
}

/// The first commit of a repo created through the API: no files.
fn empty_snapshot(repo: &RepoId, created: Option<&CreatedRepo>) -> Snapshot {
    let time = created.map_or(0, |c| c.time);
    Snapshot::build(
        repo,
        &["initial"],
        None,
        "initial commit".into(),
        time,
        BTreeMap::new(),
    )
}

/// The commit a push makes on top of `head`.
pub fn apply_push(repo: &RepoId, head: &Snapshot, push: &Push) -> Snapshot {
    let mut files = head.files.clone();
    for op in &push.ops {
        op.apply(&mut files);
    }
    Snapshot::build(
        repo,
        &[push.description.as_str()],
        Some(head.sha.clone()),
        push.summary.clone(),
        push.time,
        files,
    )
}

/// One repo; its state changes under the lock (commits, status).
pub struct RepoEntry {
    pub id: RepoId,
    pub state: RwLock<RepoState>,
    /// Serialises commits (check the parent, apply, persist) on this repo.
    pub commit_lock: parking_lot::Mutex<()>,
}

/// All repos, plus where their API history is persisted.
pub struct Catalog {
    repos: RwLock<BTreeMap<RepoId, Arc<RepoEntry>>>,
    /// Xet file → repos with a commit that holds it (for CAS-side access checks).
    file_repos: RwLock<HashMap<MerkleHash, BTreeSet<RepoId>>>,
    history_dir: PathBuf,
}

impl Catalog {
    pub fn new(history_dir: &Path) -> Self {
        Catalog {
            repos: RwLock::new(BTreeMap::new()),
            file_repos: RwLock::new(HashMap::new()),
            history_dir: history_dir.to_path_buf(),
        }
    }

    pub fn get(&self, id: &RepoId) -> Option<Arc<RepoEntry>> {
        self.repos.read().get(id).cloned()
    }

    /// Repos with a commit that holds Xet file `file`.
    pub fn repos_with_file(&self, file: &MerkleHash) -> BTreeSet<RepoId> {
        self.file_repos
            .read()
            .get(file)
            .cloned()
            .unwrap_or_default()
    }

    fn index_files<'a>(&self, id: &RepoId, snaps: impl Iterator<Item = &'a Arc<Snapshot>>) {
        let mut index = self.file_repos.write();
        for s in snaps {
            for e in s.files.values() {
                if let Some((hash, _)) = e.xet() {
                    index.entry(*hash).or_default().insert(id.clone());
                }
            }
        }
    }

    /// Appends a push to `branch` of `entry` (see [`RepoEntry::push`]).
    pub fn push(
        &self,
        entry: &RepoEntry,
        branch: &str,
        base: Option<BranchBase>,
        push: Push,
    ) -> Arc<Snapshot> {
        let head = entry.push(branch, base, push);
        self.index_files(&entry.id, std::iter::once(&head));
        head
    }

    pub fn ids(&self) -> Vec<RepoId> {
        self.repos.read().keys().cloned().collect()
    }

    /// Where the history of `id` is kept.
    pub fn history_path(&self, id: &RepoId) -> PathBuf {
        self.history_dir
            .join(id.kind.api_segment())
            .join(format!("{}.json", id.name))
    }

    fn load_history(&self, id: &RepoId) -> RepoHistory {
        let path = self.history_path(id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!("ignoring unreadable history {}: {e}", path.display());
                RepoHistory::default()
            }),
            Err(_) => RepoHistory::default(),
        }
    }

    /// Announces a ROOT repo whose content is about to be ingested.
    pub fn add_pending(&self, id: &RepoId) {
        self.repos.write().entry(id.clone()).or_insert_with(|| {
            Arc::new(RepoEntry {
                id: id.clone(),
                state: RwLock::new(RepoState::pending()),
                commit_lock: parking_lot::Mutex::new(()),
            })
        });
    }

    /// Makes a repo servable: ROOT revisions plus its persisted history.
    pub fn install(&self, id: &RepoId, roots: BTreeMap<String, Arc<Snapshot>>) {
        let history = self.load_history(id);
        self.add_pending(id);
        let entry = self.get(id).expect("just added");
        let mut st = entry.state.write();
        st.roots = roots;
        st.history = history;
        st.rebuild(id);
        st.status = RepoStatus::Ready;
        self.index_files(id, st.commits.values());
    }

    pub fn fail(&self, id: &RepoId, reason: String) {
        self.add_pending(id);
        if let Some(e) = self.get(id) {
            e.state.write().status = RepoStatus::Failed(reason);
        }
    }

    /// Installs every repo created through the API in an earlier run that ROOT does not hold.
    pub fn load_created(&self, root_ids: &[RepoId]) {
        for kind in ["models", "datasets", "spaces"] {
            let dir = self.history_dir.join(kind);
            let Ok(orgs) = std::fs::read_dir(&dir) else {
                continue;
            };
            for org in orgs.flatten() {
                let Ok(names) = std::fs::read_dir(org.path()) else {
                    continue;
                };
                for name in names.flatten() {
                    let file = name.file_name().to_string_lossy().into_owned();
                    let Some(stem) = file.strip_suffix(".json") else {
                        continue;
                    };
                    let full = format!("{}/{stem}", org.file_name().to_string_lossy());
                    if !RepoId::is_valid_name(&full) {
                        continue;
                    }
                    let id = RepoId {
                        kind: match kind {
                            "models" => crate::hub::RepoType::Model,
                            "datasets" => crate::hub::RepoType::Dataset,
                            _ => crate::hub::RepoType::Space,
                        },
                        name: full,
                    };
                    if !root_ids.contains(&id) && self.load_history(&id).created.is_some() {
                        self.install(&id, BTreeMap::new());
                    }
                }
            }
        }
    }

    /// Creates an empty repo; `None` when it already exists.
    pub fn create(&self, id: &RepoId, created: CreatedRepo) -> Option<Arc<RepoEntry>> {
        let mut repos = self.repos.write();
        if repos.contains_key(id) {
            return None;
        }
        let mut st = RepoState::pending();
        st.history.created = Some(created);
        st.history.branches.insert(
            "main".into(),
            BranchHistory {
                base: BranchBase::Root,
                pushes: Vec::new(),
            },
        );
        st.rebuild(id);
        st.status = RepoStatus::Ready;
        let entry = Arc::new(RepoEntry {
            id: id.clone(),
            state: RwLock::new(st),
            commit_lock: parking_lot::Mutex::new(()),
        });
        repos.insert(id.clone(), entry.clone());
        Some(entry)
    }
}

impl RepoEntry {
    /// Appends a push to `branch` (creating it from `base` when new) and returns the new head.
    /// The caller persists [`RepoState::history`] afterwards.
    fn push(&self, branch: &str, base: Option<BranchBase>, push: Push) -> Arc<Snapshot> {
        let mut st = self.state.write();
        let b = st
            .history
            .branches
            .entry(branch.to_string())
            .or_insert_with(|| BranchHistory {
                base: base.unwrap_or(BranchBase::Root),
                pushes: Vec::new(),
            });
        b.pushes.push(push.clone());
        // The head before this push (a new branch starts at its base's head).
        let head = st
            .resolve(branch)
            .or_else(|| match &st.history.branches[branch].base {
                BranchBase::Fork { branch: from, .. } => st.resolve(from),
                BranchBase::Root => st.roots.get(branch).cloned(),
            })
            .unwrap_or_else(|| Arc::new(empty_snapshot(&self.id, st.history.created.as_ref())));
        let new = Arc::new(apply_push(&self.id, &head, &push));
        st.add_commit(new.clone());
        st.refs.insert(branch.to_string(), new.sha.clone());
        new
    }
}

#[cfg(test)]
mod tests;
