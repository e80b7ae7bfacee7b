"""tshark for the labeller of the in-process UI tests, its answers cached per test session.

``python tshark_cached.py TSHARK ARGS...`` reads all of its input (the pcapng frames the
labeller sends), then writes what ``TSHARK ARGS...`` answers for that input: from
TUIMON_TSHARK_CACHE (the session's folder of tshark's answers, tests/conftest.py) when the
same command was given the same bytes before, else from the real tshark, kept there. The
answers are tshark's own, byte for byte; only the second and later runs of the same input
skip tshark's start-up (about 0.7 s each: 48 UI tests build the same finished session).

Only for playbacks run to their end in the test's process (tests/support/app.py): it
answers once its input has ended, so a live capture, whose labeller reads verdicts while
it sends frames, keeps the real tshark.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    data = sys.stdin.buffer.read()
    folder = os.environ.get("TUIMON_TSHARK_CACHE")
    if not folder:
        return subprocess.run(argv, input=data, stdout=sys.stdout.buffer).returncode
    digest = hashlib.sha256(json.dumps(argv).encode())
    digest.update(data)
    entry = os.path.join(folder, "labeller-" + digest.hexdigest())
    with open(f"{entry}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(entry, "rb") as f:
                out = f.read()
        except OSError:
            done = subprocess.run(argv, input=data, stdout=subprocess.PIPE)
            out = done.stdout
            if done.returncode == 0:
                temp = f"{entry}.{os.getpid()}"
                with open(temp, "wb") as f:
                    f.write(out)
                os.replace(temp, entry)
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
