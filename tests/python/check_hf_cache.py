"""Checks that a download left files the way huggingface_hub itself does, and that the official
offline calls accept them with no warning (any warning or CorruptedCacheException is a failure).

usage:
  check_hf_cache.py CACHE_DIR REPO_ID REPO_TYPE REVISION PATH=SHA256[:lfs|:git] ... [--transformers]
  check_hf_cache.py --local-dir DIR REPO_ID REPO_TYPE REVISION PATH=SHA256[:lfs|:git] ...

CACHE_DIR is the hub cache (`$HF_HUB_CACHE`, i.e. `$HF_HOME/hub`). REVISION is a branch/tag name
or a commit. `:lfs` means the blob must be named by the SHA-256 (LFS and Xet files), `:git` by the
git blob id (plain files); without it either name is accepted if it matches the content.
`--transformers` also loads AutoConfig (and AutoTokenizer when tokenizer files are listed) offline.

Prints one JSON line with what was checked; exits non-zero with `FAIL: ...` on the first problem.
Never touches the network: HF_HUB_OFFLINE=1 and an endpoint nobody listens on.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # discard port: a request would fail loudly
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import stat  # noqa: E402
import warnings  # noqa: E402

from common import done, fail, sha256_file  # noqa: E402

COMMIT = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class Recorder(logging.Handler):
    """Every WARNING+ log record of huggingface_hub / transformers becomes a failure."""

    def emit(self, record):
        fail(f"warning logged by {record.name}: {record.getMessage()}")


def watch_warnings():
    warnings.simplefilter("error")  # Python warnings raise
    for name in ("huggingface_hub", "transformers"):
        logger = logging.getLogger(name)
        logger.addHandler(Recorder(level=logging.WARNING))
        logger.setLevel(logging.WARNING)


def git_blob_id(path):
    h = hashlib.sha1()
    h.update(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_files(specs):
    files = {}
    for spec in specs:
        path, _, rest = spec.partition("=")
        sha, _, kind = rest.partition(":")
        if not path or not SHA256.fullmatch(sha) or kind not in ("", "lfs", "git"):
            fail(f"bad file spec {spec!r}: want PATH=SHA256[:lfs|:git]")
        files[path] = (sha, kind)
    return files


def check_etag(name, path, sha, kind, where):
    """`name` (a blob name or a metadata etag) is what huggingface_hub would use for this file."""
    if kind != "git" and name == sha:
        return "lfs"
    if kind != "lfs" and name == git_blob_id(path):
        return "git"
    want = {"lfs": "its SHA-256", "git": "its git blob id"}.get(kind, "its SHA-256 or git blob id")
    fail(f"{where}: named {name}, not {want}")


def umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_blob_mode(blob, cache_dir):
    """Per-repo blobs get the mode of a new file (as `_chmod_and_move`); shared-store payloads
    (huggingface_hub >= 2.4, Xet files) are read-only."""
    mode = stat.S_IMODE(os.lstat(blob).st_mode)
    if not os.path.islink(blob):
        if mode != 0o666 & ~umask():
            fail(f"{blob}: mode {mode:o}, huggingface_hub writes {0o666 & ~umask():o}")
        return
    target = os.path.normpath(os.path.join(os.path.dirname(blob), os.readlink(blob)))
    store = os.path.join(cache_dir, "blobs")
    rel = os.path.relpath(target, store).split(os.sep)
    marker = os.path.join(store, ".huggingface-shared-blobs")
    if os.path.isabs(os.readlink(blob)) or len(rel) != 2 or rel[0] != rel[1][:2]:
        fail(f"{blob}: a blob symlink must point relatively into {store}/<2 hex>/<xet hash>")
    if not SHA256.fullmatch(rel[1]) or not os.path.isfile(marker):
        fail(f"{blob}: shared store entry {target} without a marked store")
    mode = stat.S_IMODE(os.lstat(target).st_mode)
    if mode & 0o222 or not mode & 0o400 or os.path.islink(target):
        fail(f"{target}: a shared payload is a read-only regular file (mode {mode:o})")


def resolve_commit(repo_dir, revision):
    if COMMIT.fullmatch(revision):
        commit = revision
    else:
        ref = os.path.join(repo_dir, "refs", revision)
        if not os.path.isfile(ref):
            fail(f"{ref} missing")
        with open(ref) as f:
            commit = f.read()
        if not COMMIT.fullmatch(commit):
            fail(f"{ref} holds {commit!r}: exactly 40 hex digits, no newline, are expected")
    if not os.path.isdir(os.path.join(repo_dir, "snapshots", commit)):
        fail(f"no snapshots/{commit} in {repo_dir}")
    return commit


def check_blobs_dir(repo_dir):
    """Only finished blobs: no `.incomplete`, no temporary names."""
    blobs = os.path.join(repo_dir, "blobs")
    for name in os.listdir(blobs):
        if not (COMMIT.fullmatch(name) or SHA256.fullmatch(name)):
            fail(f"{blobs}/{name}: not a finished blob (name is not an etag)")


def check_snapshot_file(cache_dir, repo_dir, commit, path, sha, kind):
    link = os.path.join(repo_dir, "snapshots", commit, *path.split("/"))
    if not os.path.islink(link):
        fail(f"{link}: not a symlink (huggingface_hub links snapshots to blobs)")
    target = os.readlink(link)
    if os.path.isabs(target):
        fail(f"{link} -> {target}: huggingface_hub writes relative links")
    blob = os.path.normpath(os.path.join(os.path.dirname(link), target))
    if os.path.dirname(blob) != os.path.join(repo_dir, "blobs"):
        fail(f"{link} -> {target}: not a blob of {repo_dir}/blobs")
    if not os.path.exists(blob):
        fail(f"{link} -> {target}: broken link")
    if sha256_file(blob) != sha:
        fail(f"{path}: content does not match its SHA-256")
    kind = check_etag(os.path.basename(blob), blob, sha, kind, f"blob of {path}")
    if os.path.exists(os.path.join(repo_dir, ".no_exist", commit, *path.split("/"))):
        fail(f"{path}: also recorded as missing in .no_exist/{commit}")
    check_blob_mode(blob, cache_dir)
    return {"blob": os.path.relpath(blob, repo_dir), "etag": kind}


def check_downloads(cache_dir, repo, rtype, revision, commit, files):
    """hf_hub_download / try_to_load_from_cache / snapshot_download, by name and by commit."""
    from huggingface_hub import hf_hub_download, snapshot_download, try_to_load_from_cache

    snapshot = os.path.join(cache_dir, repo_dir_name(repo, rtype), "snapshots", commit)
    common = {"repo_type": rtype, "cache_dir": cache_dir}
    for rev in dict.fromkeys([revision, commit]):
        for path, (sha, _) in files.items():
            want = os.path.join(snapshot, *path.split("/"))
            got = hf_hub_download(repo, path, revision=rev, local_files_only=True, **common)
            if got != want or sha256_file(got) != sha:
                fail(f"hf_hub_download({path!r}, revision={rev!r}) gave {got}, want {want}")
            got = try_to_load_from_cache(repo, path, revision=rev, **common)
            if got != want:
                fail(f"try_to_load_from_cache({path!r}, revision={rev!r}) gave {got!r}")
        got = snapshot_download(repo, revision=rev, local_files_only=True, **common)
        if got != snapshot:
            fail(f"snapshot_download(revision={rev!r}) gave {got}, want {snapshot}")


def check_scan(cache_dir, repo, rtype, revision, commit, files):
    """scan_cache_dir: no warning, the repo, its revision, refs and files as expected."""
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(cache_dir)
    if info.warnings:
        fail(f"scan_cache_dir warnings: {[str(w) for w in info.warnings]}")
    repo_dir = os.path.join(cache_dir, repo_dir_name(repo, rtype))
    incomplete = [str(f.file_path) for f in info.incomplete_files if str(f.file_path).startswith(repo_dir)]
    if incomplete:
        fail(f"incomplete files left: {incomplete}")
    found = [r for r in info.repos if r.repo_id == repo and r.repo_type == rtype]
    if len(found) != 1:
        fail(f"scan_cache_dir does not list {rtype} {repo}")
    revisions = {r.commit_hash: r for r in found[0].revisions}
    if commit not in revisions:
        fail(f"scan_cache_dir lists no revision {commit}")
    rev = revisions[commit]
    if not COMMIT.fullmatch(revision) and revision not in rev.refs:
        fail(f"scan_cache_dir: ref {revision} not on {commit} (refs {sorted(rev.refs)})")
    listed = {os.path.relpath(f.file_path, rev.snapshot_path).replace(os.sep, "/") for f in rev.files}
    missing = set(files) - listed
    if missing:
        fail(f"scan_cache_dir: files missing from the snapshot: {sorted(missing)}")
    return {"revisions": len(revisions), "files_in_snapshot": len(listed)}


def check_tree_cache(repo, rtype, commit, files, **where):
    """`trees/<commit>.json` is optional; when present, huggingface_hub must read it and it must
    list every expected file with its size (snapshot_download's completeness check uses it)."""
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        tree = get_cached_repo_tree(repo, repo_type=rtype, revision=commit, **where)
    except CachedRepoTreeNotFoundError:
        return "absent"
    sizes = {f.path: f.size for f in tree}
    for path, size in files.items():
        if sizes.get(path) != size:
            fail(f"trees/{commit}.json: {path} has size {sizes.get(path)}, the file {size}")
    return "present"


def repo_dir_name(repo, rtype):
    return f"{rtype}s--{repo.replace('/', '--')}"


def check_transformers(cache_dir, repo, revision, files):
    """transformers' from_pretrained offline (model repos only)."""
    from transformers import AutoConfig, AutoTokenizer

    loaded = {}
    opts = {"revision": revision, "cache_dir": cache_dir, "local_files_only": True}
    if "config.json" in files:
        loaded["config"] = AutoConfig.from_pretrained(repo, **opts).model_type
    if "tokenizer.json" in files or "tokenizer_config.json" in files:
        tok = AutoTokenizer.from_pretrained(repo, **opts)
        loaded["tokens"] = len(tok("a verified chunk")["input_ids"])
    if not loaded:
        fail("--transformers: neither config.json nor tokenizer files among the expected files")
    return loaded


def check_metadata(local_dir, path, sha, kind):
    """`.cache/huggingface/download/<path>.metadata`: commit, etag, timestamp (one per line)."""
    meta = os.path.join(local_dir, ".cache", "huggingface", "download", *path.split("/")) + ".metadata"
    if not os.path.isfile(meta):
        fail(f"{meta} missing (hf download --local-dir writes one per file)")
    with open(meta) as f:
        text = f.read()
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "" or not COMMIT.fullmatch(lines[0]):
        fail(f"{meta}: want 'COMMIT\\nETAG\\nTIMESTAMP\\n', got {text!r}")
    file = os.path.join(local_dir, *path.split("/"))
    check_etag(lines[1], file, sha, kind, f"{meta} etag")
    try:
        stamp = float(lines[2])
    except ValueError:
        fail(f"{meta}: timestamp {lines[2]!r} is not a number")
    if os.stat(file).st_mtime - 1 > stamp:
        fail(f"{meta}: timestamp older than the file: huggingface_hub would hash it again")
    return lines[0]


def check_local_dir(local_dir, repo, rtype, revision, files):
    from huggingface_hub import hf_hub_download

    commits = set()
    for path, (sha, kind) in files.items():
        file = os.path.join(local_dir, *path.split("/"))
        if os.path.islink(file) or not os.path.isfile(file):
            fail(f"{file}: not a regular file")
        if sha256_file(file) != sha:
            fail(f"{path}: content does not match its SHA-256")
        mode = stat.S_IMODE(os.stat(file).st_mode)
        if mode != 0o666 & ~umask():
            fail(f"{file}: mode {mode:o}, huggingface_hub writes {0o666 & ~umask():o}")
        commits.add(check_metadata(local_dir, path, sha, kind))
    if len(commits) != 1 or (COMMIT.fullmatch(revision) and commits != {revision}):
        fail(f"metadata commits {sorted(commits)} for revision {revision}")
    commit = commits.pop()
    for path in files:
        # By commit: huggingface_hub trusts the metadata and returns the file, silently.
        got = hf_hub_download(
            repo, path, repo_type=rtype, revision=commit, local_dir=local_dir, local_files_only=True
        )
        if os.path.realpath(got) != os.path.realpath(os.path.join(local_dir, *path.split("/"))):
            fail(f"hf_hub_download({path!r}, local_dir) gave {got}")
    sizes = {p: os.path.getsize(os.path.join(local_dir, *p.split("/"))) for p in files}
    tree = check_tree_cache(repo, rtype, commit, sizes, local_dir=local_dir)
    return {"commit": commit, "tree_cache": tree}


def check_cache(cache_dir, repo, rtype, revision, files, transformers):
    repo_dir = os.path.join(cache_dir, repo_dir_name(repo, rtype))
    if not os.path.isdir(repo_dir):
        fail(f"{repo_dir} missing")
    commit = resolve_commit(repo_dir, revision)
    check_blobs_dir(repo_dir)
    blobs = {p: check_snapshot_file(cache_dir, repo_dir, commit, p, sha, kind) for p, (sha, kind) in files.items()}
    check_downloads(cache_dir, repo, rtype, revision, commit, files)
    scan = check_scan(cache_dir, repo, rtype, revision, commit, files)
    sizes = {p: os.path.getsize(os.path.join(repo_dir, "snapshots", commit, *p.split("/"))) for p in files}
    result = {"commit": commit, "files": blobs, "scan": scan}
    result["tree_cache"] = check_tree_cache(repo, rtype, commit, sizes, cache_dir=cache_dir)
    if transformers:
        if rtype != "model":
            fail("--transformers applies to model repos")
        result["transformers"] = check_transformers(cache_dir, repo, revision, files)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--local-dir", action="store_true", help="the first argument is a --local-dir target")
    p.add_argument("--transformers", action="store_true")
    p.add_argument("dir")
    p.add_argument("repo_id")
    p.add_argument("repo_type", choices=["model", "dataset", "space"])
    p.add_argument("revision")
    p.add_argument("files", nargs="+", metavar="PATH=SHA256[:lfs|:git]")
    a = p.parse_args()
    files = parse_files(a.files)
    directory = os.path.abspath(a.dir)
    if a.transformers:
        # Its import warns that PyTorch is absent: about this venv, not about the cache.
        import transformers  # noqa: F401
    watch_warnings()
    if a.local_dir:
        result = check_local_dir(directory, a.repo_id, a.repo_type, a.revision, files)
    else:
        result = check_cache(directory, a.repo_id, a.repo_type, a.revision, files, a.transformers)
    done({"ok": True, **result})


if __name__ == "__main__":
    main()
