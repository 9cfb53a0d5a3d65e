"""Times the official client against a running `xetfs serve` (driven by serve_clients.sh).

usage: serve_clients.py download REPO PATH   one hf_hub_download (HF_HOME from the environment)
       serve_clients.py xorb REPO PATH       print a presigned xorb URL and its Range
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def download(repo, path):
    from huggingface_hub import hf_hub_download

    t = time.perf_counter()
    local = hf_hub_download(repo, path)
    secs = time.perf_counter() - t
    size = os.path.getsize(local)
    print(f"hf_hub_download: {size / 1e6:.0f} MB in {secs:.2f} s = {size / secs / 1e6:.0f} MB/s (client-side)")


def xorb(repo, path):
    endpoint = os.environ["HF_ENDPOINT"]
    req = urllib.request.Request(f"{endpoint}/{repo}/resolve/main/{path}", method="HEAD")
    try:
        urllib.request.build_opener(NoRedirect).open(req)
        raise SystemExit("expected a redirect for a Xet file")
    except urllib.error.HTTPError as e:
        xet_hash = e.headers["X-Xet-Hash"]
    token = json.load(urllib.request.urlopen(f"{endpoint}/api/models/{repo}/xet-read-token/main"))
    rec = json.load(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{token['casUrl']}/v2/reconstructions/{xet_hash}",
                headers={"Authorization": f"Bearer {token['accessToken']}"},
            )
        )
    )
    fetch = rec["xorbs"][rec["terms"][0]["hash"]][0]
    b = fetch["ranges"][0]["bytes"]
    print(f"{fetch['url']} bytes={b['start']}-{b['end']}")


if __name__ == "__main__":
    {"download": download, "xorb": xorb}[sys.argv[1]](sys.argv[2], sys.argv[3])
