"""Uploads through Xet with the official client: create_repo, upload_file, upload_folder.

usage: upload.py REPO SOURCE_DIR FILE [FILE...]

Each FILE (relative to SOURCE_DIR) is sent with upload_file; then the folder SOURCE_DIR/folder
is sent with upload_folder into `folder/` of the repo.
"""

import os
import sys

from common import done, fail
from huggingface_hub import HfApi


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
    done({"repo_url": str(url), "commits": commits})


if __name__ == "__main__":
    main()
