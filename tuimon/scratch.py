"""Private temporary folders (the live ring, drill-down's capture) and files (a save's
temporary CSV files) that outlive no tuimon.

A tuimon removes its folders and files when it ends; one that is killed (SIGKILL, the OOM
killer, a power cut on a tmpfs-less /tmp) cannot. So each is named after its process
(``tuimon-ring-PID-xxxxxx``, ``.conversations.csv.PID.xxxxxx.tmp``), and making a new one
first removes this user's folders of that kind (or files of those names) whose process is
gone. What a process that still runs made is never touched, nor a name without a pid.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
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


def sweep_files(folder: str, names: re.Pattern) -> list[str]:
    """Remove the files in ``folder`` whose whole name matches ``names`` (a pattern with a
    group ``pid``) when that process is gone and this user owns them; return them. Only
    regular files: a link or a folder of that name is left alone."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = names.fullmatch(entry.name)
        if match is None:
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process (or no pid at all): leave it
        return True
    return True
