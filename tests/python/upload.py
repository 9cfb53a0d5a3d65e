"""Uploads through Xet with the official client: create_repo, upload_file, upload_folder.

usage: upload.py REPO SOURCE_DIR FILE [FILE...]

Each FILE (relative to SOURCE_DIR) is sent with upload_file; then the folder SOURCE_DIR/folder
is sent with upload_folder into `folder/` of the repo.
"""

import hashlib
import os
import sys

from common import done, fail, sha256_file
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError


def main():
    repo, source, singles = sys.argv[1], sys.argv[2], sys.argv[3:]
    api = HfApi()
    url = api.create_repo(repo)
    # Creating it again must fail unless exist_ok (the server answers 409 with the url).
    try:
        api.create_repo(repo)
        fail("second create_repo succeeded")
    except Exception as e:  # noqa: BLE001 - any HTTP error is the expected outcome
        if "409" not in str(e) and "Conflict" not in str(e):
            fail(f"second create_repo raised {e!r}, expected a 409")
    api.create_repo(repo, exist_ok=True)
    commits = []
    for rel in singles:
        info = api.upload_file(path_or_fileobj=os.path.join(source, rel), path_in_repo=rel, repo_id=repo)
        commits.append(info.oid)
    info = api.upload_folder(folder_path=os.path.join(source, "folder"), path_in_repo="folder", repo_id=repo)
    commits.append(info.oid)
    if len(set(commits)) != len(commits):
        fail(f"commits are not distinct: {commits}")

    # A pull request through Xet (the write token URL is literally `xet-write-token/None?create_pr=1`).
    pr_bytes = bytes(range(256)) * 400
    pr = api.upload_file(path_or_fileobj=pr_bytes, path_in_repo="pr.bin", repo_id=repo, create_pr=True)
    if not pr.pr_revision:
        fail(f"no pull request revision in {pr!r}")
    local = hf_hub_download(repo, "pr.bin", revision=pr.pr_revision)
    if sha256_file(local) != hashlib.sha256(pr_bytes).hexdigest():
        fail("pr.bin: wrong bytes on the pull request revision")
    try:
        hf_hub_download(repo, "pr.bin")
        fail("pr.bin is on main too")
    except EntryNotFoundError:
        pass
    done({"repo_url": str(url), "commits": commits, "pr_revision": pr.pr_revision})


if __name__ == "__main__":
    main()
