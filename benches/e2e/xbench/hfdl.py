"""`hf_hub_download` (huggingface_hub + hf_xet) of one file into a fresh HF_HOME, timed inside
the process (interpreter start-up and imports excluded). Prints one JSON line.

Usage: python -m xbench.hfdl REPO FILENAME   (HF_ENDPOINT and HF_HOME from the environment)
"""

import json
import os
import resource
import sys
import time

from huggingface_hub import hf_hub_download


def main():
    repo, filename = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    path = hf_hub_download(repo, filename)
    secs = time.perf_counter() - t0
    print(json.dumps({
        "seconds": secs,
        "bytes": os.path.getsize(path),
        "path": path,
        # Linux reports ru_maxrss in KiB.
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
