"""Private temporary folders (the live ring, drill-down's capture) that outlive no tuimon.

A tuimon removes its folders when it ends; one that is killed (SIGKILL, the OOM killer, a
power cut on a tmpfs-less /tmp) cannot. So each folder is named after its process
(``tuimon-ring-PID-xxxxxx``), and making a new one first removes this user's folders of
that kind whose process is gone. A folder of a process that still runs is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def scratch_folder(kind: str, base: str | None = None) -> str:
    """A new private folder ``tuimon-KIND-PID-*`` (after sweeping the dead ones' away)."""
    sweep(kind, base)
    return tempfile.mkdtemp(prefix=f"tuimon-{kind}-{os.getpid()}-", dir=base)


def sweep(kind: str, base: str | None = None) -> list[str]:
    """Remove the folders of ``kind`` left by processes that are gone; return them."""
    base = base or tempfile.gettempdir()
    prefix = f"tuimon-{kind}-"
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(prefix):].split("-", 1)[0] if entry.name.startswith(prefix) else ""
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or \
                    entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True
