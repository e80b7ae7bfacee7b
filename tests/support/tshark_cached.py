"""tshark for the labeller of the in-process UI tests, its answers cached per test session.

``python tshark_cached.py TSHARK ARGS...`` reads all of its input (the pcapng frames the
labeller sends), then writes what ``TSHARK ARGS...`` answers for that input: from
TUIMON_TSHARK_CACHE (the session's folder of tshark's answers, tests/conftest.py, kept as
:func:`tests.support.oracle.cached` keeps the oracle's) when the same command was given
the same bytes before, else from the real tshark, kept there. The answers are tshark's
own, byte for byte; only the second and later runs of the same input skip tshark's
start-up (about 0.7 s each: 48 UI tests build the same finished session).

Only for playbacks run to their end in the test's process (tests/support/app.py): it
answers once its input has ended, so a live capture, whose labeller reads verdicts while
it sends frames, keeps the real tshark.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.support.oracle import cached  # noqa: E402


def main(argv: list[str]) -> int:
    data = sys.stdin.buffer.read()
    folder = os.environ.get("TUIMON_TSHARK_CACHE")
    if not folder:
        return subprocess.run(argv, input=data, stdout=sys.stdout.buffer).returncode

    def run() -> tuple[bytes, bool]:
        done = subprocess.run(argv, input=data, stdout=subprocess.PIPE)
        return done.stdout, done.returncode == 0

    digest = hashlib.sha256(json.dumps(argv).encode())
    digest.update(data)
    sys.stdout.buffer.write(cached(os.path.join(folder, "labeller-" + digest.hexdigest()), run))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
