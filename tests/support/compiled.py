"""Compiled code shared by the processes of one test session.

A session runs the same Python code in many processes: the xdist workers, each of which
imports every test module (pytest rewrites each module's asserts, then compiles it) and
tuimon, and a few hundred tuimon processes, engine processes and helpers started by the
tests. Python keeps compiled code in ``__pycache__`` so that only the first process
compiles; with ``PYTHONDONTWRITEBYTECODE`` set (as in the sandbox these tests run in)
nothing is kept: every worker rewrote and compiled every test module (3.7 of the 4.4
CPU-seconds a worker took to start) and every tuimon process compiled what it imports
(0.15 CPU-seconds each).

:func:`prewarm`, called by the controlling process before the xdist workers start:
tuimon and the test helpers are compiled, and the test modules rewritten as each worker
would rewrite them (pytest's own functions, the same configuration), once, into their
``__pycache__`` folders; the workers and every process they start read them there
(Python reads cached code whether or not it may write it). With writing turned off, the
files it made are removed at the end of the session (:func:`release`), as that setting
asks.

Only the speed depends on it: a process reads a cached file only while its source's time
and size are unchanged, else compiles as before; anything that fails here is left to each
process, as without it.
"""

from __future__ import annotations

import compileall
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def prewarm(config) -> list[Path]:
    """Compile and rewrite, once; returns the files made that the session should remove
    at its end (those it would not have kept itself)."""
    made: list[Path] = []
    try:
        _compile(made)
        _rewrite(config, made)
    except Exception:  # noqa: BLE001 - a speed-up only: each process compiles as before
        pass
    return made if sys.dont_write_bytecode else []


def release(made: list[Path]) -> None:
    for path in made:
        try:
            path.unlink()
            path.parent.rmdir()  # the __pycache__ folder, once it is empty
        except OSError:
            pass


def _compile(made: list[Path]) -> None:
    tests = ROOT / "tests"
    sources = {*(ROOT / "tuimon").rglob("*.py"), *(tests / "support").rglob("*.py"),
               *tests.rglob("__init__.py")}  # (test modules are rewritten: below)
    for source in sorted(sources):
        pyc = Path(importlib.util.cache_from_source(str(source)))
        existed = pyc.exists()
        if compileall.compile_file(str(source), quiet=2) and not existed and pyc.exists():
            made.append(pyc)


def _rewrite(config, made: list[Path]) -> None:
    from _pytest.assertion.rewrite import (PYC_TAIL, _read_pyc, _rewrite_test, _write_pyc,
                                           assertstate_key, get_cache_dir, try_makedirs)

    state = config.stash.get(assertstate_key, None)
    if state is None:  # --assert=plain: nothing is rewritten
        return
    tests = ROOT / "tests"
    # what pytest rewrites here: the test modules, the conftest files and the plugins that
    # tests/conftest.py names in pytest_plugins
    for path in sorted({*tests.rglob("test_*.py"), *tests.rglob("conftest.py"),
                        tests / "support" / "netns.py", tests / "support" / "echo.py"}):
        cache = get_cache_dir(path)
        pyc = cache / (path.name[:-3] + PYC_TAIL)
        if _read_pyc(path, pyc) is not None or not try_makedirs(cache):
            continue
        source_stat, code = _rewrite_test(path, config)
        if _write_pyc(state, code, source_stat, pyc):
            made.append(pyc)
