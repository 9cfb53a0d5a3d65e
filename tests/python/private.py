"""A private repo: refused without a token, downloadable with the right one.

usage: private.py REPO PATH SHA256 TOKEN
"""

import sys

from common import done, fail, sha256_file
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError


def main():
    repo, path, sha256, token = sys.argv[1:5]
    try:
        hf_hub_download(repo, path, token=False)
        fail("download without a token succeeded")
    except HfHubHTTPError as e:
        refused = {"error": type(e).__name__, "status": e.response.status_code}
    try:
        hf_hub_download(repo, path, token="hf_not_a_valid_token")
        fail("download with a wrong token succeeded")
    except HfHubHTTPError as e:
        wrong = {"error": type(e).__name__, "status": e.response.status_code}
    local = hf_hub_download(repo, path, token=token)
    if sha256_file(local) != sha256:
        fail(f"{path}: wrong bytes")
    done({"no_token": refused, "wrong_token": wrong, "ok": True})


if __name__ == "__main__":
    main()
