"""Interfaces on the command line that would count frames twice are refused before
anything starts: 'any' beside others, an interface named twice (one line, exit 2)."""

from __future__ import annotations

import pytest

from tuimon.cli import main


@pytest.mark.parametrize("argv,says", [
    (["any", "uxa"], "'any' already captures every interface: with uxa beside it"),
    (["eth9", "any", "uxb"], "with eth9, uxb beside it"),
    (["eth9", "eth9"], "an interface is named twice"),
])
def test_interfaces_counted_twice_are_refused(argv, says, capsys):
    assert main([*argv, "--no-ui", "--duration", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and err.startswith("tuimon: ")
